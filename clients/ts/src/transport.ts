// Node's transport to the service over gRPC (HTTP/2), with the caller's token on every call.
import type { Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { bearer, type Token } from "./auth.js";

export { bearer, type Token } from "./auth.js";

export function nodeTransport(baseUrl: string, token: Token): Transport {
  return createGrpcTransport({ baseUrl, interceptors: [bearer(token)] });
}
