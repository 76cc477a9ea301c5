// Serves the storefront page: index.html, page.js (bundled from page.ts at start) and
// config.json (where the page finds the browser endpoint and its token).
//   node dist/storefront/serve.js --api http://127.0.0.1:8091 --token "$TOKEN" [--port 8080]
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { build } from "esbuild";

const SOURCE = resolve(import.meta.dirname, "../../storefront");

export interface StorefrontSettings {
  api: string;
  token: string;
  basketId?: string;
}

/** The page's files, by path; page.js is the page and the client bundled for browsers. */
export async function storefrontFiles(settings: StorefrontSettings): Promise<Map<string, [string, string]>> {
  const bundled = await build({
    entryPoints: [resolve(SOURCE, "page.ts")],
    bundle: true,
    format: "esm",
    target: "es2022",
    write: false,
    logLevel: "warning",
  });
  return new Map([
    ["/", ["text/html", readFileSync(resolve(SOURCE, "index.html"), "utf8")]],
    ["/page.js", ["text/javascript", bundled.outputFiles[0].text]],
    ["/config.json", ["application/json", JSON.stringify(settings)]],
  ]);
}

export async function serveStorefront(settings: StorefrontSettings, port = 8080, host = "127.0.0.1"): Promise<Server> {
  const files = await storefrontFiles(settings);
  const server = createServer((request, response) => {
    const file = files.get(new URL(request.url ?? "/", "http://page").pathname);
    if (!file) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { "content-type": `${file[0]}; charset=utf-8`, "cache-control": "no-store" });
    response.end(file[1]);
  });
  await new Promise<void>((done) => server.listen(port, host, done));
  return server;
}

if (process.argv[1] === import.meta.filename) {
  const { values } = parseArgs({
    options: {
      api: { type: "string", default: "http://127.0.0.1:8091" },
      token: { type: "string" },
      port: { type: "string", default: "8080" },
      basket: { type: "string" },
    },
  });
  if (!values.token) throw new Error("--token is required: cartservice token --user-id 1 ...");
  const settings = { api: values.api!, token: values.token, basketId: values.basket };
  const server = await serveStorefront(settings, Number(values.port));
  const address = server.address() as { port: number };
  console.log(`storefront on http://127.0.0.1:${address.port} (browser endpoint ${values.api})`);
}
