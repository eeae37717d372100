import { expect, test } from "./fixtures";
import { signInAsAdmin } from "./helpers";

const hostile = "Evil</title><script>alert(1)</script>";

test("a tenant named with markup shows it as text in the tab and the page; nothing runs", async ({ page }, testInfo) => {
  const dialogs: string[] = [];
  page.on("dialog", async (d) => {
    dialogs.push(d.message());
    await d.dismiss();
  });
  const slug = `evil-${testInfo.project.name}-${Date.now().toString(36)}`;
  await signInAsAdmin(page);
  await page.goto("/tenants/new");
  await page.getByLabel("Name", { exact: true }).fill(hostile);
  await page.getByLabel("Slug").fill(slug);
  await page.getByLabel("Tier").selectOption("standard");
  await page.getByRole("button", { name: "Create tenant" }).click();
  await expect(page.getByRole("heading", { name: hostile })).toBeVisible();
  await expect(page).toHaveTitle(`${hostile} · Bulkhead`);
  // As every later visitor gets it: the whole page from the server.
  await page.goto(`/tenants/${slug}`);
  await expect(page.getByRole("heading", { name: hostile })).toBeVisible();
  await expect(page).toHaveTitle(`${hostile} · Bulkhead`);
  expect(dialogs).toEqual([]);
});

test("a name of an invisible character or with a bidirectional control is refused under the field", async ({ page }) => {
  await signInAsAdmin(page);
  await page.goto("/tenants/new");
  await page.getByLabel("Name", { exact: true }).fill("\u200B");
  await page.getByLabel("Slug").fill("invisible-name");
  await page.getByLabel("Tier").selectOption("standard");
  await page.getByRole("button", { name: "Create tenant" }).click();
  await expect(page.getByText("Remove the invisible character U+200B.")).toBeVisible();
  await page.getByLabel("Name", { exact: true }).fill("Acme\u202Egnp.exe");
  await page.getByRole("button", { name: "Create tenant" }).click();
  await expect(page.getByText(/Remove the bidirectional control U\+202E/)).toBeVisible();
  await expect(page.getByLabel("Name", { exact: true })).toHaveAttribute("aria-invalid", "true");
  await page.goto("/tenants?q=invisible-name");
  await expect(page.getByRole("link", { name: /invisible-name/ })).toHaveCount(0);
});

test.describe("with JavaScript", () => {
  test.skip(({ javaScriptEnabled }) => !javaScriptEnabled, "hydration and script policy need JavaScript");

  test("the console hydrates under its policy and an injected inline script is refused", async ({ page, consoleErrors }) => {
    // Plays a script that got into a page past the escaping: inserted into the
    // server's answer, under the answer's own headers.
    await page.route("**/login", async (route) => {
      const response = await route.fetch();
      const html = (await response.text()).replace("</head>", "<script>window.__injected = true;</script></head>");
      await route.fulfill({ response, body: html });
    });
    consoleErrors.allow(/Content Security Policy/);
    await page.goto("/login");
    await expect.poll(() => consoleErrors.seen.some((e) => /inline script/.test(e))).toBe(true);
    expect(await page.evaluate(() => (window as unknown as { __injected?: boolean }).__injected)).toBeUndefined();
    // Hydrated all the same: the button shows its pending state while the sign-in is under way.
    // (The page's own code is a chunk fetched after the shell: a click before it has run is a
    // plain form post, which the tests without JavaScript cover.)
    await page.waitForLoadState("networkidle");
    await page.unroute("**/login");
    await page.route("**/api/login*", async (route) => {
      await new Promise((r) => setTimeout(r, 1500));
      await route.continue();
    });
    await page.getByLabel("E-mail address").fill("nobody@example.com");
    await page.getByLabel("Password").fill("not the password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByRole("button", { name: "Signing in…" })).toBeVisible();
    await expect(page.getByRole("alert")).toHaveText("The e-mail address or password is incorrect.");
  });
});
