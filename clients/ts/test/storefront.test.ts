import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, test } from "node:test";
import { ConnectError } from "@connectrpc/connect";
import {
  StorefrontConnection,
  nodeTransport,
  type BasketState,
  type Problem,
} from "../src/index.js";
import { registerSeedHandlers } from "../examples/seed-handlers.js";
import { ServerProcess, freePort } from "./server.js";

const GIFT_VOUCHER = "f1e2d3c4-b5a6-7890-abcd-ef1234567890";

/** Events as they arrive, awaited one at a time. */
class Inbox<T> {
  private readonly items: T[] = [];
  private waiting: ((item: T) => void) | undefined;
  push = (item: T): void => {
    if (this.waiting) {
      const wake = this.waiting;
      this.waiting = undefined;
      wake(item);
    } else this.items.push(item);
  };
  next(): Promise<T> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve(item);
    return new Promise((done, fail) => {
      const timer = setTimeout(() => fail(new Error("no event within 20 s")), 20_000);
      this.waiting = (value) => {
        clearTimeout(timer);
        done(value);
      };
    });
  }
}

let server: ServerProcess;
before(async () => {
  server = await ServerProcess.start();
});
after(async () => {
  await server.stop();
  rmSync(server.dataDir, { recursive: true, force: true });
});

test("the seed 002 flow: updates with the seed's payload, errors as SomethingHappened", async () => {
  const connection = new StorefrontConnection(nodeTransport(server.baseUrl, server.token()));
  const updates = new Inbox<BasketState>();
  const problems = new Inbox<Problem>();
  connection.on("BasketUpdated", updates.push);
  connection.on("SomethingHappened", problems.push);
  await connection.start();
  try {
    await connection.invoke("CreateBasket", "ts-1", "web");
    assert.deepEqual(await updates.next(), { items: [], promoCode: null, stage: "Basket" });
    await connection.invoke("AddItem", GIFT_VOUCHER);
    const added = await updates.next();
    assert.equal(added.items.length, 1);
    assert.deepEqual(added.items[0].retailPrice, { amount: 50, currency: "USD" });
    assert.equal(added.items[0].productName, "Gift Voucher - $50");
    await connection.invoke("ApplyPromoCode", "SUMMER20");
    const discounted = await updates.next();
    assert.equal(discounted.promoCode, "SUMMER20");
    assert.deepEqual(discounted.items[0].quotedPrice, { amount: 45, currency: "USD" });
    await assert.rejects(connection.invoke("ApplyPromoCode", "NOPE"), ConnectError);
    const problem = await problems.next();
    assert.equal(problem.errorCode, "PromoCodeDoesntExist");
  } finally {
    await connection.stop();
  }
});

test("a watch survives a server restart and sees each version once", async () => {
  const port = await freePort();
  let restarting = await ServerProcess.start(undefined, port);
  const token = restarting.token();
  const connection = new StorefrontConnection(nodeTransport(restarting.baseUrl, token));
  const updates = new Inbox<BasketState>();
  connection.on("BasketUpdated", updates.push);
  await connection.start();
  try {
    await connection.invoke("CreateBasket", "ts-2", "web");
    assert.equal((await updates.next()).items.length, 0);
    await connection.invoke("AddItem", GIFT_VOUCHER);
    assert.equal((await updates.next()).items.length, 1);
    await restarting.stop();
    restarting = await ServerProcess.start(restarting.dataDir, port);
    await connection.invoke("AddItem", GIFT_VOUCHER);
    assert.equal((await updates.next()).items.length, 2, "an old version again, or nothing");
  } finally {
    await connection.stop();
    await restarting.stop();
    rmSync(restarting.dataDir, { recursive: true, force: true });
  }
});

test("the seed's example handlers run unchanged", async () => {
  const connection = new StorefrontConnection(nodeTransport(server.baseUrl, server.token()));
  const shown: string[] = [];
  const prices = new Inbox<[number, number, string | null]>();
  registerSeedHandlers(
    connection,
    {
      updateCartBadge: (count) => shown.push(`badge ${count}`),
      updatePriceDisplay: (total, discounted, code) => prices.push([total, discounted, code]),
      renderCartItems: () => {},
      clearLocalBasket: () => {},
      showOrderConfirmation: () => {},
      showPromoCodeError: (text) => shown.push(text),
      showNotification: (text) => shown.push(text),
      generateBasketId: () => "unused",
    },
    { setItem: () => {} },
    "web",
  );
  await connection.start();
  try {
    await connection.invoke("CreateBasket", "ts-3", "web");
    assert.deepEqual(await prices.next(), [0, 0, null]);
    await connection.invoke("AddItem", GIFT_VOUCHER);
    assert.deepEqual(await prices.next(), [50, 50, null]);
    await connection.invoke("ApplyPromoCode", "SUMMER20");
    assert.deepEqual(await prices.next(), [50, 45, "SUMMER20"]);
    await assert.rejects(connection.invoke("ApplyPromoCode", "NOPE"));
    await waitFor(() => shown.includes("This promo code is invalid or has expired"));
    assert.deepEqual(shown.slice(0, 3), ["badge 0", "badge 1", "badge 1"]);
  } finally {
    await connection.stop();
  }
});

async function waitFor(condition: () => boolean): Promise<void> {
  for (let waited = 0; !condition(); waited += 50) {
    if (waited > 20_000) throw new Error("condition not met within 20 s");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
