// The caller's token on every call, for any transport (Node or browser).
import type { Interceptor } from "@connectrpc/connect";

/** A static token, or a function asked for the current one before every call. */
export type Token = string | (() => string | Promise<string>);

export function bearer(token: Token): Interceptor {
  return (next) => async (request) => {
    const current = typeof token === "function" ? await token() : token;
    request.header.set("authorization", `Bearer ${current}`);
    return next(request);
  };
}
