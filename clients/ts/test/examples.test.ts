// The README's TypeScript example is examples/quickstart.ts, run here against a real server.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { resolve } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { ServerProcess } from "./server.js";

const ROOT = resolve(import.meta.dirname, "../../../..");
const SOURCE = resolve(ROOT, "clients/ts/examples/quickstart.ts");
let server: ServerProcess;

before(async () => {
  server = await ServerProcess.start();
});

after(async () => {
  await server?.stop();
  if (server) rmSync(server.dataDir, { recursive: true, force: true });
});

test("the README shows the quickstart as it is", () => {
  const readme = readFileSync(resolve(ROOT, "README.md"), "utf8");
  assert.ok(readme.includes("```ts\n" + readFileSync(SOURCE, "utf8") + "```"));
});

test("the quickstart follows its basket until the voucher is in it", async () => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [resolve(import.meta.dirname, "../examples/quickstart.js")],
    { env: { ...process.env, CARTSERVICE_URL: server.baseUrl, TOKEN: server.token() }, timeout: 30_000 },
  );
  assert.deepEqual(stdout.trim().split("\n"), [
    "0 items [], promo null",
    "1 items [Gift Voucher - $50 at 50], promo null",
  ]);
});
