"""Domain events (server.domain.events) as the seed's envelopes: one row per event type.

A cart event becomes the EventBridge event of its operation (seed 003: type, payload = the
operation's answer, detail.id where the seed's example has one) and its internal RabbitMQ messages
(cartPayload naming the parts touched). A basket event becomes its seed 000 event with the basket
as payload and body.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cartservice.basket.v1 import basket_pb2
from cartservice.events.v1 import events_pb2 as ev
from google.protobuf.message import Message

from server.auth.identity import Identity
from server.domain import events as e
from server.domain.events import DomainEvent
from server.domain.model import Cart
from server.events.catalog import OPERATIONS, WITH_DETAIL_ID, Operation

Part = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Source:
    """Which cart changed, who changed it and when (epoch ms)."""

    cart: Cart
    identity: Identity
    now_ms: int


@dataclass(frozen=True, slots=True)
class _CartRow:
    operation: Operation
    payload_field: str
    # The seed's Identifier where it names a part; None: the cart (or no detail.id at all).
    identifier: Callable[[Any], object] | None
    # What each internal message names besides the cart; one message per entry.
    parts: Callable[[Any, Cart], list[Part]]


def _whole_cart(event: Any, cart: Cart) -> list[Part]:
    return [{}]


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _cart_row(
    name: str,
    parts: Callable[[Any, Cart], list[Part]] = _whole_cart,
    identifier: Callable[[Any], object] | None = None,
) -> _CartRow:
    return _CartRow(OPERATIONS[name], _snake(name), identifier, parts)


def _item(item: Any) -> Part:
    return {"cart_item_id": item.id, "sku_ids": [sku.sku_id for sku in item.skus]}


def _payment(payment: Any) -> Part:
    return {"payment_id": payment.id, "payment_type": payment.payment_type}


def _item_id(event: Any, cart: Cart) -> list[Part]:
    return [{"cart_item_id": event.item_id}]


CART_EVENTS: dict[type[DomainEvent], _CartRow] = {
    e.CartCreated: _cart_row(
        "CreateCart", lambda _, cart: [{"sku_ids": [s.sku_id for i in cart.items for s in i.skus]}]
    ),
    e.CartPatched: _cart_row("PatchUpdateCart"),
    e.CartDeleted: _cart_row("DeleteCart"),
    e.CartCalculated: _cart_row("CreateCartCalculation"),
    e.AddressCreated: _cart_row("CreateCartAddress", identifier=lambda ev: ev.address.id),
    e.AddressPatched: _cart_row("PatchUpdateCartAddress", identifier=lambda ev: ev.address.id),
    e.AddressDeleted: _cart_row("DeleteCartAddress"),
    e.ShippingCreated: _cart_row("CreateCartShipping", identifier=lambda ev: ev.shipping.id),
    e.ShippingPatched: _cart_row("PatchUpdateCartShipping", identifier=lambda ev: ev.shipping.id),
    e.ShippingDeleted: _cart_row("DeleteCartShipping"),
    e.ItemsAdded: _cart_row("CreateCartItem", lambda ev, _: [_item(i) for i in ev.items]),
    e.ItemPatched: _cart_row("PatchUpdateCartItem", lambda ev, _: [_item(ev.item)]),
    e.ItemDeleted: _cart_row("DeleteCartItem", _item_id),
    e.ItemPropertiesReplaced: _cart_row("UpdateCartItemProperties", _item_id),
    e.ItemPropertiesMerged: _cart_row("PatchUpdateCartItemProperties", _item_id),
    e.ItemPropertiesDeleted: _cart_row("DeleteCartItemProperties", _item_id),
    e.CartPropertiesCreated: _cart_row("CreateCartProperties"),
    e.CartPropertiesReplaced: _cart_row("UpdateCartProperties"),
    e.CartPropertiesMerged: _cart_row("PatchUpdateCartProperties"),
    e.CartPropertiesDeleted: _cart_row("DeleteCartProperties"),
    e.OtherChargesAdded: _cart_row("CreateOtherCharges"),
    e.OtherChargePatched: _cart_row("PatchUpdateOtherCharges", identifier=lambda ev: ev.charge.id),
    e.OtherChargeDeleted: _cart_row("DeleteOtherCharges"),
    e.PaymentsAdded: _cart_row("CreatePayment", lambda ev, _: [_payment(p) for p in ev.payments]),
    e.PaymentPatched: _cart_row("PatchUpdateCartPayment", lambda ev, _: [_payment(ev.payment)]),
    e.PaymentDeleted: _cart_row("DeleteCartPayment", lambda ev, _: [{"payment_id": ev.payment_id}]),
    e.PromotionsAdded: _cart_row(
        "CreatePromotion", lambda ev, _: [{"promotion_id": p.promo_code} for p in ev.promotions]
    ),
    e.PromotionDeleted: _cart_row(
        "DeletePromotion", lambda ev, _: [{"promotion_id": ev.promo_code}]
    ),
    e.CommunicationPreferenceReplaced: _cart_row("UpdateCommunicationPreference"),
    e.CommunicationPreferenceDeleted: _cart_row("DeleteCommunicationPreference"),
    e.LoyaltyDetailsAdded: _cart_row("CreateLoyaltyRewards"),
    e.LoyaltyDetailPatched: _cart_row("PatchUpdateLoyaltyRewards"),
    e.LoyaltyDetailDeleted: _cart_row("DeleteLoyaltyRewards"),
}

# Basket event type → (its seed 000 name, field of events.v1.Payload, RabbitMQ routing key).
BASKET_EVENTS: dict[type[DomainEvent], tuple[str, str, str]] = {
    e.BasketCreated: ("BasketCreated", "basket_created", "basket.created"),
    e.BasketUpdated: ("BasketUpdated", "basket_updated", "basket.updated"),
    e.BasketDeleted: ("BasketDeleted", "basket_deleted", "basket.deleted"),
    e.PaymentIntentCreated: (
        "PaymentIntentCreated",
        "payment_intent_created",
        "basket.paymentintent.created",
    ),
    e.PaymentIntentDeleted: (
        "PaymentIntentDeleted",
        "payment_intent_deleted",
        "basket.paymentintent.deleted",
    ),
    e.BasketCompleted: ("BasketComplete", "basket_complete", "basket.completed"),
}


def cart_envelope(event: DomainEvent, payload: Message, source: Source) -> ev.CartEvent:
    """The envelope of a cart event; `payload`: its operation's answer (contract.cart_responses)."""
    row = CART_EVENTS[type(event)]
    operation, cart = row.operation, source.cart
    detail = _detail(source, operation.event_type)
    getattr(detail.payload, row.payload_field).CopyFrom(payload)
    if operation.name in WITH_DETAIL_ID:
        detail.id = str(row.identifier(event) if row.identifier else cart.id)
    envelope = _envelope(cart, operation.event_type, detail)
    if operation.routing_key is not None:
        base: Part = {"user_id": _numeric(cart.user_id), "cart_id": cart.id, "cart_type": cart.type}
        envelope.internal_messages.extend(
            ev.InternalMessage(
                routing_key=operation.routing_key,
                message_id=str(uuid.uuid4()),
                cart_payload=ev.CartPayload(**base, **part),
            )
            for part in row.parts(event, cart)
        )
    return envelope


