import { type Page } from "@playwright/test";
import { expect, test } from "./fixtures";
import { password as adminPassword, signIn, signInAsAdmin, totp } from "./helpers";

/** The slug the console suggests for a tenant's name. */
function slugOf(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
}

async function createTenant(page: Page, name: string) {
  await page.goto("/tenants/new");
  await page.getByLabel("Name", { exact: true }).fill(name);
  await page.getByLabel("Tier").selectOption("standard");
  await page.getByRole("button", { name: "Create tenant" }).click();
  await expect(page.getByRole("heading", { name })).toBeVisible();
}

test("invite a tenant admin, who sets a password, enrols, signs in with a code and sees only their tenant", async ({ page, consoleErrors }, testInfo) => {
  const run = `${testInfo.project.name === "javascript" ? "js" : "nojs"}${Date.now().toString(36)}`;
  const name = `Portal ${run}`;
  const email = `owner-${run}@customer.example`;
  const chosen = "violet harbour lantern";
  await signInAsAdmin(page);
  await createTenant(page, `Other ${run}`);
  const otherSlug = `other-${run}`;
  await createTenant(page, name);

  await page.getByLabel("Invite an admin by e-mail").fill(email);
  await page.getByRole("button", { name: "Create invitation link" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Invitation created" }).first()).toBeVisible();
  const link = (await page.getByLabel("Invitation link").textContent())!.trim();
  expect(link).toMatch(/\/invite\/[0-9a-f]{64}$/);
  await expect(page.getByRole("region", { name: "Invitations" })).toContainText("pending");
  await page.getByRole("button", { name: "Sign out" }).click();

  // The invitee: a weak password first, then a good one.
  await page.goto(new URL(link).pathname);
  await expect(page.getByText(`You are invited to administer ${name} as ${email}.`)).toBeVisible();
  await page.getByLabel("Password", { exact: true }).fill("password12345");
  await page.getByLabel("Password again").fill("password12345");
  await page.getByRole("button", { name: "Create my account" }).click();
  await expect(page.getByText("This password is too easy to guess")).toBeVisible();
  await page.getByLabel("Password", { exact: true }).fill(chosen);
  await page.getByLabel("Password again").fill(chosen);
  await page.getByRole("button", { name: "Create my account" }).click();

  await expect(page.getByRole("heading", { name: "Set up two-factor authentication" })).toBeVisible();
  const secret = (await page.getByLabel("Secret").textContent())!.trim();
  await page.getByLabel("Code from the app").fill(totp(secret));
  await page.getByRole("button", { name: "Turn on two-factor authentication" }).click();
  await expect(page.getByRole("list", { name: "Recovery codes" }).getByRole("listitem")).toHaveCount(10);
  await page.getByRole("link", { name: "I have saved them: continue" }).click();
  await expect(page.getByRole("heading", { name })).toBeVisible();
  await expect(page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "My tenant" })).toBeVisible();
  await expect(page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Tenants" })).toHaveCount(0);
  // Their menu names each of their pages once, and none kept for platform staff.
  const theirs = ["My tenant", "Usage", "API keys", "Team", "Alerts", "Audit trail"];
  await expect(page.getByRole("navigation", { name: "Main" }).getByRole("link")).toHaveText(theirs);

  // Password and code again, after signing out.
  await page.getByRole("button", { name: "Sign out" }).click();
  await signIn(page, email, chosen);
  await page.getByLabel("Authentication code").fill(totp(secret, 1));
  await page.getByRole("button", { name: "Verify" }).click();
  await expect(page.getByRole("heading", { name })).toBeVisible();
  await expect(page.getByRole("region", { name: "Effective quotas" })).toContainText("2 cores");
  await page.screenshot({ path: testInfo.outputPath("portal.png"), fullPage: true });

  // Their team: themselves, and a colleague they invite.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Team" }).click();
  await expect(page.getByRole("region", { name: "Administrators" })).toContainText(email);
  await page.getByLabel("Invite an admin by e-mail").fill(`colleague-${run}@customer.example`);
  await page.getByRole("button", { name: "Create invitation link" }).click();
  await expect(page.getByLabel("Invitation link")).toBeVisible();
  await expect(page.getByRole("region", { name: "Invitations" })).toContainText(`colleague-${run}@customer.example`);

  // Their API keys: one made, shown once, used through the real nginx, revoked.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "API keys" }).click();
  await expect(page.getByRole("heading", { name: `API keys · ${name}` })).toBeVisible();
  await page.getByLabel("Name", { exact: true }).fill("checkout");
  await page.getByLabel("Calls a second (optional)").fill("5000");
  await page.getByRole("button", { name: "Create key" }).click();
  await expect(page.getByText("Give a burst with the rate.")).toBeVisible();
  await page.getByLabel("Burst (optional)").fill("10");
  await page.getByRole("button", { name: "Create key" }).click();
  await expect(page.getByText("The tenant's tier allows 50 calls a second")).toBeVisible();
  await expect(page.getByLabel("Name", { exact: true })).toHaveValue("checkout");
  await page.getByLabel("Calls a second (optional)").fill("");
  await page.getByLabel("Burst (optional)").fill("");
  await page.getByRole("button", { name: "Create key" }).click();
  const shown = page.getByLabel("New API key");
  await expect(shown).toHaveText(/^bk_live_[0-9a-f]{64}$/);
  const key = (await shown.textContent())!.trim();
  const row = page.getByRole("row").filter({ hasText: "checkout" });
  await expect(row).toContainText("in force");
  await page.screenshot({ path: testInfo.outputPath("keys.png"), fullPage: true });
  await page.reload();
  await expect(page.getByLabel("New API key")).toHaveCount(0);

  const edge = process.env.BULKHEAD_E2E_EDGE_URL;
  if (edge) {
    const call = (headers: Record<string, string>) => page.request.get(`${edge}/v1/orders`, { headers, failOnStatusCode: false });
    const passed = await call({ "X-API-Key": key });
    expect(passed.status()).toBe(200);
    expect(await passed.text()).toContain(`tenant=${slugOf(name)}`);
    expect((await call({})).status(), "a stranger is refused at the edge").toBe(401);
    await row.getByText("Revoke checkout", { exact: true }).click();
    await row.getByRole("button", { name: "Revoke checkout now" }).click();
    await expect(page.getByRole("status").filter({ hasText: "Key revoked" })).toBeVisible();
    const revokedAt = Date.now();
    await expect(async () => expect((await call({ "X-API-Key": key })).status()).toBe(401)).toPass({ timeout: 1000, intervals: [50] });
    expect(Date.now() - revokedAt).toBeLessThan(1000);
  } else {
    await row.getByText("Revoke checkout", { exact: true }).click();
    await row.getByRole("button", { name: "Revoke checkout now" }).click();
    await expect(page.getByRole("status").filter({ hasText: "Key revoked" })).toBeVisible();
  }
  await expect(page.getByRole("row").filter({ hasText: "checkout" })).toContainText("revoked");

  // Another tenant's address shows nothing of it, and answers 404.
  consoleErrors.allow(/status of 404/);
  const other = await page.goto(`/tenants/${otherSlug}`);
  expect(other?.status()).toBe(404);
  await expect(page.getByText("Not found.")).toBeVisible();
  await expect(page.getByRole("heading", { name: `Other ${run}` })).toHaveCount(0);

  // The trail is theirs: the invitation and their joining are in it.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Audit trail" }).click();
  const trail = page.getByRole("region", { name: "Audit events" });
  await expect(trail.getByRole("row").filter({ hasText: "tenant.admin_joined" })).toHaveCount(1);
  // Their own invitation by the platform, and the colleague's by them.
  await expect(trail.getByRole("row").filter({ hasText: "tenant.admin_invited" })).toHaveCount(2);
  await expect(trail.getByRole("row").filter({ hasText: "key.created" })).toHaveCount(1);
  await expect(trail.getByRole("row").filter({ hasText: "key.revoked" })).toHaveCount(1);
  expect(adminPassword).not.toBe("");
});
