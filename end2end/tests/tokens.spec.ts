import { expect, test } from "./fixtures";
import { signInAsAdmin } from "./helpers";

test("make an API token, see it once, refuse a nameless one, revoke it", async ({ page }, testInfo) => {
  const name = `edge-${testInfo.project.name}-${Date.now().toString(36)}`;
  await signInAsAdmin(page);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "API tokens" }).click();
  await expect(page.getByRole("heading", { name: "API tokens" })).toBeVisible();

  await page.getByLabel("Name", { exact: true }).fill(name);
  await page.getByLabel(/usage reports/).check();
  await page.getByRole("button", { name: "Create token" }).click();
  const token = page.getByLabel("New API token");
  await expect(token).toHaveText(/^bkh_[0-9a-f]{64}$/);
  const row = page.getByRole("row").filter({ hasText: name });
  await expect(row).toContainText("routing, ingest");
  await expect(row).toContainText("in force");
  await page.screenshot({ path: testInfo.outputPath("tokens.png"), fullPage: true });

  await page.reload();
  await expect(page.getByLabel("New API token")).toHaveCount(0);

  await page.getByRole("button", { name: "Create token" }).click({ noWaitAfter: true });
  // The browser's own check refuses an empty required field; without it the server does.
  await expect(page.getByRole("row").filter({ hasText: name })).toHaveCount(1);

  await row.getByText(`Revoke ${name}`, { exact: true }).click();
  await row.getByRole("button", { name: `Revoke ${name} now` }).click();
  await expect(page.getByRole("status").filter({ hasText: "Token revoked" })).toBeVisible();
  await expect(page.getByRole("row").filter({ hasText: name })).toContainText("revoked");

  await page.setViewportSize({ width: 375, height: 800 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
});
