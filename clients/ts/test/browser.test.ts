// The storefront page in a real Chromium (Debian's, driven by playwright-core) against a real
// server's browser endpoint: what the page shows after each step, a change made by another
// client included.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import type { Server } from "node:http";
import { after, before, test } from "node:test";
import { createClient } from "@connectrpc/connect";
import { chromium, type Browser, type Page } from "playwright-core";
import { BasketService, nodeTransport } from "../src/index.js";
import { serveStorefront } from "../storefront/serve.js";
import { ServerProcess, freePort } from "./server.js";

const GIFT_VOUCHER = "f1e2d3c4-b5a6-7890-abcd-ef1234567890";
const WIRELESS_MOUSE = "5d0c7e8a-3f21-4b9e-8a43-2c6f1d9e7b10";
// Chromium as root on a machine without a display or an outside network.
const CHROMIUM_ARGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

let server: ServerProcess;
let storefront: Server;
let browser: Browser;
let page: Page;
const basketId = `web-${Date.now()}`;

before(async () => {
  const pagePort = await freePort();
  const browserPort = await freePort();
  server = await ServerProcess.start(undefined, 0, [
    "--browser-port", String(browserPort), "--cors-origins", `http://127.0.0.1:${pagePort}`,
  ]);
  const api = `http://127.0.0.1:${browserPort}`;
  storefront = await serveStorefront({ api, token: server.token(), basketId }, pagePort);
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
  page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${pagePort}/`);
  await page.locator("#status", { hasText: "ready" }).waitFor({ timeout: 20_000 });
});

after(async () => {
  await browser?.close();
  await new Promise((done) => storefront?.close(done));
  await server?.stop();
  if (server) rmSync(server.dataDir, { recursive: true, force: true });
});

const lines = () => page.locator("#lines li");

test("the page lists the demo catalog with its prices", async () => {
  const voucher = page.locator(`#products li[data-product-id="${GIFT_VOUCHER}"]`);
  assert.match(await voucher.innerText(), /^Gift Voucher - \$50 — 50\.00 USD/);
  assert.ok((await page.locator("#products li").count()) >= 6);
  assert.equal(await page.locator("#basket-id").innerText(), basketId);
});

test("adding a product shows its line and the total", async () => {
  await page.locator(`#products li[data-product-id="${GIFT_VOUCHER}"] button`).click();
  await lines().first().waitFor();
  assert.match(await lines().first().innerText(), /Gift Voucher - \$50 50\.00 USD/);
  assert.equal(await page.locator("#total").innerText(), "50.00 USD");
});

test("a promo code quotes the seed's example: 50.00 becomes 45.00", async () => {
  await page.fill("#promo-code", "SUMMER20");
  await page.click("#promo-form button[type=submit]");
  await page.locator("#total", { hasText: "45.00 USD" }).waitFor();
  assert.equal(await page.locator("#promo").innerText(), "with SUMMER20");
  assert.equal(await lines().first().locator(".was").innerText(), "50.00 USD");
});

test("a change made by another client shows on the page", async () => {
  const other = createClient(BasketService, nodeTransport(server.baseUrl, server.token()));
  await other.addItem({ basketId, productId: WIRELESS_MOUSE });
  await page.locator("#total", { hasText: "69.99 USD" }).waitFor();
  assert.equal(await lines().count(), 2);
  assert.match(await lines().nth(1).innerText(), /Wireless Mouse/);
});

test("an unknown promo code is refused on the page and the basket keeps its code", async () => {
  await page.fill("#promo-code", "NOPE");
  await page.click("#promo-form button[type=submit]");
  await page.locator("#problem", { hasText: "NOPE" }).waitFor();
  assert.equal(await page.locator("#promo").innerText(), "with SUMMER20");
  assert.equal(await page.locator("#total").innerText(), "69.99 USD");
});

test("removing a line and the promo code shows the basket without them", async () => {
  await lines().first().locator("button").click();
  await page.locator("#total", { hasText: "19.99 USD" }).waitFor(); // SUMMER20 still applies
  assert.equal(await lines().count(), 1);
  await page.click("#remove-promo");
  await page.locator("#total", { hasText: "24.99 USD" }).waitFor();
  assert.equal(await page.locator("#promo").innerText(), "");
  assert.match(await lines().first().innerText(), /Wireless Mouse 24\.99 USD/);
});
