import { expect, type Page } from "@playwright/test";

export const email = process.env.BULKHEAD_E2E_EMAIL || "admin@example.com";
export const password = process.env.BULKHEAD_E2E_PASSWORD || "";

/** Fills and sends the login form on the current page. */
export async function signIn(page: Page, who = email, secret = password) {
  await page.getByLabel("E-mail address").fill(who);
  await page.getByLabel("Password").fill(secret);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/** Opens the login page and signs in as the test's platform admin. */
export async function signInAsAdmin(page: Page) {
  await page.goto("/login");
  await signIn(page);
  await expect(page.getByRole("heading", { name: "Dashboard" })).toBeVisible();
}
