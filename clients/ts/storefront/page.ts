// The storefront page: lists the catalog, keeps one basket, and shows every change to it as
// WatchBasket tells it, a change made by another client included. Its settings come from
// /config.json (the browser endpoint's address, a token, optionally a basket id).
import { createClient } from "@connectrpc/connect";
import { BasketService } from "../gen/cartservice/basket/v1/basket_service_pb.js";
import type { Product } from "../gen/cartservice/basket/v1/basket_pb.js";
import { StorefrontConnection, type BasketState } from "../src/storefront.js";
import { webTransport } from "../src/web.js";

interface Config {
  api: string;
  token: string;
  basketId?: string;
}

const byId = (id: string): HTMLElement => document.getElementById(id)!;

async function main(): Promise<void> {
  const config = (await (await fetch("config.json")).json()) as Config;
  const transport = webTransport(config.api, config.token);
  const connection = new StorefrontConnection(transport);
  connection.on("BasketUpdated", showBasket);
  connection.on("SomethingHappened", (problem) => {
    byId("problem").textContent = `${problem.errorCode}: ${problem.message}`;
  });
  await connection.start();
  const basketId = config.basketId ?? `web-${crypto.randomUUID()}`;
  await connection.invoke("CreateBasket", basketId, "web");
  byId("basket-id").textContent = basketId;
  showProducts(await listAll(createClient(BasketService, transport)), connection);
  wirePromoForm(connection);
  byId("status").textContent = "ready";
}

async function listAll(baskets: ReturnType<typeof createClient<typeof BasketService>>) {
  const products: Product[] = [];
  let pageToken = "";
  do {
    const page = await baskets.listProducts({ pageSize: 100, pageToken });
    products.push(...page.products);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return products;
}

function showProducts(products: Product[], connection: StorefrontConnection): void {
  const list = byId("products");
  for (const product of products) {
    const item = document.createElement("li");
    item.dataset.productId = product.productId;
    const price = product.retailPrice;
    item.append(`${product.productName} — ${price?.amount?.value} ${price?.currency} `);
    const add = document.createElement("button");
    add.textContent = "Add";
    add.onclick = () => act(() => connection.invoke("AddItem", product.productId));
    item.append(add);
    list.append(item);
  }
}

function wirePromoForm(connection: StorefrontConnection): void {
  const input = byId("promo-code") as HTMLInputElement;
  byId("promo-form").onsubmit = (event) => {
    event.preventDefault();
    void act(() => connection.invoke("ApplyPromoCode", input.value.trim()));
  };
  byId("remove-promo").onclick = () => act(() => connection.invoke("RemovePromoCode"));
  byId("lines").onclick = (event) => {
    const id = (event.target as HTMLElement).dataset.removes;
    if (id) void act(() => connection.invoke("RemoveItems", [id]));
  };
}

/** A call's refusal shows on the page; its success shows when the watch brings the change. */
async function act(call: () => Promise<void>): Promise<void> {
  byId("problem").textContent = "";
  try {
    await call();
  } catch (error) {
    byId("problem").textContent = String(error instanceof Error ? error.message : error);
  }
}

function showBasket(basket: BasketState): void {
  const lines = byId("lines");
  lines.replaceChildren(
    ...basket.items.map((line) => {
      const item = document.createElement("li");
      item.dataset.lineItemId = line.lineItemId;
      const quoted = `${decimal(line.quotedPrice.amount, line.quotedPrice.currency)}`;
      if (line.quotedPrice.amount !== line.retailPrice.amount) {
        const was = document.createElement("span");
        was.className = "was";
        was.textContent = decimal(line.retailPrice.amount, line.retailPrice.currency);
        item.append(`${line.productName} `, was, ` ${quoted} `);
      } else item.append(`${line.productName} ${quoted} `);
      const remove = document.createElement("button");
      remove.textContent = "Remove";
      remove.dataset.removes = line.lineItemId;
      item.append(remove);
      return item;
    }),
  );
  const currency = basket.items[0]?.quotedPrice.currency ?? "USD";
  byId("total").textContent = total(basket, currency);
  byId("promo").textContent = basket.promoCode ? `with ${basket.promoCode}` : "";
}

// Amounts arrive as numbers (seed 002's payload); the total is summed in integer minor units of
// the currency, so it is exact (a decimal text of up to 15 digits survives the number).
function total(basket: BasketState, currency: string): string {
  const digits = minorDigits(currency);
  let sum = 0n;
  for (const line of basket.items) sum += BigInt(line.quotedPrice.amount.toFixed(digits).replace(".", ""));
  const text = sum.toString().padStart(digits + 1, "0");
  const whole = digits ? `${text.slice(0, -digits)}.${text.slice(-digits)}` : text;
  return `${whole} ${currency}`;
}

function decimal(amount: number, currency: string): string {
  return `${amount.toFixed(minorDigits(currency))} ${currency}`;
}

function minorDigits(currency: string): number {
  const format = new Intl.NumberFormat("en", { style: "currency", currency });
  return format.resolvedOptions().maximumFractionDigits ?? 2;
}

main().catch((error) => {
  byId("status").textContent = `failed: ${error instanceof Error ? error.message : error}`;
});
