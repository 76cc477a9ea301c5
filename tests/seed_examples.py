"""The seed's example data (../shared/fixtures/eventbridge) as protobuf messages.

Seed JSON differs from proto3 JSON in two ways: amounts are bare numbers (ours are Decimal
messages) and enum values lack their prefix ("ACTIVE" vs "CART_STATUS_ACTIVE").
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from cartservice.type.v1 import decimal_pb2
from google.protobuf import json_format
from google.protobuf.message import Message

from server.contract.messages import enum_prefix as _enum_prefix

# shared/ sits beside the project (DEVELOPERS.md); CARTSERVICE_SHARED_DIR points elsewhere.
SHARED = Path(
    os.environ.get("CARTSERVICE_SHARED_DIR", Path(__file__).resolve().parents[2] / "shared")
)
FIXTURES = SHARED / "fixtures" / "eventbridge"
M = TypeVar("M", bound=Message)


def seed_payload(operation: str) -> dict[str, Any]:
    if not FIXTURES.is_dir():
        raise FileNotFoundError(
            f"seed fixtures not found at {FIXTURES}; set CARTSERVICE_SHARED_DIR"
        )
    envelope = json.loads((FIXTURES / f"{operation}.json").read_text())
    payload: dict[str, Any] = envelope["detail"]["payload"]
    return payload


def from_seed(value: dict[str, Any], message_class: type[M]) -> M:
    adapted = _adapt(value, message_class.DESCRIPTOR)
    return json_format.ParseDict(adapted, message_class(), ignore_unknown_fields=False)


def _adapt(value: dict[str, Any], descriptor: Any) -> dict[str, Any]:
    by_json_name = {f.json_name: f for f in descriptor.fields}
    return {key: _adapt_value(v, by_json_name[key]) for key, v in value.items()}


def _adapt_value(value: Any, field: Any) -> Any:
    message_type = field.message_type
    if message_type is not None and message_type.GetOptions().map_entry:
        return value
    if field.is_repeated:
        return [_adapt_single(v, field) for v in value]
    return _adapt_single(value, field)


def _adapt_single(value: Any, field: Any) -> Any:
    if field.message_type is decimal_pb2.Decimal.DESCRIPTOR:
        return {"value": format(Decimal(str(value)), "f")}
    if field.message_type is not None:
        return _adapt(value, field.message_type)
    if field.enum_type is not None:
        return _enum_prefix(field.enum_type) + value
    return value


def decimals(message: Message) -> Any:
    """proto3 JSON of a message with every Decimal as a decimal.Decimal, for exact comparison."""
    return _normalize(json_format.MessageToDict(message))


def _normalize(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"value"} and isinstance(value["value"], str):
            try:
                return Decimal(value["value"])
            except ArithmeticError:
                return value
        return {k: _normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalize(v) for v in value]
    return value
