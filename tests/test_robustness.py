"""Property-based: thousands of generated requests across every RPC never hurt the service.

Each example sends one request: a message generated from the method's descriptor (valid-shaped,
with edge values, card numbers, huge and odd text), or the bytes of one mutated. Whatever comes
back is never INTERNAL or UNKNOWN, the server stays up, and afterwards the database holds only
what successful calls created.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import grpc
import pytest
from cartservice.cart.v1 import cart_service_pb2 as pb
from cartservice.cart.v1.cart_service_pb2_grpc import CartServiceStub
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.identities import as_caller
from tests.support import REQUESTS, Ids, full_cart

# Template requests: every RPC on a cart but deleting the cart itself.
TEMPLATES = sorted(set(REQUESTS) - {"DeleteCart"})

SERVICE = pb.DESCRIPTOR.services_by_name["CartService"]
EXAMPLES = 2100
FORBIDDEN = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}

INT_EDGES = [0, 1, -1, 2**31 - 1, -(2**31), 2**63 - 1, -(2**63)]
TEXT = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        ["", " ", "USD", "usd", "4111111111111111", "a@b.co", "+1 555 0100", "ACTIVE", "\x00", "💳"]
    ),
    st.text(min_size=250, max_size=1100),
)
DECIMAL_TEXT = st.one_of(
    st.tuples(st.integers(-(10**18), 10**18), st.integers(0, 6)).map(
        lambda t: str(Decimal(t[0]).scaleb(-t[1]))
    ),
    st.sampled_from(["", "-0", "1e3", "NaN", "Infinity", "0.0001", "9" * 20, "1.23456", "10.48"]),
)


class KnownCart(int):
    """A slot among the carts the run created (resolved by `build`)."""


class Run:
    """What the run created: cart ids to aim at, and every id a successful call answered with."""

    full_cart: Any = None

    def __init__(self) -> None:
        self.cart_ids: list[int] = []
        self.answered_ids: set[tuple[str, int]] = set()
        self.statuses: dict[str, int] = {}

    def record(self, response: Message) -> None:
        for name, key in ids_in(response):
            self.answered_ids.add((name, key))
            if name == "Cart":
                self.cart_ids.append(key)


def ids_in(message: Message) -> Iterator[tuple[str, int]]:
    for field, value in message.ListFields():
        if field.name == "id" and field.type == FieldDescriptor.TYPE_INT64:
            yield message.DESCRIPTOR.name, value
        elif field.message_type is not None and not field.message_type.GetOptions().map_entry:
            for element in value if field.is_repeated else [value]:
                yield from ids_in(element)


def message_strategy(
    descriptor: Any, run: Run, depth: int = 0
) -> st.SearchStrategy[dict[str, Any]]:
    fields = {f.name: field_strategy(f, run, depth) for f in descriptor.fields if depth < 4}
    return st.fixed_dictionaries({}, optional=fields)


def field_strategy(field: Any, run: Run, depth: int) -> st.SearchStrategy[Any]:
    message_type = field.message_type
    if message_type is not None and message_type.GetOptions().map_entry:
        return st.dictionaries(TEXT, TEXT, max_size=4)
    single = _single(field, run, depth)
    return st.lists(single, max_size=3) if field.is_repeated else single


def _single(field: Any, run: Run, depth: int) -> st.SearchStrategy[Any]:
    if field.message_type is not None:
        if field.message_type.full_name == "cartservice.type.v1.Decimal":
            return DECIMAL_TEXT.map(lambda text: {"value": text})
        if field.message_type.full_name == "google.protobuf.FieldMask":
            names = [f.name for f in SERVICE.methods[0].input_type.fields] + [
                "type",
                "status",
                "quantity",
                "value",
                "bogus.path",
                "",
            ]
            return st.lists(st.sampled_from(names), max_size=3).map(lambda paths: {"paths": paths})
        return message_strategy(field.message_type, run, depth + 1)
    if field.enum_type is not None:
        return st.integers(-1, len(field.enum_type.values) + 1)
    if field.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if field.type == FieldDescriptor.TYPE_STRING:
        return TEXT
    bits = 63 if field.type in (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64) else 31
    edges = st.sampled_from([n for n in INT_EDGES if abs(n) < 2**bits])
    if field.name != "cart_id":
        return st.one_of(edges, st.integers(0, 50))
    # Generation must not depend on what the run created; a slot is resolved to a real id later.
    return st.one_of(edges, st.integers(0, 50), st.integers(0, 63).map(KnownCart))


def build(message_class: type[Message], values: dict[str, Any], run: Run) -> Message:
    message = message_class()
    for name, value in values.items():
        field = message.DESCRIPTOR.fields_by_name[name]
        if isinstance(value, KnownCart):
            value = run.cart_ids[value % len(run.cart_ids)] if run.cart_ids else int(value)
        _assign(message, field, value, run)
    return message


def _assign(message: Message, field: Any, value: Any, run: Run) -> None:
    target = getattr(message, field.name)
    message_type = field.message_type
    if message_type is not None and message_type.GetOptions().map_entry:
        target.update(value)
    elif message_type is not None:
        element_class = GetMessageClass(message_type)
        if field.is_repeated:
            target.extend(build(element_class, v, run) for v in value)
        else:
            target.CopyFrom(build(element_class, value, run))
    elif field.is_repeated:
        target.extend(value)
    elif field.enum_type is not None:
        setattr(message, field.name, value)  # proto3 enums are open: unknown numbers go through
    else:
        setattr(message, field.name, value)


@pytest.fixture(scope="module")
def run(stub: CartServiceStub, fuzz_caller: tuple[tuple[str, str], ...]) -> Run:
    """The run's record, starting with one full cart of the fuzz user for template requests."""
    run = Run()
    run.full_cart = full_cart(stub, fuzz_caller_user(fuzz_caller))
    run.record(run.full_cart)
    return run


