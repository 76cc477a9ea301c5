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
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from cartservice.events.v1 import events_pb2 as ev
from cartservice.type.v1 import decimal_pb2
from google.protobuf.message import Message

from server.events.catalog import EXCHANGE, SOURCE
from server.store.messages import enum_prefix as _enum_prefix

DECIMAL = decimal_pb2.Decimal.DESCRIPTOR
LOCAL_ACCOUNT = "000000000000"


def seed_json(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        message_type = field.message_type
        if message_type is not None and message_type.GetOptions().map_entry:
            value_field = message_type.fields_by_name["value"]
            out[field.json_name] = {k: _value(value_field, v) for k, v in value.items()}
        elif field.is_repeated:
            if value:
                out[field.json_name] = [_value(field, v) for v in value]
        elif message_type is not None or field.has_presence:
            if message.HasField(field.name):
                out[field.json_name] = _value(field, value)
        elif field.enum_type is not None:
            if value:
                out[field.json_name] = _value(field, value)
        else:
            out[field.json_name] = value
    return out


def _value(field: Any, value: Any) -> Any:
    if field.message_type is DECIMAL:
        return Decimal(value.value)
    if field.message_type is not None:
        return seed_json(value)
    if field.enum_type is not None:
        return field.enum_type.values_by_number[value].name.removeprefix(
            _enum_prefix(field.enum_type)
        )
    return value


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


def rabbitmq_messages(event: ev.CartEvent) -> list[dict[str, Any]]:
    """Each internal message: exchange, routing key, AMQP properties and the cartPayload body."""
    return [
        {
            "exchange": EXCHANGE,
            "routing_key": message.routing_key,
            "properties": {
                "message_id": message.message_id,
                "content_type": "application/json",
                "delivery_mode": 2,
                "timestamp": event.detail.timestamp // 1000,
            },
            "body": (
                seed_json(message.basket)
                if message.HasField("basket")
                else cart_payload_json(message.cart_payload)
            ),
        }
        for message in event.internal_messages
    ]


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
