"""The pool reflection serves: JSON names in every file it hands out, and methods as symbols."""

from __future__ import annotations

import pytest
from cartservice.cart.v1 import cart_service_pb2
from google.protobuf import descriptor_pb2, descriptor_pool

from server.api.reflection import ServedPool

POOL = ServedPool(descriptor_pool.Default())


def served(file_name: str) -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto()
    POOL.FindFileByName(file_name).CopyToProto(proto)
    return proto


def test_every_field_carries_its_json_name_nested_ones_too() -> None:
    proto = served("cartservice/cart/v1/cart.proto")
    cart = next(m for m in proto.message_type if m.name == "Cart")
    names = {f.name: f.json_name for f in cart.field}
    assert names["user_id"] == "userId"
    assert names["custom_properties"] == "customProperties"
    entry = next(n for n in cart.nested_type if n.name == "CustomPropertiesEntry")
    assert [f.json_name for f in entry.field] == ["key", "value"]


def test_a_method_name_finds_the_file_of_its_service() -> None:
    found = POOL.FindFileContainingSymbol("cartservice.cart.v1.CartService.CreateCart")
    assert found.name == cart_service_pb2.DESCRIPTOR.name
    assert "cartservice/cart/v1/cart.proto" in {d.name for d in found.dependencies}


def test_unknown_symbols_are_not_found() -> None:
    with pytest.raises(KeyError):
        POOL.FindFileContainingSymbol("cartservice.cart.v1.CartService.NoSuchMethod")
    with pytest.raises(KeyError):
        POOL.FindFileContainingSymbol("cartservice.cart.v1.NoSuchService.CreateCart")
