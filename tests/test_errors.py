"""Bad input, unknown resources and frozen carts get clear statuses, with rich details."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from cartservice.cart.v1 import cart_pb2 as r
from cartservice.cart.v1 import cart_service_pb2 as pb
from cartservice.cart.v1.cart_service_pb2_grpc import CartServiceStub
from cartservice.type.v1.decimal_pb2 import Decimal as D
from google.protobuf.message import Message
from google.rpc import error_details_pb2

from tests.identities import SERVER_FLAGS, DefaultCaller
from tests.servers import ServerProcess
from tests.support import (
    REQUESTS,
    SKU,
    UNKNOWN,
    Ids,
    create_cart,
    details,
    failure,
    full_cart,
    get,
    mask,
    violations,
)

READS = {"GetCart", "CreateCartCalculation"}
# Which part each sub-resource RPC names by id (besides the cart).
SUB_RESOURCE = {
    "PatchUpdateCartItem": "item", "DeleteCartItem": "item", "UpdateCartItemProperties": "item",
    "PatchUpdateCartItemProperties": "item", "DeleteCartItemProperties": "item",
    "PatchUpdateOtherCharges": "charge", "DeleteOtherCharges": "charge",
    "PatchUpdateCartPayment": "payment", "DeleteCartPayment": "payment",
    "PatchUpdateLoyaltyRewards": "loyalty", "DeleteLoyaltyRewards": "loyalty",
    "DeletePromotion": "promo",
}  # fmt: skip
# Singletons whose absence is NOT_FOUND on patch or delete.
SINGLETON_RPCS = {
    "PatchUpdateCartAddress", "DeleteCartAddress", "PatchUpdateCartShipping", "DeleteCartShipping",
    "DeleteCommunicationPreference",
}  # fmt: skip


@pytest.mark.parametrize("rpc", sorted(REQUESTS))
def test_unknown_cart_is_not_found(stub: CartServiceStub, rpc: str) -> None:
    cart = full_cart(stub)
    error = failure(stub, rpc, REQUESTS[rpc](Ids(cart, unknown="cart")))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    info = [d for d in details(error) if isinstance(d, error_details_pb2.ResourceInfo)]
    assert info and info[0].resource_type == "cart" and info[0].resource_name == str(UNKNOWN)


@pytest.mark.parametrize("rpc", sorted(SUB_RESOURCE))
def test_unknown_part_of_a_cart_is_not_found(stub: CartServiceStub, rpc: str) -> None:
    cart = full_cart(stub)
    error = failure(stub, rpc, REQUESTS[rpc](Ids(cart, unknown=SUB_RESOURCE[rpc])))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert len(get(stub, cart.id).items) == len(cart.items)


@pytest.mark.parametrize("rpc", sorted(SINGLETON_RPCS))
def test_missing_singleton_is_not_found(stub: CartServiceStub, rpc: str) -> None:
    cart = full_cart(stub)
    stub.DeleteCartAddress(pb.DeleteCartAddressRequest(cart_id=cart.id))
    stub.DeleteCartShipping(pb.DeleteCartShippingRequest(cart_id=cart.id))
    stub.DeleteCommunicationPreference(pb.DeleteCommunicationPreferenceRequest(cart_id=cart.id))
    error = failure(stub, rpc, REQUESTS[rpc](Ids(cart)))
    assert error.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("rpc", sorted(REQUESTS))
def test_zero_cart_id_is_invalid_argument_naming_the_field(stub: CartServiceStub, rpc: str) -> None:
    request = REQUESTS[rpc](Ids(full_cart(stub)))
    request.cart_id = 0  # type: ignore[attr-defined]
    error = failure(stub, rpc, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "cart_id" in violations(error)


BAD_REQUESTS: dict[str, tuple[Callable[[Ids], Message], str]] = {
    "CreateCart": (lambda i: pb.CreateCartRequest(cart=r.Cart(items=[r.CartItem(quantity=0, skus=[SKU])])), "cart.items[0].quantity"),
    "ListCarts": (lambda i: pb.ListCartsRequest(page_size=1000), "page_size"),
    "PatchUpdateCart": (lambda i: pb.PatchUpdateCartRequest(cart_id=i.cart, cart=r.Cart(type="x"), update_mask=mask("id")), "update_mask"),
    "CreateCartItem": (lambda i: pb.CreateCartItemRequest(cart_id=i.cart, items=[r.CartItem(quantity=1, skus=[r.Sku(sku_id="s", price=D(value="1e3"))])]), "items[0].skus[0].price"),
    "PatchUpdateCartItem": (lambda i: pb.PatchUpdateCartItemRequest(cart_id=i.cart, item_id=i.item, item=r.CartItem(quantity=-1), update_mask=mask("quantity")), "item.quantity"),
    "CreateCartAddress": (lambda i: pb.CreateCartAddressRequest(cart_id=i.cart, address=r.Address(city="c" * 300)), "address.city"),
    "UpdateCartProperties": (lambda i: pb.UpdateCartPropertiesRequest(cart_id=i.cart, cart_properties={str(n): "v" for n in range(51)}), "cart_properties"),
    "CreateOtherCharges": (lambda i: pb.CreateOtherChargesRequest(cart_id=i.cart, other_charges=[r.OtherCharge(name="n", charge_value=D(value="1"))]), "other_charges[0].type"),
    "CreatePayment": (lambda i: pb.CreatePaymentRequest(cart_id=i.cart, payments=[r.Payment(amount=D(value="-5"), currency="USD")]), "payments[0].amount"),
    "CreatePromotion": (lambda i: pb.CreatePromotionRequest(cart_id=i.cart, promotions=[r.Promotion(name="no code")]), "promotions[0].promo_code"),
    "PatchUpdateLoyaltyRewards": (lambda i: pb.PatchUpdateLoyaltyRewardsRequest(cart_id=i.cart, loyalty_detail_id=i.loyalty, loyalty_detail=r.LoyaltyDetail(value=D(value="1.23456")), update_mask=mask("value")), "loyalty_detail.value"),
    "UpdateCommunicationPreference": (lambda i: pb.UpdateCommunicationPreferenceRequest(cart_id=i.cart, communication_preference=r.CommunicationPreference(contact_method=99)), "communication_preference.contact_method"),  # type: ignore[arg-type]
    "PatchUpdateCartItemProperties": (lambda i: pb.PatchUpdateCartItemPropertiesRequest(cart_id=i.cart, item_id=i.item), "item_properties"),
    "CreateCartShipping": (lambda i: pb.CreateCartShippingRequest(cart_id=i.cart, shipping=r.Shipping(delivery_on_or_before=-1)), "shipping.delivery_on_or_before"),
}  # fmt: skip


@pytest.mark.parametrize("rpc", sorted(BAD_REQUESTS))
def test_malformed_field_is_invalid_argument_and_changes_nothing(
    stub: CartServiceStub, rpc: str
) -> None:
    cart = full_cart(stub)
    build, field = BAD_REQUESTS[rpc]
    error = failure(stub, rpc, build(Ids(cart)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in violations(error), violations(error)
    after = get(stub, cart.id)
    after.ClearField("updated_time")
    cart.ClearField("updated_time")
    assert after == cart


def test_every_violation_is_reported_at_once(stub: CartServiceStub) -> None:
    error = failure(
        stub, "CreateCart",
        pb.CreateCartRequest(cart=r.Cart(items=[r.CartItem(quantity=0, skus=[r.Sku(price=D(value="abc"))])])),
    )  # fmt: skip
    assert set(violations(error)) >= {
        "cart.items[0].quantity", "cart.items[0].skus[0].sku_id", "cart.items[0].skus[0].price",
    }  # fmt: skip


def test_duplicates_are_already_exists(stub: CartServiceStub) -> None:
    cart = full_cart(stub)
    for rpc, request in [
        ("CreateCartAddress", REQUESTS["CreateCartAddress"](Ids(cart))),
        ("CreateCartShipping", REQUESTS["CreateCartShipping"](Ids(cart))),
        ("CreatePromotion", pb.CreatePromotionRequest(cart_id=cart.id, promotions=[cart.promotions[0]])),
        ("CreateCartProperties", pb.CreateCartPropertiesRequest(cart_id=cart.id, cart_properties={"additionalProp1": "x"})),
    ]:  # fmt: skip
        assert failure(stub, rpc, request).code() == grpc.StatusCode.ALREADY_EXISTS, rpc


@pytest.mark.parametrize("rpc", sorted(set(REQUESTS) - READS - {"DeleteCart"}))
def test_changing_an_inactive_cart_is_failed_precondition(stub: CartServiceStub, rpc: str) -> None:
    cart = full_cart(stub)
    stub.PatchUpdateCart(
        pb.PatchUpdateCartRequest(cart_id=cart.id, cart=r.Cart(status=r.CART_STATUS_INACTIVE))
    )
    error = failure(stub, rpc, REQUESTS[rpc](Ids(cart)))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    info = [d for d in details(error) if isinstance(d, error_details_pb2.ErrorInfo)]
    assert info and info[0].reason == "CART_NOT_ACTIVE"


def test_inactive_cart_can_be_reopened_and_checked_out_cart_is_final(stub: CartServiceStub) -> None:
    cart = full_cart(stub)

    def set_status(status: int) -> r.Cart:
        request = pb.PatchUpdateCartRequest(cart_id=cart.id, cart=r.Cart(status=status))  # type: ignore[arg-type]
        return stub.PatchUpdateCart(request).cart

    assert set_status(r.CART_STATUS_INACTIVE).status == r.CART_STATUS_INACTIVE
    assert set_status(r.CART_STATUS_ACTIVE).status == r.CART_STATUS_ACTIVE
    assert set_status(r.CART_STATUS_CHECKED_OUT).status == r.CART_STATUS_CHECKED_OUT
    for status in (r.CART_STATUS_ACTIVE, r.CART_STATUS_INACTIVE):
        with pytest.raises(grpc.RpcError) as raised:
            set_status(status)
        assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    delete = failure(stub, "DeleteCart", pb.DeleteCartRequest(cart_id=cart.id))
    assert delete.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert get(stub, cart.id).status == r.CART_STATUS_CHECKED_OUT


def test_item_charge_must_name_an_item_of_the_cart(stub: CartServiceStub) -> None:
    cart = full_cart(stub)
    charge = r.OtherCharge(name="wrap", type=r.CHARGE_LEVEL_ITEM, charge_type=r.CHARGE_TYPE_FLAT)
    missing = failure(
        stub,
        "CreateOtherCharges",
        pb.CreateOtherChargesRequest(cart_id=cart.id, other_charges=[charge]),
    )
    assert missing.code() == grpc.StatusCode.INVALID_ARGUMENT
    charge.item_id = UNKNOWN
    unknown = failure(
        stub,
        "CreateOtherCharges",
        pb.CreateOtherChargesRequest(cart_id=cart.id, other_charges=[charge]),
    )
    assert unknown.code() == grpc.StatusCode.NOT_FOUND


def test_page_token_of_another_listing_is_rejected(stub: CartServiceStub) -> None:
    user = f"pager-{uuid.uuid4().hex}"
    first, second = create_cart(stub, user), create_cart(stub, user)
    page = stub.ListCarts(pb.ListCartsRequest(collection_id=4982, user_id=user, page_size=1))
    assert [c.id for c in page.carts] == [first.id] and page.next_page_token
    error = failure(
        stub, "ListCarts",
        pb.ListCartsRequest(collection_id=4982, user_id="2", page_token=page.next_page_token),
    )  # fmt: skip
    assert "page_token" in violations(error)
    rest = stub.ListCarts(
        pb.ListCartsRequest(collection_id=4982, user_id=user, page_token=page.next_page_token)
    )
    assert [c.id for c in rest.carts] == [second.id] and not rest.next_page_token


def test_error_translation_wraps_each_method_once_and_bounds_what_it_keeps() -> None:
    import asyncio
    from types import SimpleNamespace

    from server.api import errors

    async def handler(request: Any, context: Any) -> Any:
        return request

    interceptor = errors.ErrorTranslationInterceptor()
    details = SimpleNamespace(method="/x.v1.S/M", invocation_metadata=())
    registered = grpc.unary_unary_rpc_method_handler(handler)

    async def twice() -> tuple[Any, Any]:
        async def continuation(_: Any) -> Any:
            return registered

        first = await interceptor.intercept_service(continuation, details)
        return first, await interceptor.intercept_service(continuation, details)

    first, second = asyncio.run(twice())
    assert first is second  # no wrapper made per call (it would live as long as the call)
    assert first is not registered and first.unary_unary is not handler

    async def fresh_each_time(_: Any) -> Any:
        return grpc.unary_unary_rpc_method_handler(lambda request, context: request)

    async def many() -> None:
        for _ in range(errors.MAX_CACHED_HANDLERS + 50):
            await interceptor.intercept_service(fresh_each_time, details)

    asyncio.run(many())
    assert len(interceptor._translated) == errors.MAX_CACHED_HANDLERS


def test_a_stream_that_handles_its_own_errors_is_not_wrapped_and_keeps_a_compact_request() -> None:
    import asyncio
    from types import SimpleNamespace

    from cartservice.basket.v1 import basket_service_pb2 as basket_pb

    from server.api import errors
    from server.api.basket_servicer import BasketServicer
    from server.api.basket_watch import WatchRequest

    servicer = BasketServicer.__new__(BasketServicer)  # only the bound method is needed
    registered = grpc.unary_stream_rpc_method_handler(
        servicer.WatchBasket, request_deserializer=basket_pb.WatchBasketRequest.FromString
    )
    details = SimpleNamespace(method="/cartservice.basket.v1.BasketService/WatchBasket")

    async def continuation(_: Any) -> Any:
        return registered

    handler = asyncio.run(
        errors.ErrorTranslationInterceptor().intercept_service(continuation, details)
    )
    assert handler.unary_stream == servicer.WatchBasket  # no wrapper frame kept per stream
    raw = basket_pb.WatchBasketRequest(basket_id="b-1", from_version=3).SerializeToString()
    assert handler.request_deserializer(raw) == WatchRequest("b-1", 3)
    assert isinstance(handler.request_deserializer(b"\xff\xff"), errors.Undecodable)


def test_a_known_field_sent_with_another_wire_type_is_undecodable_and_unknown_fields_pass() -> None:
    from server.api import errors

    decode = errors.tolerant(pb.CreateCartRequest.FromString)
    assert decode is not None
    wrong = decode(b"\x08\x01")  # field 1 (`cart`, a message) sent as a varint
    assert isinstance(wrong, errors.Undecodable) and "cart" in wrong.problem
    item = r.CartItem(quantity=1).SerializeToString() + b"\x38\x05"  # skus (7) as a varint
    cart = r.Cart(type="t").SerializeToString() + b"\x5a" + bytes([len(item)]) + item  # items
    nested = b"\x0a" + bytes([len(cart)]) + cart
    found = decode(nested)
    assert isinstance(found, errors.Undecodable) and "cart.items[0].skus" in found.problem
    newer_client = pb.CreateCartRequest(cart=r.Cart(type="t")).SerializeToString() + b"\xf8\x06\x01"
    assert isinstance(decode(newer_client), pb.CreateCartRequest)  # field 111: not ours, ignored


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ("psycopg", grpc.StatusCode.UNAVAILABLE),
        ("sqlite", grpc.StatusCode.UNAVAILABLE),
        ("pool timeout", grpc.StatusCode.UNAVAILABLE),
        ("bug", grpc.StatusCode.INTERNAL),
    ],
)
def test_a_database_away_is_unavailable_and_anything_else_internal(
    error: str, expected: grpc.StatusCode
) -> None:
    import sqlite3

    import psycopg

    from server.api import errors

    raised = {
        "psycopg": psycopg.OperationalError("connection refused"),
        "sqlite": sqlite3.OperationalError("database is locked"),
        "pool timeout": TimeoutError(),
        "bug": RuntimeError("a fault of ours"),
    }[error]
    aborted: list[grpc.StatusCode] = []

    class Context:
        async def abort(self, code: grpc.StatusCode, details: str, metadata: Any = None) -> None:
            aborted.append(code)
            raise grpc.aio.AbortError()

    with pytest.raises(grpc.aio.AbortError):
        asyncio.run(errors.abort_for(Context(), raised))  # type: ignore[arg-type]
    assert aborted == [expected]


def test_every_violation_of_a_full_request_reaches_a_default_client_as_a_count(
    stub: CartServiceStub,
) -> None:
    """100 items of 50 skus, each sku wrong twice: 10,000 violations inside the limits."""
    cart = create_cart(stub)
    bad_sku = r.Sku(sku_id="", price=D(value="-1"))
    items = [r.CartItem(quantity=1, skus=[bad_sku] * 50) for _ in range(100)]

    error = failure(stub, "CreateCartItem", pb.CreateCartItemRequest(cart_id=cart.id, items=items))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    shown = violations(error)
    assert "items[0].skus[0].sku_id" in shown and "items[0].skus[0].price" in shown
    [info] = [d for d in details(error) if isinstance(d, error_details_pb2.ErrorInfo)]
    assert info.metadata["violations"] == "10000"
    assert int(info.metadata["shown"]) == len(shown)
    assert len(get(stub, cart.id).items) == len(cart.items)


def test_a_thousand_invalid_items_get_their_error_through_a_default_client(
    tmp_path: Path,
) -> None:
    server = ServerProcess.start(
        tmp_path,
        database_url="",
        extra=(*SERVER_FLAGS, "--max-items-per-request", "1000", "--max-items-per-cart", "1000"),
    )
    try:
        with grpc.insecure_channel(server.address) as channel:  # default metadata limits
            stub = CartServiceStub(grpc.intercept_channel(channel, DefaultCaller()))
            cart = create_cart(stub)
            items = [r.CartItem(quantity=0, skus=[r.Sku(sku_id="")]) for _ in range(1_000)]
            request = pb.CreateCartItemRequest(cart_id=cart.id, items=items)
            for _ in range(20):
                error = failure(stub, "CreateCartItem", request)
                assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
                assert "2000 violations" in (error.details() or "")
    finally:
        server.stop()
