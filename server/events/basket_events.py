"""Builds the basket lifecycle events of seed 000 (inside the change's transaction, for the outbox).

EventBridge: source `cartservices`, detail-type the seed's event name (BasketCreated, ...), and
a `detail` shaped like the cart events' with the basket as its payload and the basket id as its
id. RabbitMQ: the routing key below on `ecomm`, with the basket as the body.
"""

from __future__ import annotations

import uuid

from cartservice.basket.v1 import basket_pb2
from cartservice.events.v1 import events_pb2 as ev

from server.auth.identity import Identity
from server.domain.model import Cart

BASKET_CREATED = "BasketCreated"
BASKET_UPDATED = "BasketUpdated"
BASKET_DELETED = "BasketDeleted"
PAYMENT_INTENT_CREATED = "PaymentIntentCreated"
PAYMENT_INTENT_DELETED = "PaymentIntentDeleted"
BASKET_COMPLETE = "BasketComplete"

# Event name → (field of events.v1.Payload, RabbitMQ routing key).
BASKET_EVENTS: dict[str, tuple[str, str]] = {
    BASKET_CREATED: ("basket_created", "basket.created"),
    BASKET_UPDATED: ("basket_updated", "basket.updated"),
    BASKET_DELETED: ("basket_deleted", "basket.deleted"),
    PAYMENT_INTENT_CREATED: ("payment_intent_created", "basket.paymentintent.created"),
    PAYMENT_INTENT_DELETED: ("payment_intent_deleted", "basket.paymentintent.deleted"),
    BASKET_COMPLETE: ("basket_complete", "basket.completed"),
}


def build_basket_event(
    name: str, basket: basket_pb2.Basket, cart: Cart, identity: Identity, now_ms: int
) -> ev.CartEvent:
    payload_field, routing_key = BASKET_EVENTS[name]
    assert cart.id is not None
    detail = ev.EventDetail(
        id=basket.basket_id,
        timestamp=now_ms,
        collection_id=str(cart.collection_id),
        event_type=name,
        user_id=identity.user_id,
        act_on_behalf_of_user=int(identity.user_id != cart.user_id),
        roles=sorted(identity.roles),
        channel=identity.channel,
    )
    getattr(detail.payload, payload_field).CopyFrom(basket)
    return ev.CartEvent(
        event_id=str(uuid.uuid4()),
        cart_id=cart.id,
        detail_type=name,
        detail=detail,
        internal_messages=[
            ev.InternalMessage(routing_key=routing_key, message_id=str(uuid.uuid4()), basket=basket)
        ],
    )
