import { expect, test } from "./fixtures";
import { signInAsAdmin } from "./helpers";

test("create tenants on three tiers, then find one by search", async ({ page }, testInfo) => {
  const run = `${testInfo.project.name === "javascript" ? "js" : "nojs"}${Date.now().toString(36)}`;
  await signInAsAdmin(page);
  const tiers = [
    ["Free", "free"],
    ["Standard", "standard"],
    ["Enterprise", "enterprise"],
  ];
  for (const [label, id] of tiers) {
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Tenants" }).click();
    await page.getByRole("link", { name: "New tenant" }).click();
    await page.getByLabel("Name", { exact: true }).fill(`${label} Co ${run}`);
    await page.getByLabel("Tier").selectOption(id);
    await page.getByRole("button", { name: "Create tenant" }).click();
    await expect(page.getByRole("status").filter({ hasText: "Tenant created." })).toBeVisible();
    await expect(page.getByRole("heading", { name: `${label} Co ${run}` })).toBeVisible();
    await expect(page.getByText(`${label.toLowerCase()}-co-${run}`, { exact: true })).toBeVisible();
  }
  await page.goto("/tenants");
  await page.getByRole("searchbox", { name: "Search" }).fill(`standard co ${run}`);
  await page.getByRole("button", { name: "Apply" }).click();
  const table = page.getByRole("region", { name: "Tenants" });
  await expect(table.getByRole("link", { name: `Standard Co ${run}` })).toBeVisible();
  await expect(table.getByRole("row")).toHaveCount(2);
  await table.getByRole("link", { name: `Standard Co ${run}` }).click();
  await expect(page.getByRole("region", { name: "Effective quotas" })).toContainText("2 cores");
  await page.screenshot({ path: testInfo.outputPath("tenant.png"), fullPage: true });
});

test("bad input is shown next to the field and keeps what was typed", async ({ page }, testInfo) => {
  await signInAsAdmin(page);
  await page.goto("/tenants/new");
  await page.getByLabel("Name", { exact: true }).fill("Keeps Its Name");
  await page.getByLabel("Slug").fill("Bad Slug");
  await page.getByLabel("Tier").selectOption("free");
  await page.getByLabel("Isolation level").selectOption("3");
  await page.getByRole("button", { name: "Create tenant" }).click();
  await expect(page.getByText("Use only lowercase letters a–z, digits and hyphens (not capital letters).")).toBeVisible();
  await expect(page.getByText("The Free tier allows isolation level 1 only.")).toBeVisible();
  await expect(page.getByLabel("Name", { exact: true })).toHaveValue("Keeps Its Name");
  await expect(page.getByLabel("Slug")).toHaveAttribute("aria-invalid", "true");
  await page.screenshot({ path: testInfo.outputPath("new-tenant-errors.png"), fullPage: true });
});

test("the tier catalogue lists the four tiers side by side", async ({ page }) => {
  await signInAsAdmin(page);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Tiers" }).click();
  const table = page.getByRole("region", { name: "Tier catalogue" });
  for (const name of ["Free", "Standard", "Premium", "Enterprise"]) {
    await expect(table.getByRole("columnheader", { name })).toBeVisible();
  }
  await expect(table.getByRole("row", { name: /API calls \/ month/ })).toContainText("100,000,000");
});