def basket_envelope(event: DomainEvent, basket: basket_pb2.Basket, source: Source) -> ev.CartEvent:
    name, payload_field, routing_key = BASKET_EVENTS[type(event)]
    detail = _detail(source, name)
    detail.id = basket.basket_id
    getattr(detail.payload, payload_field).CopyFrom(basket)
    envelope = _envelope(source.cart, name, detail)
    envelope.internal_messages.append(
        ev.InternalMessage(routing_key=routing_key, message_id=str(uuid.uuid4()), basket=basket)
    )
    return envelope


def _detail(source: Source, event_type: str) -> ev.EventDetail:
    identity, cart = source.identity, source.cart
    return ev.EventDetail(
        timestamp=source.now_ms,
        collection_id=str(cart.collection_id),
        event_type=event_type,
        user_id=identity.user_id,
        act_on_behalf_of_user=int(identity.user_id != cart.user_id),
        roles=sorted(identity.roles),
        channel=identity.channel,
    )


def _envelope(cart: Cart, detail_type: str, detail: ev.EventDetail) -> ev.CartEvent:
    assert cart.id is not None
    return ev.CartEvent(
        event_id=str(uuid.uuid4()), cart_id=cart.id, detail_type=detail_type, detail=detail
    )


def _numeric(user_id: str) -> int:
    # cartPayload.userId is a long in the seed; user ids that are not numbers travel as 0.
    return int(user_id) if user_id.isdigit() and len(user_id) < 19 else 0
