import { expect, test } from "./fixtures";
import { signInAsAdmin, totp } from "./helpers";

const healthPort = process.env.BULKHEAD_E2E_HEALTH_PORT || "9";

/** Fills the checklist's configuration and saves it. */
async function configure(page, domain: string, health: string) {
  await page.getByLabel("Dedicated domain").fill(domain);
  await page.getByLabel("Dedicated upstream").fill("http://10.0.0.9:8080");
  await page.getByLabel("Health URL").fill(health);
  await page.getByRole("button", { name: "Save configuration" }).click();
}

/** Runs the step named `label` and waits for "Step passed." */
async function pass(page, label: string) {
  await page.getByRole("button", { name: label }).click();
  await expect(page.getByRole("status").filter({ hasText: "Step passed." })).toBeVisible();
}

test("take a tenant from level 2 to 3 through every step; a failing step keeps its reason and is offered again", async ({ page }, testInfo) => {
  const run = `${testInfo.project.name === "javascript" ? "js" : "nojs"}${Date.now().toString(36)}`;
  const domain = `vault-${run}.dedicated.e2e.test`;
  await signInAsAdmin(page);
  await page.goto("/tenants/new");
  await page.getByLabel("Name", { exact: true }).fill(`Vault ${run}`);
  await page.getByLabel("Tier").selectOption("premium");
  await page.getByLabel("Isolation level").selectOption("2");
  await page.getByRole("button", { name: "Create tenant" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Tenant created." })).toBeVisible();
  // At level 2 its namespace is rendered and checked; the page says so and offers the manifests.
  await expect(page.getByRole("heading", { name: "Namespace", exact: true })).toBeVisible();
  await expect(page.getByText("keep their invariants as written")).toBeVisible();
  await expect(page.getByRole("link", { name: "Download the manifests" })).toBeVisible();

  await page.getByLabel("Isolation level", { exact: true }).selectOption("3");
  await page.getByRole("button", { name: "Change isolation level" }).click();
  await expect(page.getByText("Isolation level 3 recorded")).toBeVisible();
  await page.getByRole("link", { name: "Activation checklist" }).click();
  await expect(page.getByRole("heading", { name: "Activation checklist" })).toBeVisible();
  await expect(page.getByRole("list", { name: "Steps" }).getByRole("listitem")).toHaveCount(5);

  // Bad input: the message next to the field.
  await configure(page, "https://not a domain", "http://127.0.0.1:9/healthz");
  await expect(page.getByText("A domain only: no scheme, port or path.")).toBeVisible();

  // A health URL nobody answers: the apply step fails with its reason, and is offered again.
  await configure(page, domain, "http://127.0.0.1:9/healthz");
  await expect(page.getByText("Configuration saved")).toBeVisible();
  await pass(page, "Render the deployment");
  await expect(page.getByRole("link", { name: /\.k8s\.yaml$/ })).toBeVisible();
  await pass(page, "Validate the manifests, DNS and TLS");
  await page.getByLabel("I applied the rendered manifests to the cluster").check();
  await page.getByRole("button", { name: "Apply, and check the dedicated API's health" }).click();
  await expect(page.getByRole("alert").filter({ hasText: "cannot be reached" })).toBeVisible();
  await expect(page.getByRole("heading", { name: "Try the step again" })).toBeVisible();
  await page.screenshot({ path: testInfo.outputPath("activation-failed.png"), fullPage: true });

  // Corrected: every step again, for real, then the switch.
  await configure(page, domain, `http://127.0.0.1:${healthPort}/healthz`);
  await expect(page.getByText("Configuration saved")).toBeVisible();
  await pass(page, "Render the deployment");
  await pass(page, "Validate the manifests, DNS and TLS");
  await page.getByLabel("I applied the rendered manifests to the cluster").check();
  await pass(page, "Apply, and check the dedicated API's health");
  await pass(page, "Verify the isolation");
  await expect(page.getByLabel("Redis password")).toBeVisible();
  await expect(page.getByRole("heading", { name: "Integrity report" })).toBeVisible();
  await page.getByRole("button", { name: "Switch the routing to the dedicated instance" }).click();
  await expect(page.getByText("The tenant runs on its dedicated instance")).toBeVisible();
  await expect(page.getByText("Active: running dedicated")).toBeVisible();
  const download = page.waitForEvent("download");
  await page.getByRole("link", { name: "Download the signed report" }).click();
  expect((await download).suggestedFilename()).toMatch(/isolation-report\.json$/);
  await page.screenshot({ path: testInfo.outputPath("activation-active.png"), fullPage: true });

  // The tenant's own admin joins, reads the checklist (running nothing) and downloads the report.
  await page.getByRole("link", { name: "Back to the tenant" }).click();
  await page.getByLabel("Invite an admin by e-mail").fill(`owner-${run}@vault.example`);
  await page.getByRole("button", { name: "Create invitation link" }).click();
  const link = (await page.getByLabel("Invitation link").textContent())!.trim();
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.goto(new URL(link).pathname);
  const chosen = "amber quarry whistle kettle";
  await page.getByLabel("Password", { exact: true }).fill(chosen);
  await page.getByLabel("Password again").fill(chosen);
  await page.getByRole("button", { name: "Create my account" }).click();
  const secret = (await page.getByLabel("Secret").textContent())!.trim();
  await page.getByLabel("Code from the app").fill(totp(secret));
  await page.getByRole("button", { name: "Turn on two-factor authentication" }).click();
  await page.getByRole("link", { name: "I have saved them: continue" }).click();
  await page.getByRole("link", { name: "Activation checklist" }).click();
  await expect(page.getByText("Active: running dedicated")).toBeVisible();
  await expect(page.getByRole("button", { name: "Save configuration" })).toHaveCount(0);
  const theirs = page.waitForEvent("download");
  await page.getByRole("link", { name: "Download the signed report" }).click();
  expect((await theirs).suggestedFilename()).toMatch(/isolation-report\.json$/);

  // Deleted: the dedicated instance is taken down, observed, and the operator's list signed.
  await page.getByRole("button", { name: "Sign out" }).click();
  await signInAsAdmin(page);
  const slug = `vault-${run}`;
  await page.goto(`/tenants/${slug}`);
  await page.getByLabel("Type the slug to confirm deletion").fill(slug);
  await page.getByRole("button", { name: "Delete tenant" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Tenant deleted." })).toBeVisible();
  await page.goto(`/tenants/${slug}`);
  await expect(page.getByRole("heading", { name: "Dedicated instance teardown" })).toBeVisible();
  // The background work runs every few seconds.
  await expect(async () => {
    await page.reload();
    await expect(page.getByRole("link", { name: "Download the signed teardown statement" })).toBeVisible({ timeout: 1000 });
  }).toPass({ timeout: 30000 });
  await expect(page.getByRole("region", { name: "What the operator must remove" })).toContainText(`kubectl delete namespace`);
  const statement = page.waitForEvent("download");
  await page.getByRole("link", { name: "Download the signed teardown statement" }).click();
  expect((await statement).suggestedFilename()).toMatch(/teardown\.json$/);
  await page.screenshot({ path: testInfo.outputPath("teardown.png"), fullPage: true });
});
