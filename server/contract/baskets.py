"""Basket views (server.domain.basket_lifecycle) as cartservice.basket.v1 messages."""

from __future__ import annotations

from decimal import Decimal

from cartservice.basket.v1 import basket_pb2 as resources
from cartservice.basket.v1 import basket_service_pb2 as pb
from cartservice.type.v1 import decimal_pb2

from server.domain.basket_lifecycle import BasketView, Line, Product
from server.domain.money import rounded


def money(amount: Decimal, currency: str) -> resources.Money:
    return resources.Money(amount=decimal_pb2.Decimal(value=str(amount)), currency=currency)


def product_message(product: Product) -> resources.Product:
    return resources.Product(
        product_id=product.id,
        product_name=product.name,
        retail_price=money(rounded(product.retail_price, product.currency), product.currency),
        provider=product.provider,
        stock=product.stock,
    )


def _line(line: Line, currency: str) -> resources.LineItem:
    return resources.LineItem(
        line_item_id=line.line_item_id,
        product_id=line.product_id,
        product_name=line.product_name,
        retail_price=money(line.retail_price, currency),
        quoted_price=money(line.quoted_price, currency),
    )


def basket_message(view: BasketView) -> resources.Basket:
    state, currency = view.state, view.currency
    basket = resources.Basket(
        basket_id=state.basket_id,
        sales_channel_id=state.sales_channel_id,
        cart_id=state.cart_id,
        version=view.version,
        stage=state.stage.value,
        items=[_line(line, currency) for line in view.lines],
        provider_baskets=[
            resources.ProviderBasket(
                provider=group.provider,
                line_item_ids=group.line_item_ids,
                quoted_total=money(group.quoted_total, currency),
            )
            for group in view.provider_baskets
        ],
        retail_total=money(view.retail_total, currency),
        quoted_total=money(view.quoted_total, currency),
        payment_reference=state.payment_reference or "",
    )
    if state.promo_code is not None:
        basket.promo_code = state.promo_code
    if state.payment_intent_id is not None:
        basket.payment_intent.CopyFrom(
            resources.PaymentIntent(
                payment_intent_id=state.payment_intent_id,
                amount=money(view.quoted_total, currency),
                created_time=state.payment_intent_time or 0,
            )
        )
    return basket


def updated_message(basket: resources.Basket) -> pb.WatchBasketResponse:
    """Seed 002's BasketUpdated for watchers, with the version it reflects."""
    updated = resources.BasketUpdated(items=basket.items, stage=basket.stage)
    if basket.HasField("promo_code"):
        updated.promo_code = basket.promo_code
    return pb.WatchBasketResponse(version=basket.version, basket_updated=updated)
