import { expect, test } from "./fixtures";
import { signInAsAdmin } from "./helpers";

test("take a tenant from level 2 to 3: configure, render, and a failing step kept with its reason and a retry", async ({ page }, testInfo) => {
  const run = `${testInfo.project.name === "javascript" ? "js" : "nojs"}${Date.now().toString(36)}`;
  await signInAsAdmin(page);
  await page.goto("/tenants/new");
  await page.getByLabel("Name", { exact: true }).fill(`Vault ${run}`);
  await page.getByLabel("Tier").selectOption("premium");
  await page.getByLabel("Isolation level").selectOption("2");
  await page.getByRole("button", { name: "Create tenant" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Tenant created." })).toBeVisible();

  await page.getByLabel("Isolation level", { exact: true }).selectOption("3");
  await page.getByRole("button", { name: "Change isolation level" }).click();
  await expect(page.getByText("Isolation level 3 recorded")).toBeVisible();
  await page.getByRole("link", { name: "Activation checklist" }).click();
  await expect(page.getByRole("heading", { name: "Activation checklist" })).toBeVisible();
  const steps = page.getByRole("list", { name: "Steps" });
  await expect(steps.getByRole("listitem")).toHaveCount(5);

  // Bad input: the message next to the field.
  await page.getByLabel("Dedicated domain").fill("https://not a domain");
  await page.getByLabel("Dedicated upstream").fill("http://10.0.0.9:8080");
  await page.getByLabel("Health URL").fill("http://127.0.0.1:9/healthz");
  await page.getByRole("button", { name: "Save configuration" }).click();
  await expect(page.getByText("A domain only: no scheme, port or path.")).toBeVisible();

  await page.getByLabel("Dedicated domain").fill(`vault-${run}.invalid`);
  await page.getByLabel("Dedicated upstream").fill("http://10.0.0.9:8080");
  await page.getByLabel("Health URL").fill("http://127.0.0.1:9/healthz");
  await page.getByRole("button", { name: "Save configuration" }).click();
  await expect(page.getByText("Configuration saved")).toBeVisible();

  await page.getByRole("button", { name: "Render the deployment" }).click();
  await expect(page.getByText("Step passed.")).toBeVisible();
  await expect(page.getByRole("link", { name: /\.k8s\.yaml$/ })).toBeVisible();

  await page.getByRole("button", { name: "Validate the manifests, DNS and TLS" }).click();
  await expect(page.getByRole("alert").filter({ hasText: "does not resolve" })).toBeVisible();
  await expect(page.getByRole("heading", { name: "Try the step again" })).toBeVisible();
  await expect(page.getByRole("button", { name: "Validate the manifests, DNS and TLS" })).toBeVisible();
  await page.screenshot({ path: testInfo.outputPath("activation.png"), fullPage: true });
});
