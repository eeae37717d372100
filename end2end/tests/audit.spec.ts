import { expect, test } from "./fixtures";
import { readFile } from "node:fs/promises";
import { signInAsAdmin } from "./helpers";

test("find a tier change in the trail, read its before and after, export what the filter shows", async ({ page }, testInfo) => {
  const name = `Audited ${testInfo.project.name} ${Date.now().toString(36)}`;
  const slug = name.toLowerCase().replace(/ /g, "-");
  await signInAsAdmin(page);
  await page.goto("/tenants/new");
  await page.getByLabel("Name", { exact: true }).fill(name);
  await page.getByLabel("Tier").selectOption("free");
  await page.getByRole("button", { name: "Create tenant" }).click();
  await expect(page.getByRole("heading", { name })).toBeVisible();
  await page.getByLabel("New tier").selectOption("standard");
  await page.getByRole("button", { name: "Preview the change" }).click();
  await page.getByRole("button", { name: "Move to Standard" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Tier changed." })).toBeVisible();

  // Filter the trail by this tenant and the action, with the form.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Audit trail" }).click();
  await expect(page.getByRole("heading", { name: "Audit trail" })).toBeVisible();
  const filters = page.getByRole("search", { name: "Filter audit events" });
  await filters.getByLabel("Tenant").fill(slug);
  await filters.getByLabel("Action").selectOption("tenant.tier_changed");
  await filters.getByRole("button", { name: "Apply" }).click();
  await expect(page).toHaveURL(new RegExp(`tenant=${slug}.*action=tenant.tier_changed`));
  const table = page.getByRole("region", { name: "Audit events" });
  await expect(table.getByRole("row")).toHaveCount(2);
  await expect(table.getByRole("row").nth(1)).toContainText("tenant.tier_changed");
  await expect(filters.getByLabel("Tenant")).toHaveValue(slug);
  await page.screenshot({ path: testInfo.outputPath("audit-trail.png"), fullPage: true });

  // The filtered view is an address: opening it again gives the same rows.
  const address = page.url();
  await page.goto("/audit");
  await page.goto(address);
  await expect(table.getByRole("row")).toHaveCount(2);

  // Export exactly what the filter shows.
  const downloading = page.waitForEvent("download");
  await page.getByRole("link", { name: "Export CSV" }).click();
  const download = await downloading;
  const csv = await readFile(await download.path(), "utf8");
  const lines = csv.trim().split("\r\n");
  expect(lines[0]).toMatch(/^id,occurred_at,/);
  expect(lines).toHaveLength(2);
  expect(lines[1]).toContain(`,${slug},tenant.tier_changed,`);

  // Open the event: who, when, and the tier before and after.
  await table.getByRole("link", { name: /^Event \d+$/ }).click();
  await expect(page.getByRole("heading", { name: /^Event #\d+$/ })).toBeVisible();
  const changes = page.getByRole("region", { name: "Values before and after" });
  const tierRow = changes.getByRole("row", { name: /^tier / });
  await expect(tierRow).toContainText("free");
  await expect(tierRow).toContainText("standard");
  await expect(tierRow).toContainText("changed");
  await expect(page.getByText("e2e-admin@example.com").first()).toBeVisible();
  await page.screenshot({ path: testInfo.outputPath("audit-event.png"), fullPage: true });
});

test("bad filters are named next to their field", async ({ page }) => {
  await signInAsAdmin(page);
  await page.goto("/audit?tenant=no-such-tenant-here&from=2026-02-30");
  const filters = page.getByRole("search", { name: "Filter audit events" });
  await expect(filters.getByText("A date as YYYY-MM-DD.")).toBeVisible();
  await expect(filters.getByLabel("From (UTC)")).toHaveAttribute("aria-invalid", "true");
  await page.goto("/audit?tenant=no-such-tenant-here");
  await expect(filters.getByText("No tenant has this slug.")).toBeVisible();
  await expect(page.getByRole("alert").filter({ hasText: "Correct the filters" })).toBeVisible();
});

test("verify the chain from the console", async ({ page }, testInfo) => {
  await signInAsAdmin(page);
  await page.goto("/audit");
  await page.getByRole("link", { name: "Verify the chain" }).click();
  await page.getByRole("button", { name: "Verify now" }).click();
  await expect(page.getByRole("status").filter({ hasText: /^Intact: [\d,]+ events checked/ })).toBeVisible();
  await page.screenshot({ path: testInfo.outputPath("audit-verify.png"), fullPage: true });
});

test("the trail is readable at 375 px wide", async ({ page }, testInfo) => {
  await signInAsAdmin(page);
  await page.setViewportSize({ width: 375, height: 740 });
  await page.goto("/audit");
  await expect(page.getByRole("region", { name: "Audit events" })).toBeVisible();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await page.screenshot({ path: testInfo.outputPath("audit-375.png"), fullPage: true });
});
