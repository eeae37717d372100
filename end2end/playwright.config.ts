import { defineConfig, devices } from "@playwright/test";
import { existsSync } from "node:fs";

// Debian's Chromium when installed (Playwright cannot download its own browser
// everywhere); Playwright's own browser otherwise.
const systemChromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
const launchOptions = {
  executablePath: process.env.BULKHEAD_E2E_CHROMIUM || systemChromium,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-quic", "--no-first-run", "--disable-sync"],
};

export default defineConfig({
  testDir: "./tests",
  timeout: 60_000,
  expect: { timeout: 15_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: !!process.env.CI,
  reporter: [["list"]],
  use: {
    baseURL: process.env.BULKHEAD_E2E_URL || "http://127.0.0.1:3100",
    screenshot: "only-on-failure",
    trace: "retain-on-failure",
  },
  projects: [
    { name: "javascript", use: { ...devices["Desktop Chrome"], launchOptions } },
    { name: "no-javascript", use: { ...devices["Desktop Chrome"], javaScriptEnabled: false, launchOptions } },
  ],
});
