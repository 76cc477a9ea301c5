"""Maps protobuf events to the JSON consumers receive, exactly in the seed's shapes.

Seed JSON differs from proto3 JSON: ids are JSON numbers, amounts are JSON numbers (exact
decimals, at least one fraction digit), enums lose their prefix ("ACTIVE"), scalars are always
present even when zero or empty, a message only when set, a list only when it has entries (the
seed's carts carry no empty parts), a map always. The JSON text is written by `dumps`, which
renders Decimals without passing through a float.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from cartservice.events.v1 import events_pb2 as ev
from cartservice.type.v1 import decimal_pb2
from google.protobuf.message import Message

from server.contract.messages import enum_prefix as _enum_prefix
from server.events.catalog import EXCHANGE, SOURCE

DECIMAL = decimal_pb2.Decimal.DESCRIPTOR
LOCAL_ACCOUNT = "000000000000"


def seed_json(message: Message) -> dict[str, Any]:
    plan = _PLANS.get(message.DESCRIPTOR)
    if plan is None:
        plan = _PLANS[message.DESCRIPTOR] = _plan(message.DESCRIPTOR)
    out: dict[str, Any] = {}
    for name, key, kind, convert in plan:
        value = getattr(message, name)
        if kind is _ALWAYS:
            out[key] = value
        elif kind is _MAP:
            out[key] = {k: convert(v) for k, v in value.items()}
        elif kind is _LIST:
            if value:
                out[key] = [convert(v) for v in value]
        elif kind is _PRESENT:
            if message.HasField(name):
                out[key] = convert(value)
        elif value:  # an enum, shown unless unset
            out[key] = convert(value)
    return out


# How each field appears (the rules of the module docstring), planned once per message type.
_ALWAYS, _MAP, _LIST, _PRESENT, _NONZERO = range(5)
Plan = list[tuple[str, str, int, Callable[[Any], Any]]]
_PLANS: dict[Any, Plan] = {}


def _plan(descriptor: Any) -> Plan:
    plan: Plan = []
    for field in descriptor.fields:
        message_type = field.message_type
        if message_type is not None and message_type.GetOptions().map_entry:
            kind, convert = _MAP, _converter(message_type.fields_by_name["value"])
        elif field.is_repeated:
            kind, convert = _LIST, _converter(field)
        elif message_type is not None or field.has_presence:
            kind, convert = _PRESENT, _converter(field)
        elif field.enum_type is not None:
            kind, convert = _NONZERO, _converter(field)
        else:
            kind, convert = _ALWAYS, _identity
        plan.append((field.name, field.json_name, kind, convert))
    return plan


def _identity(value: Any) -> Any:
    return value


def _converter(field: Any) -> Callable[[Any], Any]:
    if field.message_type is DECIMAL:
        return lambda value: Decimal(value.value)
    if field.message_type is not None:
        return seed_json
    if field.enum_type is not None:
        prefix = _enum_prefix(field.enum_type)
        names = {v.number: v.name.removeprefix(prefix) for v in field.enum_type.values}
        return names.__getitem__
    return _identity


def event_detail(event: ev.CartEvent) -> dict[str, Any]:
    """The EventBridge `detail` of seed 003."""
    detail = event.detail
    out: dict[str, Any] = {}
    if detail.HasField("id"):
        out["id"] = detail.id
    payload = getattr(detail.payload, detail.payload.WhichOneof("kind") or "")
    out["timestamp"] = detail.timestamp
    out["payload"] = seed_json(payload)
    out["collectionId"] = detail.collection_id
    out["eventType"] = detail.event_type
    out["userId"] = detail.user_id
    out["actOnBehalfOfUser"] = detail.act_on_behalf_of_user
    out["roles"] = list(detail.roles)
    out["channel"] = detail.channel
    return out


def event_urn(event: ev.CartEvent) -> str:
    return f"urn:cartservice:event:{event.event_id}"


def eventbridge_envelope(
    event: ev.CartEvent, *, region: str, account: str = LOCAL_ACCOUNT
) -> dict[str, Any]:
    """The whole envelope as EventBridge delivers it (what the JSON-lines sink writes)."""
    return {
        "version": "0",
        "id": event.event_id,
        "detail-type": event.detail_type,
        "source": SOURCE,
        "account": account,
        "time": iso_time(event.detail.timestamp),
        "region": region,
        "resources": [event_urn(event)],
        "detail": event_detail(event),
    }


def rabbitmq_messages(event: ev.CartEvent, exchange: str = EXCHANGE) -> list[dict[str, Any]]:
    """Each internal message: exchange, routing key, AMQP properties and the cartPayload body."""
    return [
        {
            "exchange": exchange,
            "routing_key": message.routing_key,
            "properties": _properties(event, message),
            "body": (
                seed_json(message.basket)
                if message.HasField("basket")
                else cart_payload_json(message.cart_payload)
            ),
        }
        for message in event.internal_messages
    ]


def _properties(event: ev.CartEvent, message: ev.InternalMessage) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "message_id": message.message_id,
        "content_type": "application/json",
        "delivery_mode": 2,
        "timestamp": event.detail.timestamp // 1000,
    }
    if event.trace_parent:
        # The request's trace travels in a header; the body stays the seed's contract.
        properties["headers"] = {"traceparent": event.trace_parent}
    return properties


def body_json(body: dict[str, Any]) -> str:
    """JSON text of a RabbitMQ body: the C encoder for a cartPayload (the relay's hot path), the
    exact-decimal writer for a basket (its prices are Decimals, which the C encoder refuses)."""
    try:
        return plain_json(body)
    except TypeError:
        return dumps(body)


def cart_payload_json(payload: ev.CartPayload) -> dict[str, Any]:
    """The seed's cartPayload: every property, always (ids as numbers, absent parts 0/""/[])."""
    return {
        "userId": payload.user_id,
        "cartId": payload.cart_id,
        "cartItemId": payload.cart_item_id,
        "paymentId": payload.payment_id,
        "paymentType": payload.payment_type,
        "promotionId": payload.promotion_id,
        "skuIds": list(payload.sku_ids),
        "cartType": payload.cart_type,
    }


def plain_json(value: Any) -> str:
    """JSON text of a document without Decimals (the C encoder: the relay's hot path)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def iso_time(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def dumps(value: Any) -> str:
    """JSON text in which a Decimal is a number written exactly (at least one fraction digit).

    The C encoder writes the document with each Decimal as a string marked by NUL characters,
    which no stored text can hold (validation refuses them), and the marks are then replaced by
    the numbers: one pass in C instead of a Python call per value."""
    text = json.dumps(_marked(value), ensure_ascii=False, separators=(",", ":"))
    return _MARKED_NUMBER.sub(r"\1", text)


_MARKED_NUMBER = re.compile(r'"\\u0000(-?[0-9]+\.[0-9]+)\\u0000"')


def _marked(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"\0{_decimal_number(value)}\0"
    if isinstance(value, dict):
        return {key: _marked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_marked(item) for item in value]
    return value


def _decimal_number(value: Decimal) -> str:
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0")
    if text.endswith(".") or "." not in text:
        text = text.rstrip(".") + ".0"
    return "0.0" if text in ("-0.0",) else text
