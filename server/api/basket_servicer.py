"""cartservice.basket.v1.BasketService: the storefront basket API of seeds 000 and 002.

Each call is validated into a command of server.service.baskets, whose handler owns the unit of
work and the events. WatchBasket streams the basket's changes from server.watch.
"""

from __future__ import annotations

import logging
from typing import Any, TypeAlias

import grpc
from cartservice.basket.v1 import basket_pb2 as resources
from cartservice.basket.v1 import basket_service_pb2 as pb
from cartservice.basket.v1 import basket_service_pb2_grpc

from server.api.basket_watch import WatchBasketStreams
from server.api.page_tokens import page_token, refuse, token_parts
from server.api.validation import Rule, Violations, check_basket_id
from server.auth.identity import caller
from server.contract.baskets import product_message
from server.service import commands as c
from server.service.baskets import BasketHandlers
from server.watch.basket_feed import BasketFeed

Context: TypeAlias = grpc.aio.ServicerContext
log = logging.getLogger(__name__)

MAX_QUANTITY_PER_ADD = 20
MAX_LINES_PER_REMOVE = 100
DEFAULT_PRODUCTS_PAGE = 50
MAX_PRODUCTS_PAGE = 100


def _basket_id_and_text(request: Any, name: str, max_length: int) -> None:
    """Validates the basket id and one required text field of the request."""
    violations = Violations()
    check_basket_id(violations, request.basket_id)
    violations.check_string(
        name, getattr(request, name), Rule(required=True, max_length=max_length)
    )
    violations.raise_if_any()


def _basket_id_only(request: Any) -> None:
    violations = Violations()
    check_basket_id(violations, request.basket_id)
    violations.raise_if_any()


def _product_after(token: str, violations: Violations) -> str:
    """The product id a page token continues after ("" for the first page)."""
    if not token:
        return ""
    parts = token_parts(token, 2, violations)
    if parts is None:
        return ""
    kind, last_id = parts
    if kind != "products" or not last_id:
        refuse(violations)
    return last_id


class BasketServicer(  # type: ignore[misc]  # WatchBasket writes with context.write
    WatchBasketStreams, basket_service_pb2_grpc.BasketServiceServicer
):
    """Validates each request into a command of server.service and answers the basket."""

    def __init__(self, baskets: BasketHandlers, feed: BasketFeed) -> None:
        self._baskets = baskets
        self._feed = feed

    async def _run(self, command: c.BasketCommand) -> resources.Basket:
        return (await self._baskets.handle(command, caller())).basket

    # ---- create, read, delete ----

    async def CreateBasket(
        self, request: pb.CreateBasketRequest, context: Context
    ) -> pb.CreateBasketResponse:
        _basket_id_and_text(request, "sales_channel_id", 64)
        basket = await self._run(c.CreateBasket(request.basket_id, request.sales_channel_id))
        return pb.CreateBasketResponse(basket=basket)

    async def GetBasket(
        self, request: pb.GetBasketRequest, context: Context
    ) -> pb.GetBasketResponse:
        _basket_id_only(request)
        return pb.GetBasketResponse(basket=await self._baskets.get(request.basket_id, caller()))

    async def DeleteBasket(
        self, request: pb.DeleteBasketRequest, context: Context
    ) -> pb.DeleteBasketResponse:
        _basket_id_only(request)
        await self._run(c.DeleteBasket(request.basket_id))
        return pb.DeleteBasketResponse()

    # ---- items and promo codes ----

    async def AddItem(self, request: pb.AddItemRequest, context: Context) -> pb.AddItemResponse:
        violations = Violations()
        check_basket_id(violations, request.basket_id)
        violations.check_string(
            "product_id", request.product_id, Rule(required=True, max_length=64)
        )
        quantity = request.quantity or 1
        if not 1 <= quantity <= MAX_QUANTITY_PER_ADD:
            violations.add("quantity", f"must be between 1 and {MAX_QUANTITY_PER_ADD}")
        violations.raise_if_any()
        command = c.AddBasketItem(request.basket_id, request.product_id, quantity)
        answer = await self._baskets.handle(command, caller())
        lines = [str(line.id) for line in answer.value]
        return pb.AddItemResponse(basket=answer.basket, added_line_item_ids=lines)

    async def RemoveItems(
        self, request: pb.RemoveItemsRequest, context: Context
    ) -> pb.RemoveItemsResponse:
        violations = Violations()
        check_basket_id(violations, request.basket_id)
        line_ids: list[int] = []
        if not 1 <= len(request.line_item_ids) <= MAX_LINES_PER_REMOVE:
            violations.add("line_item_ids", f"must list 1 to {MAX_LINES_PER_REMOVE} line items")
        for index, text in enumerate(request.line_item_ids):
            if not (text.isascii() and text.isdigit() and 0 < len(text) < 19 and int(text) > 0):
                violations.add(f"line_item_ids[{index}]", "is not a line item id of this service")
            else:
                line_ids.append(int(text))
        violations.raise_if_any()
        basket = await self._run(c.RemoveBasketItems(request.basket_id, line_ids))
        return pb.RemoveItemsResponse(basket=basket)

    async def ApplyPromoCode(
        self, request: pb.ApplyPromoCodeRequest, context: Context
    ) -> pb.ApplyPromoCodeResponse:
        _basket_id_and_text(request, "promo_code", 64)
        basket = await self._run(c.ApplyPromoCode(request.basket_id, request.promo_code))
        return pb.ApplyPromoCodeResponse(basket=basket)

    async def RemovePromoCode(
        self, request: pb.RemovePromoCodeRequest, context: Context
    ) -> pb.RemovePromoCodeResponse:
        _basket_id_only(request)
        basket = await self._run(c.RemovePromoCode(request.basket_id))
        return pb.RemovePromoCodeResponse(basket=basket)

    # ---- catalog ----

    async def ListProducts(
        self, request: pb.ListProductsRequest, context: Context
    ) -> pb.ListProductsResponse:
        violations = Violations()
        if not 0 <= request.page_size <= MAX_PRODUCTS_PAGE:
            violations.add("page_size", f"must be between 0 and {MAX_PRODUCTS_PAGE}")
        after_id = _product_after(request.page_token, violations)
        violations.raise_if_any()
        limit = request.page_size or DEFAULT_PRODUCTS_PAGE
        products = await self._baskets.products(after_id, limit + 1)
        more = len(products) > limit
        return pb.ListProductsResponse(
            products=[product_message(p) for p in products[:limit]],
            next_page_token=page_token("products", products[limit - 1].id) if more else "",
        )

    # ---- payment ----

    async def CreatePaymentIntent(
        self, request: pb.CreatePaymentIntentRequest, context: Context
    ) -> pb.CreatePaymentIntentResponse:
        _basket_id_only(request)
        basket = await self._run(c.CreatePaymentIntent(request.basket_id))
        return pb.CreatePaymentIntentResponse(basket=basket, payment_intent=basket.payment_intent)

    async def DeletePaymentIntent(
        self, request: pb.DeletePaymentIntentRequest, context: Context
    ) -> pb.DeletePaymentIntentResponse:
        _basket_id_only(request)
        basket = await self._run(c.DeletePaymentIntent(request.basket_id))
        return pb.DeletePaymentIntentResponse(basket=basket)

    async def CompleteBasket(
        self, request: pb.CompleteBasketRequest, context: Context
    ) -> pb.CompleteBasketResponse:
        _basket_id_and_text(request, "payment_reference", 256)
        command = c.CompleteBasket(request.basket_id, request.payment_reference)
        basket = await self._run(command)
        return pb.CompleteBasketResponse(basket=basket)
