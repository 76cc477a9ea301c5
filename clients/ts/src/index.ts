export { StorefrontConnection } from "./storefront.js";
export type { BasketState, LineItem, Money, Problem } from "./storefront.js";
export { bearer, nodeTransport } from "./transport.js";
export * from "../gen/cartservice/basket/v1/basket_service_pb.js";
export * from "../gen/cartservice/basket/v1/basket_pb.js";
export * from "../gen/cartservice/cart/v1/cart_service_pb.js";
export * from "../gen/cartservice/cart/v1/cart_pb.js";
export * from "../gen/cartservice/type/v1/decimal_pb.js";
