// A storefront's connection shaped like seed 002: register handlers for "BasketUpdated" and
// "SomethingHappened", start, then invoke the basket calls. Updates come from WatchBasket; after
// a lost stream (a server restart, UNAVAILABLE) it reconnects and resumes from the last version.
import { Code, ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import type { Money as MoneyMessage } from "../gen/cartservice/basket/v1/basket_pb.js";
import {
  BasketService,
  type WatchBasketResponse,
} from "../gen/cartservice/basket/v1/basket_service_pb.js";

/** Seed 002's payloads: amounts are numbers, `items` always an array, `promoCode` null when none. */
export interface Money {
  amount: number;
  currency: string;
}
export interface LineItem {
  lineItemId: string;
  productId: string;
  productName: string;
  retailPrice: Money;
  quotedPrice: Money;
}
export interface BasketState {
  items: LineItem[];
  promoCode: string | null;
  stage: string;
}
export interface Problem {
  errorCode: string;
  message: string;
}

type Handlers = {
  BasketUpdated: (basket: BasketState) => unknown;
  SomethingHappened: (error: Problem) => unknown;
};
type Invocations = {
  CreateBasket: [basketId: string, salesChannelId: string];
  AddItem: [productId: string, quantity?: number];
  RemoveItems: [lineItemIds: string[]];
  ApplyPromoCode: [promoCode: string];
  RemovePromoCode: [];
};

const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 2000;

export class StorefrontConnection {
  private readonly baskets: Client<typeof BasketService>;
  private readonly handlers: { [E in keyof Handlers]: Handlers[E][] } = {
    BasketUpdated: [],
    SomethingHappened: [],
  };
  private basketId: string | undefined;
  private version = 0n;
  private watch: AbortController | undefined;
  private started = false;

  constructor(transport: Transport, basketId?: string) {
    this.baskets = createClient(BasketService, transport);
    this.basketId = basketId;
  }

  on<E extends keyof Handlers>(event: E, handler: Handlers[E]): void {
    this.handlers[event].push(handler);
  }

  /** Starts receiving the basket's events (once there is a basket: CreateBasket sets one). */
  async start(): Promise<void> {
    this.started = true;
    if (this.basketId !== undefined) this.follow(this.basketId);
  }

  async stop(): Promise<void> {
    this.started = false;
    this.watch?.abort();
  }

  async invoke<M extends keyof Invocations>(method: M, ...args: Invocations[M]): Promise<void> {
    if (method === "CreateBasket") {
      const [basketId, salesChannelId] = args as Invocations["CreateBasket"];
      await this.baskets.createBasket({ basketId, salesChannelId });
      if (this.started) this.follow(basketId);
      else this.basketId = basketId;
      return;
    }
    const basketId = this.current();
    if (method === "AddItem") {
      const [productId, quantity] = args as Invocations["AddItem"];
      await this.baskets.addItem({ basketId, productId, quantity: quantity ?? 0 });
    } else if (method === "RemoveItems") {
      const [lineItemIds] = args as Invocations["RemoveItems"];
      await this.baskets.removeItems({ basketId, lineItemIds });
    } else if (method === "ApplyPromoCode") {
      const [promoCode] = args as Invocations["ApplyPromoCode"];
      await this.baskets.applyPromoCode({ basketId, promoCode });
    } else if (method === "RemovePromoCode") {
      await this.baskets.removePromoCode({ basketId });
    }
  }

  private current(): string {
    if (this.basketId === undefined) throw new Error("no basket yet: invoke CreateBasket first");
    return this.basketId;
  }

  private follow(basketId: string): void {
    this.watch?.abort();
    this.basketId = basketId;
    this.version = 0n;
    const watch = new AbortController();
    this.watch = watch;
    void this.receive(basketId, watch.signal);
  }

  private async receive(basketId: string, signal: AbortSignal): Promise<void> {
    let pause = RECONNECT_MIN_MS;
    while (!signal.aborted) {
      try {
        const stream = this.baskets.watchBasket(
          { basketId, fromVersion: this.version },
          { signal },
        );
        for await (const message of stream) {
          pause = RECONNECT_MIN_MS;
          this.deliver(message);
        }
        return; // the server ended the stream: the basket is gone
      } catch (error) {
        if (signal.aborted) return;
        const code = ConnectError.from(error).code;
        if (code !== Code.Unavailable && code !== Code.Unknown && code !== Code.Internal) {
          this.emit("SomethingHappened", { errorCode: Code[code], message: String(error) });
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, pause));
        pause = Math.min(pause * 2, RECONNECT_MAX_MS);
      }
    }
  }

  private deliver(message: WatchBasketResponse): void {
    const event = message.event;
    if (event.case === "basketUpdated") {
      if (message.version <= this.version) return; // seen before a reconnect
      this.version = message.version;
      this.emit("BasketUpdated", {
        items: event.value.items.map((item) => ({
          lineItemId: item.lineItemId,
          productId: item.productId,
          productName: item.productName,
          retailPrice: money(item.retailPrice),
          quotedPrice: money(item.quotedPrice),
        })),
        promoCode: event.value.promoCode ?? null,
        stage: event.value.stage,
      });
    } else if (event.case === "somethingHappened") {
      // A notice about the version already seen (never resent on a reconnect).
      this.emit("SomethingHappened", {
        errorCode: event.value.errorCode,
        message: event.value.message,
      });
    }
  }

  private emit<E extends keyof Handlers>(event: E, payload: Parameters<Handlers[E]>[0]): void {
    for (const handler of this.handlers[event]) (handler as (p: typeof payload) => unknown)(payload);
  }
}

// A JSON number, as the seed shows amounts; the exact decimal text stays in the messages.
function money(price: MoneyMessage | undefined): Money {
  return { amount: Number(price?.amount?.value ?? "0"), currency: price?.currency ?? "" };
}
