import { expect, test } from "./fixtures";
import { signIn } from "./helpers";

// The console ships as a small shell plus one chunk per page (lazy routes,
// `cargo leptos build --split`): a first visit fetches what its page runs,
// and moving between pages fetches each page's code once.
test("each page's code is fetched once, when the page is first shown", async ({ page }, testInfo) => {
  test.skip(testInfo.project.name === "no-javascript", "code is what the browser runs; without JavaScript it runs none");
  const fetched = new Map<string, number>();
  page.on("request", (request) => {
    const url = new URL(request.url());
    if (url.pathname.startsWith("/pkg/") && url.pathname.endsWith(".wasm")) {
      fetched.set(url.pathname, (fetched.get(url.pathname) ?? 0) + 1);
    }
  });

  await page.goto("/login");
  await page.waitForLoadState("networkidle");
  const atSignIn = new Set(fetched.keys());
  expect(atSignIn.size, "the shell and the sign-in page's chunk").toBeGreaterThan(0);

  await signIn(page);
  await expect(page.getByRole("heading", { name: "Dashboard" })).toBeVisible();
  const nav = page.getByRole("navigation", { name: "Main" });
  const visits: [string, RegExp][] = [
    ["Tenants", /^Tenants/],
    ["Audit trail", /^Audit trail/],
    ["Tiers", /^Tiers/],
    ["Tenants", /^Tenants/],
    ["Dashboard", /^Dashboard/],
    ["Audit trail", /^Audit trail/],
  ];
  for (const [link, heading] of visits) {
    await nav.getByRole("link", { name: link, exact: true }).click();
    await expect(page.getByRole("heading", { level: 1, name: heading })).toBeVisible();
    // The navigation marks the page shown, and only it, as the address changes.
    await expect(nav.locator('[aria-current="page"]')).toHaveText([link]);
  }

  const later = [...fetched.keys()].filter((f) => !atSignIn.has(f));
  expect(later.length, "pages other than sign-in bring their own code when first shown").toBeGreaterThan(0);
  for (const [file, times] of fetched) {
    expect(times, `${file} fetched once`).toBe(1);
  }
});
