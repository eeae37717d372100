import { createHmac } from "node:crypto";
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

/** The TOTP code (RFC 6238: SHA-1, 6 digits, 30 s) of a base32 secret, `offset` steps from now. */
export function totp(secretBase32: string, offset = 0): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of secretBase32.replace(/=+$/, "").toUpperCase()) {
    bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  }
  const bytes: number[] = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / 30) + offset));
  const mac = createHmac("sha1", Buffer.from(bytes)).update(counter).digest();
  const at = mac[mac.length - 1] & 0x0f;
  const value = (mac.readUInt32BE(at) & 0x7fffffff) % 1_000_000;
  return value.toString().padStart(6, "0");
}
