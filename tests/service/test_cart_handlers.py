"""Every cart command's handler over an in-memory unit of work (no database, no grpc): the
state it commits, the domain events it records and the outbox rows they become."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from decimal import Decimal
from typing import TypeVar

import pytest

from server.auth.identity import Identity, Role
from server.domain import events as e
from server.domain.errors import FailedPrecondition, NotFound, PermissionDenied
from server.domain.model import (
    Address,
    Cart,
    CartItem,
    CartStatus,
    ChargeLevel,
    CommunicationPreference,
    LoyaltyDetail,
    OtherCharge,
    Payment,
    Promotion,
    Shipping,
    Sku,
)
from server.events.catalog import OPERATIONS
from server.events.mapping import CART_EVENTS
from server.service import commands as c
from server.service.carts import CART_CHANGES, CartHandlers, Changed
from server.store.documents import decode_cart
from server.watch.basket_changes import BasketChange
from tests.memory_store import MemoryUnits

T = TypeVar("T")
NOW = 1_795_420_000_000
OWNER = Identity("7", 4982, frozenset({Role.USER}))
NEIGHBOUR = Identity("8", 4982, frozenset({Role.USER}))  # same collection, another user
STRANGER = Identity("8", 1, frozenset({Role.USER}))  # another collection


def run(call: Awaitable[T]) -> T:
    return asyncio.run(call)  # type: ignore[arg-type]


def item(sku_id: str, price: str = "10.48") -> CartItem:
    return CartItem(quantity=1, skus=[Sku(sku_id=sku_id, price=Decimal(price))])


@pytest.fixture
def units() -> MemoryUnits:
    return MemoryUnits()


@pytest.fixture
def handlers(units: MemoryUnits) -> CartHandlers:
    return CartHandlers(units, clock=lambda: NOW)  # type: ignore[arg-type]


def stored(units: MemoryUnits, cart_id: int) -> Cart:
    version, document, _ = units.store.documents[cart_id]
    return decode_cart(document, version)


def full_cart(handlers: CartHandlers) -> Cart:
    """A cart holding one of every part, so any command has something to act on."""
    cart = Cart(
        type="5506",
        items=[item("a")],
        payments=[Payment(payment_id="p-1", amount=Decimal("5.00"), payment_type="CARD")],
        promotions=[Promotion(promo_code="SAVE5", name="five off")],
        shipping=Shipping(type="DELIVERY"),
        address=Address(city="Austin"),
        communication_preference=CommunicationPreference(email="a@example.com"),
        custom_properties={"gift": "yes"},
        loyalty_details=[LoyaltyDetail(value=Decimal("1.5"), type="POINTS")],
    )
    created = run(handlers.handle(c.CreateCart(cart), OWNER))
    assert created.events == (e.CartCreated(),)
    assert cart.id is not None and cart.items[0].id is not None
    charge = OtherCharge(name="wrap", type=ChargeLevel.CART, charge_value=Decimal("2"))
    run(handlers.handle(c.AddOtherCharges(cart.id, [charge]), OWNER))
    return cart


def commands_for(cart: Cart, charge_id: int) -> dict[type[c.CartCommand], c.CartCommand]:
    assert cart.id is not None
    cart_id, item_id = cart.id, cart.items[0].id or 0
    payment_id, detail_id = cart.payments[0].id or 0, cart.loyalty_details[0].id or 0
    return {
        c.PatchCart: c.PatchCart(cart_id, {"type": "5507"}),
        c.CreateAddress: c.CreateAddress(cart_id, Address()),  # refused: the cart has one
        c.PatchAddress: c.PatchAddress(cart_id, {"city": "Dallas"}),
        c.DeleteAddress: c.DeleteAddress(cart_id),
        c.CreateShipping: c.CreateShipping(cart_id, Shipping()),  # refused: the cart has one
        c.PatchShipping: c.PatchShipping(cart_id, {"type": "PICKUP"}),
        c.DeleteShipping: c.DeleteShipping(cart_id),
        c.AddItems: c.AddItems(cart_id, [item("b", "2.50")]),
        c.PatchItem: c.PatchItem(cart_id, item_id, {"quantity": 3}),
        c.DeleteItem: c.DeleteItem(cart_id, item_id),
        c.ReplaceItemProperties: c.ReplaceItemProperties(cart_id, item_id, {"k": "v"}),
        c.MergeItemProperties: c.MergeItemProperties(cart_id, item_id, {"k": "w"}),
        c.DeleteItemProperties: c.DeleteItemProperties(cart_id, item_id, []),
        c.CreateCartProperties: c.CreateCartProperties(cart_id, {"note": "hi"}),
        c.ReplaceCartProperties: c.ReplaceCartProperties(cart_id, {"only": "this"}),
        c.MergeCartProperties: c.MergeCartProperties(cart_id, {"gift": "no"}),
        c.DeleteCartProperties: c.DeleteCartProperties(cart_id, ["gift"]),
        c.AddOtherCharges: c.AddOtherCharges(
            cart_id, [OtherCharge(name="fee", type=ChargeLevel.ITEM, item_id=item_id)]
        ),
        c.PatchOtherCharge: c.PatchOtherCharge(cart_id, charge_id, {"name": "wrapping"}),
        c.DeleteOtherCharge: c.DeleteOtherCharge(cart_id, charge_id),
        c.AddPayments: c.AddPayments(cart_id, [Payment(payment_id="p-2", amount=Decimal(1))]),
        c.PatchPayment: c.PatchPayment(cart_id, payment_id, {"transaction_id": "t-1"}),
        c.DeletePayment: c.DeletePayment(cart_id, payment_id),
        c.AddPromotions: c.AddPromotions(cart_id, [Promotion(promo_code="TEN")]),
        c.DeletePromotion: c.DeletePromotion(cart_id, "SAVE5"),
        c.ReplaceCommunicationPreference: c.ReplaceCommunicationPreference(
            cart_id, CommunicationPreference(email="b@example.com")
        ),
        c.DeleteCommunicationPreference: c.DeleteCommunicationPreference(cart_id),
        c.AddLoyaltyDetails: c.AddLoyaltyDetails(cart_id, [LoyaltyDetail(points=Decimal(3))]),
        c.PatchLoyaltyDetail: c.PatchLoyaltyDetail(cart_id, detail_id, {"points": Decimal(9)}),
        c.DeleteLoyaltyDetail: c.DeleteLoyaltyDetail(cart_id, detail_id),
        c.CalculateCart: c.CalculateCart(cart_id),
    }


EXPECTED: dict[type[c.CartCommand], type[e.DomainEvent] | type[Exception]] = {
    c.PatchCart: e.CartPatched,
    c.CreateAddress: Exception,
    c.PatchAddress: e.AddressPatched,
    c.DeleteAddress: e.AddressDeleted,
    c.CreateShipping: Exception,
    c.PatchShipping: e.ShippingPatched,
    c.DeleteShipping: e.ShippingDeleted,
    c.AddItems: e.ItemsAdded,
    c.PatchItem: e.ItemPatched,
    c.DeleteItem: e.ItemDeleted,
    c.ReplaceItemProperties: e.ItemPropertiesReplaced,
    c.MergeItemProperties: e.ItemPropertiesMerged,
    c.DeleteItemProperties: e.ItemPropertiesDeleted,
    c.CreateCartProperties: e.CartPropertiesCreated,
    c.ReplaceCartProperties: e.CartPropertiesReplaced,
    c.MergeCartProperties: e.CartPropertiesMerged,
    c.DeleteCartProperties: e.CartPropertiesDeleted,
    c.AddOtherCharges: e.OtherChargesAdded,
    c.PatchOtherCharge: e.OtherChargePatched,
    c.DeleteOtherCharge: e.OtherChargeDeleted,
    c.AddPayments: e.PaymentsAdded,
    c.PatchPayment: e.PaymentPatched,
    c.DeletePayment: e.PaymentDeleted,
    c.AddPromotions: e.PromotionsAdded,
    c.DeletePromotion: e.PromotionDeleted,
    c.ReplaceCommunicationPreference: e.CommunicationPreferenceReplaced,
    c.DeleteCommunicationPreference: e.CommunicationPreferenceDeleted,
    c.AddLoyaltyDetails: e.LoyaltyDetailsAdded,
    c.PatchLoyaltyDetail: e.LoyaltyDetailPatched,
    c.DeleteLoyaltyDetail: e.LoyaltyDetailDeleted,
    c.CalculateCart: e.CartCalculated,
}


def test_every_cart_change_command_has_a_handler_and_every_cart_event_an_envelope() -> None:
    assert set(EXPECTED) == set(CART_CHANGES)
    cart_events = {cls for cls in vars(e).values() if isinstance(cls, type)} - set(
        e.__dict__[name] for name in ("DomainEvent",)
    )
    mapped = set(CART_EVENTS)
    basket_only = {
        e.BasketCreated, e.BasketUpdated, e.BasketDeleted, e.PaymentIntentCreated,
        e.PaymentIntentDeleted, e.BasketCompleted,
    }  # fmt: skip
    assert {cls for cls in cart_events if issubclass(cls, e.DomainEvent)} - basket_only == mapped
    assert len({row.operation.name for row in CART_EVENTS.values()}) == len(OPERATIONS) == 33


@pytest.mark.parametrize("command_type", list(EXPECTED), ids=lambda t: t.__name__)
def test_each_change_commits_its_state_and_records_its_one_event(
    units: MemoryUnits, handlers: CartHandlers, command_type: type[c.CartCommand]
) -> None:
    cart = full_cart(handlers)
    assert cart.id is not None
    before = stored(units, cart.id)
    events_before = len(units.store.events)
    command = commands_for(before, before.other_charges[0].id or 0)[command_type]
    expected = EXPECTED[command_type]

    if expected is Exception:
        with pytest.raises(Exception):  # noqa: B017  (AlreadyExists: the part exists)
            run(handlers.handle(command, OWNER))
        assert stored(units, cart.id).version == before.version
        assert len(units.store.events) == events_before
        return

    done = run(handlers.handle(command, OWNER))

    assert [type(event) for event in done.events] == [expected]
    after = stored(units, cart.id)
    if command_type is c.CalculateCart:
        assert after.version == before.version  # a calculation changes nothing
    else:
        assert after.version == before.version + 1
        assert (after.updated_by, after.updated_time) == ("7", NOW)
    [envelope] = units.store.events[events_before:]
    assert envelope.detail_type == CART_EVENTS[expected].operation.event_type
    assert envelope.cart_id == cart.id and envelope.detail.timestamp == NOW
    # The answer is the payload the event carries.
    field = CART_EVENTS[expected].payload_field
    assert getattr(envelope.detail.payload, field) == done.answer


def test_added_items_get_ids_before_their_event_and_answer_are_rendered(
    units: MemoryUnits, handlers: CartHandlers
) -> None:
    cart = full_cart(handlers)
    assert cart.id is not None
    done: Changed = run(handlers.handle(c.AddItems(cart.id, [item("b"), item("c")]), OWNER))

    [added] = done.events
    assert isinstance(added, e.ItemsAdded)
    ids = [i.id for i in added.items]
    assert all(ids) and len(set(ids)) == 2
    assert [i.id for i in done.answer.items] == ids  # type: ignore[attr-defined]
    assert [i.id for i in stored(units, cart.id).items][-2:] == ids
    messages = units.store.events[-1].internal_messages
    assert [(m.routing_key, m.cart_payload.cart_item_id) for m in messages] == [
        ("cartitem.created", ids[0]),
        ("cartitem.created", ids[1]),
    ]


def test_deleting_an_item_drops_its_item_charges_and_records_the_item(
    units: MemoryUnits, handlers: CartHandlers
) -> None:
    cart = full_cart(handlers)
    assert cart.id is not None
    item_id = stored(units, cart.id).items[0].id or 0
    fee = OtherCharge(name="fee", type=ChargeLevel.ITEM, item_id=item_id)
    run(handlers.handle(c.AddOtherCharges(cart.id, [fee]), OWNER))

    done = run(handlers.handle(c.DeleteItem(cart.id, item_id), OWNER))

    assert done.events == (e.ItemDeleted(item_id),)
    after = stored(units, cart.id)
    assert after.items == [] and [charge.name for charge in after.other_charges] == ["wrap"]
    assert done.answer.time_stamp == str(NOW)  # type: ignore[attr-defined]


def test_a_refused_change_commits_nothing_and_records_no_event(
    units: MemoryUnits, handlers: CartHandlers
) -> None:
    cart = full_cart(handlers)
    assert cart.id is not None
    run(handlers.handle(c.PatchCart(cart.id, {"status": CartStatus.INACTIVE}), OWNER))
    before, events_before = stored(units, cart.id), len(units.store.events)

    with pytest.raises(FailedPrecondition) as refused:
        run(handlers.handle(c.AddItems(cart.id, [item("z")]), OWNER))

    assert refused.value.reason == "CART_NOT_ACTIVE"
    assert stored(units, cart.id).version == before.version
    assert len(units.store.events) == events_before


def test_another_users_cart_is_refused_and_another_collections_not_found(
    units: MemoryUnits, handlers: CartHandlers
) -> None:
    cart = full_cart(handlers)
    assert cart.id is not None
    version = stored(units, cart.id).version

    with pytest.raises(PermissionDenied):
        run(handlers.handle(c.DeleteCart(cart.id), NEIGHBOUR))
    with pytest.raises(NotFound):
        run(handlers.handle(c.PatchCart(cart.id, {"type": "x"}), STRANGER))
    with pytest.raises(NotFound):
        run(handlers.get(cart.id, STRANGER))

    assert stored(units, cart.id).version == version


def test_delete_cart_removes_the_document_and_a_checked_out_cart_stays(
    units: MemoryUnits, handlers: CartHandlers
) -> None:
    first, second = full_cart(handlers), full_cart(handlers)
    assert first.id is not None and second.id is not None

    done = run(handlers.handle(c.DeleteCart(first.id), OWNER))
    assert done.events == (e.CartDeleted(),)
    assert first.id not in units.store.documents
    assert units.store.events[-1].detail_type == "cartservices/cart/delete"

    run(handlers.handle(c.PatchCart(second.id, {"status": CartStatus.CHECKED_OUT}), OWNER))
    with pytest.raises(FailedPrecondition):
        run(handlers.handle(c.DeleteCart(second.id), OWNER))
    assert second.id in units.store.documents


def test_create_cart_takes_its_owner_from_the_caller_not_the_body(
    units: MemoryUnits, handlers: CartHandlers
) -> None:
    cart = Cart(user_id="999", collection_id=1, items=[item("a")])
    done = run(handlers.handle(c.CreateCart(cart), OWNER))

    assert cart.id is not None
    saved = stored(units, cart.id)
    assert (saved.user_id, saved.collection_id, saved.status) == ("7", 4982, CartStatus.ACTIVE)
    assert done.answer.carts[0].id == cart.id  # type: ignore[attr-defined]
    [created] = units.store.events[-1].internal_messages
    assert (created.routing_key, list(created.cart_payload.sku_ids)) == ("cart.created", ["a"])


def test_changes_to_a_baskets_cart_tell_its_watchers(
    units: MemoryUnits, handlers: CartHandlers
) -> None:
    from server.domain.basket_lifecycle import BasketState

    cart = full_cart(handlers)
    assert cart.id is not None
    units.store.baskets["b-1"] = BasketState("b-1", cart.id, "web")

    run(handlers.handle(c.MergeCartProperties(cart.id, {"x": "1"}), OWNER))

    assert units.store.basket_changes[-1] == BasketChange("b-1", stored(units, cart.id).version)


def test_only_the_parts_a_change_touches_are_rewritten_and_every_change_is_kept(
    units: MemoryUnits, handlers: CartHandlers
) -> None:
    cart = full_cart(handlers)
    assert cart.id is not None
    run(handlers.handle(c.AddItems(cart.id, [item("b"), item("c")]), OWNER))
    first, second, third = (i.id or 0 for i in stored(units, cart.id).items)

    run(handlers.handle(c.PatchItem(cart.id, second, {"quantity": 4}), OWNER))
    run(handlers.handle(c.ReplaceItemProperties(cart.id, third, {"k": "v"}), OWNER))
    run(handlers.handle(c.MergeItemProperties(cart.id, third, {"m": "n"}), OWNER))
    run(handlers.handle(c.DeleteItemProperties(cart.id, first, []), OWNER))
    run(handlers.handle(c.MergeCartProperties(cart.id, {"note": "x"}), OWNER))

    after = stored(units, cart.id)
    assert [(i.id, i.quantity, i.custom_properties) for i in after.items] == [
        (first, 1, {}),
        (second, 4, {}),
        (third, 1, {"k": "v", "m": "n"}),
    ]
    assert [s.sku_id for i in after.items for s in i.skus] == ["a", "b", "c"]
    assert after.custom_properties == {"gift": "yes", "note": "x"}