def mutate(raw: bytes, data: st.DataObject) -> bytes:
    if not raw:
        return data.draw(st.binary(max_size=64))
    kind = data.draw(st.sampled_from(["flip", "truncate", "append", "random"]))
    if kind == "flip":
        index = data.draw(st.integers(0, len(raw) - 1))
        return raw[:index] + bytes([raw[index] ^ data.draw(st.integers(1, 255))]) + raw[index + 1 :]
    if kind == "truncate":
        return raw[: data.draw(st.integers(0, len(raw) - 1))]
    if kind == "append":
        return raw + data.draw(st.binary(min_size=1, max_size=16))
    return data.draw(st.binary(max_size=256))


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,  # the same examples every run, so CI is reproducible
    suppress_health_check=list(HealthCheck),
)
@given(data=st.data())
def test_generated_requests_never_hurt_the_service(
    channel: grpc.Channel, run: Run, fuzz_caller: tuple[tuple[str, str], ...], data: st.DataObject
) -> None:
    mode = data.draw(st.sampled_from(["generated", "template", "garbage"]), label="mode")
    if mode == "template":
        # A valid request on the fuzz user's full cart, with at most one field generated.
        name = data.draw(st.sampled_from(TEMPLATES), label="template")
        method = SERVICE.methods_by_name[name]
        request = REQUESTS[name](Ids(run.full_cart))
        fields = data.draw(message_strategy(method.input_type, run), label="fields")
        overrides = dict(list(fields.items())[: data.draw(st.integers(0, 1), label="overrides")])
        request.MergeFrom(build(type(request), overrides, run))
    else:
        method = data.draw(st.sampled_from(list(SERVICE.methods)), label="method")
        fields = data.draw(message_strategy(method.input_type, run), label="fields")
        request = build(GetMessageClass(method.input_type), fields, run)
    raw = request.SerializeToString()
    if mode == "garbage":
        raw = mutate(raw, data)
    response_class = GetMessageClass(method.output_type)
    call = channel.unary_unary(
        f"/{SERVICE.full_name}/{method.name}",
        request_serializer=lambda b: b,
        response_deserializer=response_class.FromString,
    )
    try:
        response = call(raw, metadata=fuzz_caller, timeout=30)
    except grpc.RpcError as error:
        run.statuses[error.code().name] = run.statuses.get(error.code().name, 0) + 1
        assert error.code() not in FORBIDDEN, f"{method.name}: {error.code()} {error.details()}"
        return
    run.statuses["OK"] = run.statuses.get("OK", 0) + 1
    run.record(response)


@pytest.fixture(scope="module")
def fuzz_caller() -> tuple[tuple[str, str], ...]:
    return as_caller(f"fuzz-{uuid.uuid4().hex[:8]}")


def fuzz_caller_user(caller: tuple[tuple[str, str], ...]) -> str:
    import jwt

    claims = jwt.decode(caller[0][1].removeprefix("Bearer "), options={"verify_signature": False})
    return str(claims["sub"])


def test_afterwards_the_service_is_up_and_holds_only_what_succeeded(
    channel: grpc.Channel, stub: CartServiceStub, run: Run, fuzz_caller: tuple[tuple[str, str], ...]
) -> None:
    print(f"robustness: {sum(run.statuses.values())} requests, statuses {run.statuses}")
    assert sum(run.statuses.values()) >= 2000, run.statuses
    # Enough successes that the database check below means something, enough refusals that
    # the generated input really was hostile.
    assert run.statuses.get("OK", 0) >= 100, run.statuses
    assert run.statuses.get("INVALID_ARGUMENT", 0) >= 500, run.statuses
    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    stored: set[tuple[str, int]] = set()
    token = ""
    while True:
        page = stub.ListCarts(
            pb.ListCartsRequest(page_size=100, page_token=token), metadata=fuzz_caller
        )
        for cart in page.carts:
            stored |= set(ids_in(cart))
        token = page.next_page_token
        if not token:
            break
    assert stored, "the run created nothing to check"
    unexplained = stored - run.answered_ids
    assert not unexplained, f"rows no successful call answered with: {sorted(unexplained)[:10]}"
