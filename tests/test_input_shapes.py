"""Input that cannot hurt: text shapes, card numbers, sizes (server.api.input_shapes and limits)."""

from __future__ import annotations

import grpc
import pytest
from cartservice.cart.v1 import cart_pb2 as r
from cartservice.cart.v1 import cart_service_pb2 as pb
from cartservice.cart.v1.cart_service_pb2_grpc import CartServiceStub
from cartservice.type.v1.decimal_pb2 import Decimal as D
from google.rpc import error_details_pb2

from server.api.input_shapes import contains_card_number, luhn_valid, problem_with
from tests.support import create_cart, details, failure, get, violations

# Test card numbers published by card networks for integration testing.
VISA_TEST = "4111111111111111"
AMEX_TEST = "378282246310005"


@pytest.mark.parametrize(
    "number", [VISA_TEST, AMEX_TEST, "4111 1111 1111 1111", "4111-1111-1111-1111"]
)
def test_card_numbers_are_recognised_in_any_usual_grouping(number: str) -> None:
    assert contains_card_number(f"ref {number} end")


@pytest.mark.parametrize(
    "text",
    ["4111111111111112", "dsaderre213211d", "1715235074035", "12345678901234567890123", "idnehyea"],
)
def test_references_that_are_not_cards_pass(text: str) -> None:
    assert not contains_card_number(text)


def test_luhn() -> None:
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")


@pytest.mark.parametrize(
    ("shape", "good", "bad"),
    [
        ("currency", "USD", "usd"),
        ("currency", "EUR", "XYZ"),
        ("email", "fiona.bray@hotmail.us", "fiona.bray"),
        ("phone", "098-122-5812", "call me"),
        ("phone", "+1 (555) 010-9999", "12"),
    ],
)
def test_shapes(shape: str, good: str, bad: str) -> None:
    assert problem_with(shape, good) is None
    assert problem_with(shape, bad)


@pytest.mark.parametrize(
    "field", ["payment_id", "payment_item_id", "transaction_id", "payment_type"]
)
def test_card_number_in_any_payment_field_is_refused_and_not_stored(
    stub: CartServiceStub, field: str
) -> None:
    cart = create_cart(stub)
    payment = r.Payment(amount=D(value="10"), currency="USD", **{field: f"pan {VISA_TEST}"})
    error = failure(
        stub, "CreatePayment", pb.CreatePaymentRequest(cart_id=cart.id, payments=[payment])
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"payments[0].{field}" in violations(error)
    assert VISA_TEST not in error.details()
    assert len(get(stub, cart.id).payments) == len(cart.payments)


def test_bad_currency_email_and_phone_are_named(stub: CartServiceStub) -> None:
    cart = create_cart(stub)
    payment = failure(
        stub,
        "CreatePayment",
        pb.CreatePaymentRequest(
            cart_id=cart.id, payments=[r.Payment(amount=D(value="1"), currency="DOLLARS")]
        ),
    )
    assert "payments[0].currency" in violations(payment)
    preference = r.CommunicationPreference(email="not-an-address", phone="call me maybe")
    error = failure(
        stub,
        "UpdateCommunicationPreference",
        pb.UpdateCommunicationPreferenceRequest(
            cart_id=cart.id, communication_preference=preference
        ),
    )
    assert {"communication_preference.email", "communication_preference.phone"} <= set(
        violations(error)
    )


def test_items_per_cart_limit(stub: CartServiceStub) -> None:
    cart = create_cart(stub)
    sku = r.Sku(sku_id="s", price=D(value="1"))
    items = [r.CartItem(quantity=1, skus=[sku]) for _ in range(99)]
    stub.CreateCartItem(pb.CreateCartItemRequest(cart_id=cart.id, items=items))
    error = failure(
        stub, "CreateCartItem", pb.CreateCartItemRequest(cart_id=cart.id, items=items[:1])
    )
    # Well formed, refused for what the cart holds: a precondition, with its reason.
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "holds 100 items" in (error.details() or "")
    [precondition] = [
        d for d in details(error) if isinstance(d, error_details_pb2.PreconditionFailure)
    ]
    assert precondition.violations[0].type == "CART_FULL"
    assert len(get(stub, cart.id).items) == 100


def test_oversized_request_is_resource_exhausted(stub: CartServiceStub) -> None:
    cart = create_cart(stub)
    huge = {"k": "v" * (2 * 1024 * 1024)}
    error = failure(
        stub,
        "UpdateCartProperties",
        pb.UpdateCartPropertiesRequest(cart_id=cart.id, cart_properties=huge),
    )
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert dict(get(stub, cart.id).custom_properties) == dict(cart.custom_properties)


def test_nul_characters_are_refused_everywhere_text_is_stored(stub: CartServiceStub) -> None:
    # Found by the property-based test: PostgreSQL stores no NUL in text or JSON.
    cart = create_cart(stub)
    for rpc, request, field in [
        (
            "UpdateCartProperties",
            pb.UpdateCartPropertiesRequest(cart_id=cart.id, cart_properties={"k": "a\x00b"}),
            "cart_properties['k']",
        ),
        (
            "UpdateCartProperties",
            pb.UpdateCartPropertiesRequest(cart_id=cart.id, cart_properties={"k\x00": "v"}),
            "cart_properties['k\\x00']",
        ),
        (
            "CreateCartAddress",
            pb.CreateCartAddressRequest(cart_id=cart.id, address=r.Address(city="x\x00")),
            "address.city",
        ),
    ]:
        error = failure(stub, rpc, request)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and field in violations(error), (
            rpc,
            violations(error),
        )
    assert dict(get(stub, cart.id).custom_properties) == dict(cart.custom_properties)
