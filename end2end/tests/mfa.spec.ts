import { type Page } from "@playwright/test";
import { expect, test } from "./fixtures";
import { password, signIn, totp } from "./helpers";

async function signOut(page: Page) {
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page.getByRole("heading", { name: "Sign in to Bulkhead" })).toBeVisible();
}

async function enterCode(page: Page, code: string) {
  await page.getByLabel("Authentication code").fill(code);
  await page.getByRole("button", { name: "Verify" }).click();
}

test("enrol TOTP, then sign in with a code, refuse its replay, use a recovery code once, lock after five wrong codes", async ({ page }, testInfo) => {
  // One account per project: an account enrols once.
  const email = `e2e-mfa-${testInfo.project.name}@example.com`;
  await page.goto("/login");
  await signIn(page, email, password);
  await expect(page.getByRole("heading", { name: "Dashboard" })).toBeVisible();

  await page.getByRole("link", { name: "Account" }).click();
  await page.getByRole("link", { name: "Set up two-factor authentication" }).click();
  await expect(page.getByRole("heading", { name: "Set up two-factor authentication" })).toBeVisible();
  // A signed-in session alone does not get to add a factor: the password first.
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Continue" }).click();
  await expect(page.getByRole("img", { name: "QR code of the TOTP secret" })).toBeVisible();
  const secret = (await page.getByLabel("Secret").textContent())!.trim();
  expect(secret).toMatch(/^[A-Z2-7]{32}$/);
  await page.screenshot({ path: testInfo.outputPath("enrol.png"), fullPage: true });
  await page.getByLabel("Code from the app").fill(totp("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
  await page.getByRole("button", { name: "Turn on two-factor authentication" }).click();
  await expect(page.getByText("That code does not match.")).toBeVisible();
  await page.getByLabel("Code from the app").fill(totp(secret));
  await page.getByRole("button", { name: "Turn on two-factor authentication" }).click();

  const list = page.getByRole("list", { name: "Recovery codes" });
  await expect(list.getByRole("listitem")).toHaveCount(10);
  const recovery = (await list.getByRole("listitem").allTextContents()).map((c) => c.trim());
  await page.getByRole("link", { name: "I have saved them: continue" }).click();
  await expect(page.getByRole("heading", { name: "Dashboard" })).toBeVisible();

  // Password, then the next step's code.
  await signOut(page);
  await signIn(page, email, password);
  await expect(page.getByRole("heading", { name: "Two-factor authentication" })).toBeVisible();
  const code = totp(secret, 1);
  await enterCode(page, code);
  await expect(page.getByRole("heading", { name: "Dashboard" })).toBeVisible();

  // The same code again is refused.
  await signOut(page);
  await signIn(page, email, password);
  await enterCode(page, code);
  await expect(page.getByText("That code was already used.")).toBeVisible();

  // A recovery code signs in once.
  await enterCode(page, recovery[0]);
  await expect(page.getByRole("heading", { name: "Dashboard" })).toBeVisible();
  await signOut(page);
  await signIn(page, email, password);
  await enterCode(page, recovery[0]);
  await expect(page.getByText("That recovery code is not valid, or it was already used.")).toBeVisible();

  // Five wrong codes lock the step.
  for (let i = 0; i < 4; i++) await enterCode(page, totp("BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"));
  await expect(page.getByText("Too many wrong codes.")).toBeVisible();
  await page.screenshot({ path: testInfo.outputPath("locked.png"), fullPage: true });
});