test("upgrade, suspend, reactivate and delete a tenant", async ({ page }, testInfo) => {
  const name = `Lifecycle ${testInfo.project.name} ${Date.now().toString(36)}`;
  const slug = name.toLowerCase().replace(/ /g, "-");
  await signInAsAdmin(page);
  await page.goto("/tenants/new");
  await page.getByLabel("Name", { exact: true }).fill(name);
  await page.getByLabel("Tier").selectOption("free");
  await page.getByRole("button", { name: "Create tenant" }).click();
  await expect(page.getByRole("heading", { name })).toBeVisible();

  await page.getByLabel("New tier").selectOption("standard");
  await page.getByRole("button", { name: "Preview the change" }).click();
  const preview = page.getByRole("region", { name: "Limits before and after the tier change" });
  await expect(preview.getByRole("row", { name: /CPU/ })).toContainText("0.25 cores");
  await expect(preview.getByRole("row", { name: /CPU/ })).toContainText("2 cores");
  await page.getByRole("button", { name: "Move to Standard" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Tier changed." })).toBeVisible();
  await expect(page.getByRole("region", { name: "Effective quotas" })).toContainText("100 GiB");

  await page.getByRole("button", { name: "Suspend tenant" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Tenant suspended" })).toBeVisible();
  await page.getByRole("button", { name: "Reactivate tenant" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Tenant reactivated." })).toBeVisible();

  await page.getByLabel("Type the slug to confirm deletion").fill("not-the-slug");
  await page.getByRole("button", { name: "Delete tenant" }).click();
  await expect(page.getByText(`Type “${slug}” exactly to confirm the deletion.`)).toBeVisible();
  await page.getByLabel("Type the slug to confirm deletion").fill(slug);
  await page.getByRole("button", { name: "Delete tenant" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Tenant deleted." })).toBeVisible();
  await expect(page).toHaveURL(/\/tenants\?done=deleted/);

  // Each step is in the audit trail, newest first.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Dashboard" }).click();
  const trail = page.getByRole("region", { name: "Recent audit events" });
  for (const action of ["tenant.created", "tenant.tier_changed", "tenant.suspended", "tenant.reactivated", "tenant.deleted"]) {
    await expect(trail.getByRole("row").filter({ hasText: action }).filter({ hasText: slug }).first()).toBeVisible();
  }
});

test("a downgrade that usage forbids is refused with the limit, the usage and the ceiling", async ({ page }) => {
  await signInAsAdmin(page);
  await page.goto("/tenants/usage-heavy");
  await expect(page.getByRole("meter", { name: "Storage" })).toBeVisible();
  await page.getByLabel("New tier").selectOption("standard");
  await page.getByRole("button", { name: "Preview the change" }).click();
  await expect(page.getByRole("alert").filter({ hasText: "This change will be refused" })).toBeVisible();
  await page.getByLabel("Isolation level on the new tier").selectOption("2");
  await page.getByRole("button", { name: "Move to Standard" }).click();
  await expect(page.getByText("Storage: current usage 500 GiB is over the new limit of 100 GiB.").first()).toBeVisible();
  await expect(page.getByRole("region", { name: "Effective quotas" })).toContainText("1 TiB");
});

test("override a quota with a reason, then remove it", async ({ page }, testInfo) => {
  const name = `Quota ${testInfo.project.name} ${Date.now().toString(36)}`;
  await signInAsAdmin(page);
  await page.goto("/tenants/new");
  await page.getByLabel("Name", { exact: true }).fill(name);
  await page.getByLabel("Tier").selectOption("standard");
  await page.getByRole("button", { name: "Create tenant" }).click();
  await expect(page.getByRole("heading", { name })).toBeVisible();

  await page.getByLabel("Limit", { exact: true }).selectOption("users");
  await page.getByLabel("New value").fill("-3");
  await page.getByLabel("Reason").fill("pilot programme");
  await page.getByRole("button", { name: "Save override" }).click();
  await expect(page.getByText("The value must be greater than zero.")).toBeVisible();
  await expect(page.getByLabel("Reason")).toHaveValue("pilot programme");

  await page.getByLabel("New value").fill("5,000");
  await page.getByRole("button", { name: "Save override" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Quota override saved." })).toBeVisible();
  const users = page.getByRole("region", { name: "Effective quotas" }).getByRole("row", { name: /Users/ });
  await expect(users).toContainText("5,000");
  await expect(users).toContainText("pilot programme");
  await users.getByRole("button", { name: "Remove the Users override" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Quota override removed" })).toBeVisible();
  await expect(page.getByRole("region", { name: "Effective quotas" }).getByRole("row", { name: /Users/ })).not.toContainText("pilot programme");
});

test("export a tenant's configuration as YAML", async ({ page }) => {
  await signInAsAdmin(page);
  await page.goto("/tenants/usage-heavy");
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: "Export YAML" }).click()]);
  expect(download.suggestedFilename()).toBe("tenant-usage-heavy.yaml");
  const path = await download.path();
  const text = require("node:fs").readFileSync(path, "utf8");
  expect(text).toContain("slug: usage-heavy");
  expect(text).toContain("tier: premium");
});

test("a platform admin edits a tier's terms", async ({ page }, testInfo) => {
  await signInAsAdmin(page);
  await page.goto("/tiers");
  await page.getByRole("link", { name: "Edit Enterprise" }).click();
  await expect(page.getByRole("heading", { name: "Edit the Enterprise tier" })).toBeVisible();
  await page.getByLabel("DB connections").fill("none");
  await page.getByRole("button", { name: "Save tier" }).click();
  await expect(page.getByText("“none” is not a number.")).toBeVisible();
  await page.getByLabel("DB connections").fill("1,000");
  await page.getByLabel("Support response").fill(`1 h, 24/7 (${testInfo.project.name})`);
  await page.getByRole("button", { name: "Save tier" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Tier Enterprise saved." })).toBeVisible();
  await expect(page.getByRole("region", { name: "Tier catalogue" })).toContainText(`1 h, 24/7 (${testInfo.project.name})`);
});
