import { expect, test } from "./fixtures";
import { email, password, signIn } from "./helpers";

test("a page asked for before signing in opens after signing in", async ({ page }) => {
  await page.goto("/?tab=activity");
  await expect(page).toHaveURL(/\/login\?next=/);
  await expect(page.getByRole("heading", { name: "Sign in to Bulkhead" })).toBeVisible();
  await signIn(page);
  await expect(page.getByRole("heading", { name: "Dashboard" })).toBeVisible();
  await expect(page).toHaveURL(/\/\?tab=activity$/);
  const header = page.getByRole("banner");
  await expect(header.getByText(email)).toBeVisible();
  await expect(header.getByText("Platform admin")).toBeVisible();
  await expect(page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Dashboard" })).toBeVisible();
  await expect(page.getByRole("region", { name: "Recent audit events" }).getByText("auth.login.succeeded").first()).toBeVisible();
});

test("a wrong password is refused without saying which part was wrong", async ({ page }) => {
  await page.goto("/login");
  await signIn(page, email, "definitely not the password");
  await expect(page.getByRole("alert")).toHaveText("The e-mail address or password is incorrect.");
  await expect(page).toHaveURL(/\/login\?error=invalid/);
  await page.goto("/");
  await expect(page).toHaveURL(/\/login/);
});

test("repeated failures lock the account with a message to try later", async ({ page }, testInfo) => {
  const victim = `locked-${testInfo.project.name}-${Date.now()}@example.com`;
  await page.goto("/login");
  for (let i = 0; i < 4; i++) {
    await signIn(page, victim, `wrong password ${i}`);
    await expect(page.getByRole("alert")).toHaveText("The e-mail address or password is incorrect.");
  }
  await signIn(page, victim, "wrong password 5");
  await expect(page.getByRole("alert")).toContainText("Too many sign-in attempts");
});

test("signing out ends the session", async ({ page }) => {
  await page.goto("/login");
  await signIn(page);
  await expect(page.getByRole("heading", { name: "Dashboard" })).toBeVisible();
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page.getByRole("status").filter({ hasText: "You have signed out." })).toBeVisible();
  await page.goto("/");
  await expect(page).toHaveURL(/\/login/);
});

test("the keyboard alone signs in", async ({ page }) => {
  await page.goto("/login");
  await expect(page.getByLabel("E-mail address")).toBeFocused();
  await page.keyboard.type(email);
  await page.keyboard.press("Tab");
  await expect(page.getByLabel("Password")).toBeFocused();
  await page.keyboard.type(password);
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { name: "Dashboard" })).toBeVisible();
});

test("pages are readable at 375 px wide", async ({ page }, testInfo) => {
  await page.setViewportSize({ width: 375, height: 740 });
  await page.goto("/login");
  await signIn(page);
  await expect(page.getByRole("heading", { name: "Dashboard" })).toBeVisible();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await page.screenshot({ path: testInfo.outputPath("dashboard-375.png"), fullPage: true });
});
