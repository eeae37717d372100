// First-load weight of console pages: opens each page in a fresh browser
// (empty cache), lists what it fetched from /pkg (JS, wasm, CSS), and fetches
// each file again with `Accept-Encoding: gzip` to count its gzip bytes.
// Usage (from end2end/, whose node_modules hold Playwright):
//   node ../benches/first_load.mjs http://127.0.0.1:3000 email password /login / /tenants /audit …
import { existsSync } from "node:fs";
import { createRequire } from "node:module";

// Playwright from the working directory's node_modules (end2end/).
const { chromium } = createRequire(`${process.cwd()}/package.json`)("@playwright/test");

const [base, email, password, ...paths] = process.argv.slice(2);
const executablePath = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
const browser = await chromium.launch({ executablePath, args: ["--no-sandbox", "--disable-gpu"] });

async function cookieFor() {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${base}/login`);
  await page.getByLabel("E-mail address").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${base}/`);
  const cookies = await context.cookies();
  await context.close();
  return cookies;
}

async function gzipBytes(url) {
  const res = await fetch(url, { headers: { "accept-encoding": "gzip" } });
  const encoding = res.headers.get("content-encoding");
  const length = Number(res.headers.get("content-length") || 0);
  if (encoding === "gzip" && length) return { bytes: length, encoding };
  return { bytes: (await res.arrayBuffer()).byteLength, encoding: encoding || "identity" };
}

const cookies = await cookieFor();
console.log("| page | files | wasm files | gzip bytes (wasm + JS + CSS) |");
console.log("|---|---|---|---|");
for (const path of paths) {
  const context = await browser.newContext();
  if (path !== "/login") await context.addCookies(cookies);
  const page = await context.newPage();
  const fetched = new Set();
  page.on("request", (r) => {
    const u = new URL(r.url());
    if (u.pathname.startsWith("/pkg/") || u.pathname.endsWith(".css")) fetched.add(u.href);
  });
  await page.goto(`${base}${path}`, { waitUntil: "networkidle" });
  let total = 0;
  let wasm = 0;
  const odd = [];
  for (const url of fetched) {
    const { bytes, encoding } = await gzipBytes(url);
    total += bytes;
    if (url.endsWith(".wasm")) wasm += 1;
    if (encoding !== "gzip") odd.push(`${new URL(url).pathname} (${encoding})`);
  }
  console.log(`| \`${path}\` | ${fetched.size} | ${wasm} | ${total.toLocaleString("en")} |${odd.length ? " not gzip: " + odd.join(", ") : ""}`);
  await context.close();
}
await browser.close();
