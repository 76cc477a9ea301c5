// A basket followed live: create it, add the demo Gift Voucher, print each update.
//   CARTSERVICE_URL=http://127.0.0.1:50051 TOKEN=$(cartservice token ...) node dist/examples/quickstart.js
import { StorefrontConnection, nodeTransport } from "../src/index.js";

const token = process.env.TOKEN ?? "";
const connection = new StorefrontConnection(nodeTransport(process.env.CARTSERVICE_URL!, token));
const updated = new Promise<void>((done) => {
  connection.on("BasketUpdated", (basket) => {
    const lines = basket.items.map((i) => `${i.productName} at ${i.quotedPrice.amount}`);
    console.log(`${basket.items.length} items [${lines.join(", ")}], promo ${basket.promoCode}`);
    if (basket.items.length === 1) done();
  });
});
connection.on("SomethingHappened", (error) => console.log(error.errorCode, error.message));
await connection.start();
await connection.invoke("CreateBasket", `b-${Date.now()}`, "web");
await connection.invoke("AddItem", "f1e2d3c4-b5a6-7890-abcd-ef1234567890");
await updated;
await connection.stop();
