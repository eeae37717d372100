import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { expect, test } from "./fixtures";
import { signInAsAdmin } from "./helpers";

test("usage over 80 % raises an alert, reaches a signed webhook, shows on the usage page, and the month downloads", async ({
  page,
  request,
}, testInfo) => {
  const run = `${testInfo.project.name}-${Date.now().toString(36)}`;
  const name = `Metered ${run}`;
  const slug = name.toLowerCase().replace(/ /g, "-");

  // A receiver for the webhook: every delivery, headers and body as sent.
  const received: { headers: IncomingHttpHeaders; body: string }[] = [];
  const receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      received.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;

  try {
    await signInAsAdmin(page);
    await page.goto("/tenants/new");
    await page.getByLabel("Name", { exact: true }).fill(name);
    await page.getByLabel("Tier").selectOption("free");
    await page.getByRole("button", { name: "Create tenant" }).click();
    await expect(page.getByRole("heading", { name })).toBeVisible();

    // A token for the platform's usage reports.
    await page.goto("/settings/tokens");
    await page.getByLabel("Name", { exact: true }).fill(`collector-${run}`);
    await page.getByLabel(/usage reports/).check();
    await page.getByRole("button", { name: "Create token" }).click();
    const token = (await page.getByLabel("New API token").textContent())!.trim();
    expect(token).toMatch(/^bkh_/);

    // An endpoint for the alerts; its secret is shown once.
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Webhooks" }).click();
    await page.getByLabel("Address").fill(hook);
    await page.getByLabel("Description").fill(`billing ${run}`);
    await page.getByRole("button", { name: "Add endpoint" }).click();
    const secret = (await page.getByLabel("New signing secret").textContent())!.trim();
    expect(secret).toMatch(/^whsec_/);

    // Nine users of ten: 90 %.
    // The routing table learns of the new token within moments; the batch is idempotent, so sent again until it lands.
    const at = new Date().toISOString();
    await expect
      .poll(
        async () =>
          (
            await request.post("/api/v1/usage", {
              headers: { authorization: `Bearer ${token}` },
              data: { samples: [{ id: `${run}-1`, tenant: slug, metric: "users", value: 9, at }] },
            })
          ).status(),
        { timeout: 10_000 },
      )
      .toBe(200);

    // Folded within a second or two: the alert, and the header's count.
    await expect(async () => {
      await page.goto("/alerts");
      await expect(page.getByRole("row").filter({ hasText: name }).first()).toContainText("80 % passed", { timeout: 500 });
    }).toPass({ timeout: 20_000 });
    await expect(page.locator(".alert-count .count")).not.toHaveText("0");

    // The usage page: a meter in amber and a chart per metric, with its numbers.
    await page.goto(`/tenants/${slug}/usage`);
    await expect(page.getByRole("heading", { name: `Usage · ${name}` })).toBeVisible();
    await expect(page.getByRole("meter", { name: "Users" })).toBeVisible();
    await expect(page.locator(".meter-warning")).toContainText("9 of 10 (90 %)");
    await expect(page.getByRole("img", { name: /^Users/ })).toBeVisible();
    await page.getByText("Users in numbers").click();
    await expect(page.getByRole("table").filter({ hasText: "Day (UTC)" }).first()).toBeVisible();
    await page.screenshot({ path: testInfo.outputPath("usage.png"), fullPage: true });

    // The webhook: delivered, signed with the endpoint's secret, in the log.
    await expect.poll(() => received.filter((r) => r.body.includes(slug)).length, { timeout: 20_000 }).toBeGreaterThan(0);
    const delivery = received.find((r) => r.body.includes(slug))!;
    const signed = `${delivery.headers["webhook-id"]}.${delivery.headers["webhook-timestamp"]}.${delivery.body}`;
    const expected = createHmac("sha256", Buffer.from(secret.slice("whsec_".length), "base64")).update(signed).digest("base64");
    expect(String(delivery.headers["webhook-signature"]).split(" ")).toContain(`v1,${expected}`);
    expect(JSON.parse(delivery.body).type).toBe("quota.warning");
    await page.goto("/settings/webhooks");
    await page.getByRole("row").filter({ hasText: `billing ${run}` }).getByRole("link").click();
    await expect(page).toHaveURL(/\/settings\/webhooks\/[0-9a-f-]{36}$/);
    await expect(async () => {
      await page.reload();
      await expect(page.getByRole("row").filter({ hasText: "quota.warning" }).first()).toContainText("delivered", { timeout: 500 });
    }).toPass({ timeout: 15_000 });
    await expect(page.getByRole("row").filter({ hasText: "quota.warning" }).first()).toContainText("204");

    // The month's billing figures, downloaded as CSV.
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Billing" }).click();
    const month = new Date().toISOString().slice(0, 7);
    await page.getByLabel("Month", { exact: true }).fill(month);
    const downloading = page.waitForEvent("download");
    await page.getByRole("button", { name: "Download" }).click();
    const download = await downloading;
    expect(download.suggestedFilename()).toBe(`bulkhead-billing-${month}.csv`);
    const csv = readFileSync((await download.path())!, "utf8");
    expect(csv.split("\r\n")[0]).toMatch(/^tenant_id,slug,name,tier,period,api_calls,/);
    expect(csv).toContain(`,${slug},`);

    await page.setViewportSize({ width: 375, height: 800 });
    await page.goto(`/tenants/${slug}/usage`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
  } finally {
    receiver.close();
  }
});
