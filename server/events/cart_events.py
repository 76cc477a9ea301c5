"""Builds the CartEvent of one committed operation (inside its transaction, for the outbox)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from cartservice.events.v1 import events_pb2 as ev
from google.protobuf.message import Message

from server.auth.identity import Identity
from server.domain.model import Cart
from server.events.catalog import IDENTIFIERS, OPERATIONS, WITH_DETAIL_ID

Part = dict[str, Any]


def operation_of(request: Message) -> str:
    return request.DESCRIPTOR.name.removesuffix("Request")


def build_cart_event(
    request: Message, response: Message, cart: Cart, identity: Identity, now_ms: int
) -> ev.CartEvent:
    name = operation_of(request)
    operation = OPERATIONS[name]
    assert cart.id is not None
    detail = ev.EventDetail(
        timestamp=now_ms,
        collection_id=str(cart.collection_id),
        event_type=operation.event_type,
        user_id=identity.user_id,
        act_on_behalf_of_user=int(identity.user_id != cart.user_id),
        roles=sorted(identity.roles),
        channel=identity.channel,
    )
    getattr(detail.payload, _snake(name)).CopyFrom(response)
    if name in WITH_DETAIL_ID:
        detail.id = str(IDENTIFIERS.get(name, lambda _: cart.id)(response))
    event = ev.CartEvent(
        event_id=str(uuid.uuid4()), cart_id=cart.id, detail_type=operation.event_type, detail=detail
    )
    if operation.routing_key is not None:
        base: Part = {"user_id": _numeric(cart.user_id), "cart_id": cart.id, "cart_type": cart.type}
        parts = PARTS.get(name, _whole_cart)(request, response)
        event.internal_messages.extend(
            ev.InternalMessage(
                routing_key=operation.routing_key,
                message_id=str(uuid.uuid4()),
                cart_payload=ev.CartPayload(**base, **part),
            )
            for part in parts
        )
    return event


def _item(item: Any) -> Part:
    return {"cart_item_id": item.id, "sku_ids": [sku.sku_id for sku in item.skus]}


def _payment(payment: Any) -> Part:
    return {"payment_id": payment.id, "payment_type": payment.payment_type}


def _whole_cart(request: Any, response: Any) -> list[Part]:
    return [{}]


def _item_of_request(request: Any, response: Any) -> list[Part]:
    return [{"cart_item_id": request.item_id}]


# What each internal message names besides the cart; one message per entry.
PARTS: dict[str, Callable[[Any, Any], list[Part]]] = {
    "CreateCart": lambda q, r: [{"sku_ids": [s.sku_id for i in r.carts[0].items for s in i.skus]}],
    "CreateCartItem": lambda q, r: [_item(item) for item in r.items],
    "PatchUpdateCartItem": lambda q, r: [_item(r.items[0])],
    "DeleteCartItem": _item_of_request,
    "UpdateCartItemProperties": _item_of_request,
    "PatchUpdateCartItemProperties": _item_of_request,
    "DeleteCartItemProperties": _item_of_request,
    "CreatePayment": lambda q, r: [_payment(payment) for payment in r.payment],
    "PatchUpdateCartPayment": lambda q, r: [_payment(r.payment[0])],
    "DeleteCartPayment": lambda q, r: [{"payment_id": q.cart_payment_id}],
    "CreatePromotion": lambda q, r: [{"promotion_id": p.promo_code} for p in r.promotion],
    "DeletePromotion": lambda q, r: [{"promotion_id": q.promo_code}],
}


def _numeric(user_id: str) -> int:
    # cartPayload.userId is a long in the seed; user ids that are not numbers travel as 0.
    return int(user_id) if user_id.isdigit() and len(user_id) < 19 else 0


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
