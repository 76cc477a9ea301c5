// A browser's transport to the service's browser endpoint (`cartservice serve --browser-port`):
// the Connect protocol over fetch, with the caller's token on every call.
import type { Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { bearer, type Token } from "./auth.js";

export function webTransport(baseUrl: string, token: Token): Transport {
  return createConnectTransport({ baseUrl, interceptors: [bearer(token)] });
}
