"""Every basket command's handler over an in-memory unit of work: the basket it commits, the
stock it moves, and the domain events it records (cart events by the cart operations it reuses,
then the basket's own)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from decimal import Decimal
from typing import TypeVar

import pytest

from server.auth.identity import Identity, Role
from server.domain import events as e
from server.domain.basket_lifecycle import Product
from server.domain.catalog import Catalog, Kind, Level, PromotionRule
from server.domain.errors import AlreadyExists, FailedPrecondition, NotFound, PermissionDenied
from server.service import commands as c
from server.service.baskets import Answer, BasketHandlers
from server.watch.basket_feed import BasketFeed
from tests.memory_store import MemoryUnits

T = TypeVar("T")
NOW = 1_795_420_000_000
OWNER = Identity("7", 4982, frozenset({Role.USER}))
OTHER = Identity("8", 4982, frozenset({Role.USER}))
MUG = Product("mug", "Mug", Decimal("12.50"), "USD", "acme", stock=5)
CAP = Product("cap", "Cap", Decimal("20.00"), "USD", "hats", stock=1)


def run(call: Awaitable[T]) -> T:
    return asyncio.run(call)  # type: ignore[arg-type]


def kinds(answer: Answer) -> list[type]:
    return [type(event) for event in answer.events]


@pytest.fixture
def units() -> MemoryUnits:
    units = MemoryUnits()
    units.store.add_product(MUG)
    units.store.add_product(CAP)
    units.store.use_catalog(Catalog(promotions=(
        PromotionRule("TENOFF", "10 % off", Level.CART, Kind.PERCENTAGE, Decimal(10), code="TENOFF"),
        PromotionRule("FIVE", "5 off", Level.CART, Kind.FIXED, Decimal(5), code="FIVE"),
    )))  # fmt: skip
    return units


@pytest.fixture
def handlers(units: MemoryUnits) -> BasketHandlers:
    async def no_read(basket_id: str) -> None:
        return None

    feed = BasketFeed(no_read)
    return BasketHandlers(units, feed, clock=lambda: NOW)  # type: ignore[arg-type]


def handle(handlers: BasketHandlers, command: c.BasketCommand, who: Identity = OWNER) -> Answer:
    return run(handlers.handle(command, who))


def new_basket(handlers: BasketHandlers, basket_id: str = "b-1") -> Answer:
    return handle(handlers, c.CreateBasket(basket_id, "web"))


def test_create_basket_records_the_cart_and_the_basket_and_a_repeat_changes_nothing(
    units: MemoryUnits, handlers: BasketHandlers
) -> None:
    created = new_basket(handlers)

    assert kinds(created) == [e.CartCreated, e.BasketCreated]
    assert created.basket.basket_id == "b-1" and created.basket.stage == "Basket"
    assert [event.detail_type for event in units.store.events] == [
        "cartservices/cart/create",
        "BasketCreated",
    ]
    repeat = new_basket(handlers)
    assert repeat.events == () and repeat.basket.cart_id == created.basket.cart_id
    assert len(units.store.events) == 2
    with pytest.raises(AlreadyExists):
        handle(handlers, c.CreateBasket("b-1", "web"), OTHER)


def test_add_item_adds_priced_lines_through_the_cart_operation(
    units: MemoryUnits, handlers: BasketHandlers
) -> None:
    new_basket(handlers)

    added = handle(handlers, c.AddBasketItem("b-1", "mug", 2))

    assert kinds(added) == [e.ItemsAdded, e.BasketUpdated]
    assert len(added.value) == 2 and all(line.id for line in added.value)
    assert [line.retail_price.amount.value for line in added.basket.items] == ["12.50", "12.50"]
    assert added.basket.retail_total.amount.value == "25.00"
    assert units.store.events[-2].detail_type == "cartservices/cartitem/create"
    assert units.store.events[-1].detail_type == "BasketUpdated"


def test_an_unknown_product_is_refused_and_told_to_the_baskets_watchers(
    units: MemoryUnits, handlers: BasketHandlers
) -> None:
    new_basket(handlers)
    events_before = len(units.store.events)

    with pytest.raises(NotFound) as refused:
        handle(handlers, c.AddBasketItem("b-1", "nope", 1))

    assert refused.value.reason == "UnavailableProduct"
    assert len(units.store.events) == events_before
    told = units.store.basket_changes[-1]
    assert (told.basket_id, told.error_code) == ("b-1", "UnavailableProduct")


def test_remove_items_deletes_each_line_or_none(
    units: MemoryUnits, handlers: BasketHandlers
) -> None:
    new_basket(handlers)
    lines = handle(handlers, c.AddBasketItem("b-1", "mug", 2)).value
    first, second = (line.id for line in lines)

    with pytest.raises(NotFound):
        handle(handlers, c.RemoveBasketItems("b-1", [first, 999_999]))
    assert len(handle(handlers, c.AddBasketItem("b-1", "cap", 1)).basket.items) == 3

    removed = handle(handlers, c.RemoveBasketItems("b-1", [first, second]))
    assert kinds(removed) == [e.ItemDeleted, e.ItemDeleted, e.BasketUpdated]
    assert [event.item_id for event in removed.events[:2]] == [first, second]  # type: ignore[attr-defined]
    assert [line.product_id for line in removed.basket.items] == ["cap"]


def test_apply_promo_code_replaces_the_previous_code_and_a_repeat_changes_nothing(
    units: MemoryUnits, handlers: BasketHandlers
) -> None:
    new_basket(handlers)
    handle(handlers, c.AddBasketItem("b-1", "mug", 2))

    applied = handle(handlers, c.ApplyPromoCode("b-1", " tenoff "))
    assert kinds(applied) == [e.PromotionsAdded, e.BasketUpdated]
    assert applied.basket.quoted_total.amount.value == "22.50"

    replaced = handle(handlers, c.ApplyPromoCode("b-1", "FIVE"))
    assert kinds(replaced) == [e.PromotionDeleted, e.PromotionsAdded, e.BasketUpdated]
    assert replaced.basket.promo_code == "FIVE"

    assert handle(handlers, c.ApplyPromoCode("b-1", "FIVE")).events == ()
    removed = handle(handlers, c.RemovePromoCode("b-1"))
    assert kinds(removed) == [e.PromotionDeleted, e.BasketUpdated]
    assert handle(handlers, c.RemovePromoCode("b-1")).events == ()
    with pytest.raises(NotFound):
        handle(handlers, c.ApplyPromoCode("b-1", "NOSUCH"))


def test_a_payment_intent_reserves_stock_locks_the_basket_and_its_deletion_undoes_both(
    units: MemoryUnits, handlers: BasketHandlers
) -> None:
    new_basket(handlers)
    handle(handlers, c.AddBasketItem("b-1", "mug", 2))

    intent = handle(handlers, c.CreatePaymentIntent("b-1"))
    assert kinds(intent) == [e.PaymentsAdded, e.PaymentIntentCreated, e.BasketUpdated]
    assert intent.basket.payment_intent.amount.amount.value == "25.00"
    assert units.store.stock["mug"] == 3
    assert handle(handlers, c.CreatePaymentIntent("b-1")).events == ()  # a repeat
    with pytest.raises(FailedPrecondition) as locked:
        handle(handlers, c.AddBasketItem("b-1", "mug", 1))
    assert locked.value.reason == "BasketLocked"

    deleted = handle(handlers, c.DeletePaymentIntent("b-1"))
    assert kinds(deleted) == [e.PaymentDeleted, e.PaymentIntentDeleted, e.BasketUpdated]
    assert units.store.stock["mug"] == 5
    assert not deleted.basket.HasField("payment_intent")


def test_complete_settles_the_basket_sells_the_stock_and_checks_out_the_cart(
    units: MemoryUnits, handlers: BasketHandlers
) -> None:
    new_basket(handlers)
    handle(handlers, c.AddBasketItem("b-1", "cap", 1))
    handle(handlers, c.CreatePaymentIntent("b-1"))

    done = handle(handlers, c.CompleteBasket("b-1", "ref-1"))

    assert kinds(done) == [e.PaymentPatched, e.CartPatched, e.BasketCompleted, e.BasketUpdated]
    assert done.basket.stage == "Settled" and done.basket.payment_reference == "ref-1"
    assert "b-1" in units.store.sold and units.store.stock["cap"] == 0
    assert handle(handlers, c.CompleteBasket("b-1", "ref-1")).events == ()
    with pytest.raises(FailedPrecondition) as settled:
        handle(handlers, c.DeleteBasket("b-1"))
    assert settled.value.reason == "OrderWasProcessed"


def test_delete_basket_deletes_its_cart(units: MemoryUnits, handlers: BasketHandlers) -> None:
    cart_id = new_basket(handlers).basket.cart_id

    deleted = handle(handlers, c.DeleteBasket("b-1"))

    assert kinds(deleted) == [e.CartDeleted, e.BasketDeleted]
    assert cart_id not in units.store.documents and "b-1" not in units.store.baskets
    assert units.store.basket_changes[-1].deleted
    with pytest.raises(NotFound):
        run(handlers.get("b-1", OWNER))


def test_another_users_basket_is_refused_and_unchanged(
    units: MemoryUnits, handlers: BasketHandlers
) -> None:
    new_basket(handlers)
    events_before = len(units.store.events)

    with pytest.raises(PermissionDenied) as refused:
        handle(handlers, c.AddBasketItem("b-1", "mug", 1), OTHER)

    assert str(refused.value) == "basket b-1 belongs to another user"  # not the cart's id
    assert len(units.store.events) == events_before


def test_the_catalog_is_read_a_page_after_a_product_id(
    handlers: BasketHandlers, units: MemoryUnits
) -> None:
    first = run(handlers.products("", 1))
    rest = run(handlers.products(first[-1].id, 10))

    assert [p.id for p in first] == ["cap"] and [p.id for p in rest] == ["mug"]
    assert units.store.events == []


def test_a_limited_code_is_used_by_a_payment_intent_and_given_back_by_its_deletion(
    units: MemoryUnits, handlers: BasketHandlers
) -> None:
    once = PromotionRule("ONCE", "2 off", Level.CART, Kind.FIXED, Decimal(2), code="ONCE",
                         usage_limit=1)  # fmt: skip
    units.store.use_catalog(Catalog(promotions=(once,)))
    for basket_id in ("b-1", "b-2"):
        new_basket(handlers, basket_id)
        handle(handlers, c.AddBasketItem(basket_id, "mug", 1))
    handle(handlers, c.ApplyPromoCode("b-1", "ONCE"))

    intent = handle(handlers, c.CreatePaymentIntent("b-1"))
    with pytest.raises(NotFound) as used_up:
        handle(handlers, c.ApplyPromoCode("b-2", "ONCE"))
    handle(handlers, c.DeletePaymentIntent("b-1"))

    assert intent.basket.payment_intent.amount.amount.value == "10.50"  # 12.50 − 2.00
    assert used_up.value.reason == "PromoCodeDoesntExist"
    assert units.store.promotion_uses == {(4982, "ONCE"): 0}
    assert handle(handlers, c.ApplyPromoCode("b-2", "ONCE")).basket.promo_code == "ONCE"
