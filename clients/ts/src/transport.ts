// Node's transport to the service over gRPC (HTTP/2), with the caller's token on every call.
import type { Interceptor, Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";

/** A static token, or a function asked for the current one before every call. */
export type Token = string | (() => string | Promise<string>);

export function bearer(token: Token): Interceptor {
  return (next) => async (request) => {
    const current = typeof token === "function" ? await token() : token;
    request.header.set("authorization", `Bearer ${current}`);
    return next(request);
  };
}

export function nodeTransport(baseUrl: string, token: Token): Transport {
  return createGrpcTransport({ baseUrl, interceptors: [bearer(token)] });
}
