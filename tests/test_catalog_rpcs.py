"""CatalogService over a real server (PostgreSQL and SQLite): a collection's catalog loaded by its
cart admin prices its carts' calculations, limits quantities and keeps one currency per cart."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import grpc
import pytest
from cartservice.cart.v1 import cart_pb2 as r
from cartservice.cart.v1 import cart_service_pb2 as pb
from cartservice.cart.v1 import catalog_service_pb2 as cpb
from cartservice.cart.v1.cart_service_pb2_grpc import CartServiceStub
from cartservice.cart.v1.catalog_service_pb2_grpc import CatalogServiceStub
from cartservice.type.v1.decimal_pb2 import Decimal as D
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tests.catalog import uses_of
from tests.event_scenario import new_collection
from tests.identities import as_caller
from tests.seed_examples import decimals
from tests.servers import ServerProcess

CATALOG = {
    "currency": "USD",
    "skus": [
        {"skuId": "tee", "title": "Tee", "regularPrice": "13.48", "salePrice": "10.48",
         "quantityLimit": {"minValue": 1, "maxValue": 5}, "minimumAge": 18},
        {"skuId": "yen-tee", "title": "Tee (JP)", "regularPrice": "1500", "currency": "JPY"},
    ],
    "promotions": [{"id": "five", "title": "Default 5% off on Cart", "level": "CART",
                    "kind": "PERCENTAGE", "value": "5"}],
    "taxRates": [{"country": "US", "state": "CA", "category": "standard", "rate": "0.0725"}],
    "deliveryCharges": {"express": "5.00"},
}  # fmt: skip


@pytest.fixture
def collection(channel: grpc.Channel) -> int:
    collection_id = new_collection()
    CatalogServiceStub(channel).LoadCatalog(
        cpb.LoadCatalogRequest(collection_id=collection_id, catalog_json=json.dumps(CATALOG)),
        metadata=as_caller("2", collection_id, ("ROLE_CART_ADMIN",)),
    )
    return collection_id


def reason(error: grpc.RpcError) -> str:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    return ""


def new_cart(stub: CartServiceStub, collection_id: int, quantity: int = 2) -> tuple[Any, Any]:
    me = as_caller("31", collection_id)
    cart = r.Cart(
        type="user",
        items=[r.CartItem(quantity=quantity, skus=[r.Sku(sku_id="tee", price=D(value="0"))])],
        address=r.Address(country="US", state="CA"),
        shipping=r.Shipping(type="Home", selected_method="express"),
    )
    return stub.CreateCart(pb.CreateCartRequest(cart=cart), metadata=me).carts[0], me


def test_the_collections_catalog_prices_the_calculation(
    stub: CartServiceStub, collection: int
) -> None:
    cart, me = new_cart(stub, collection)

    checkout = stub.CreateCartCalculation(
        pb.CreateCartCalculationRequest(cart_id=cart.id), metadata=me
    ).cart_checkout

    value = decimals(checkout.value)
    # 2 × 13.48 = 26.96, sale 2 × 10.48 = 20.96; 5 % = 1.048 → 1.05; tax 7.25 % of 19.91 =
    # 1.443475 → 1.44; express 5.00: 19.91 + 1.44 + 5.00 = 26.35.
    assert (value["originalPrice"], value["markdown"]) == (Decimal("26.96"), Decimal("6.00"))
    assert (value["cartDiscount"], value["priceAfterDiscount"]) == (
        Decimal("1.05"),
        Decimal("19.91"),
    )
    assert (value["taxOnPrice"], value["cartDeliveryCharge"]) == (Decimal("1.44"), Decimal("5.00"))
    assert value["grandTotal"] == Decimal("26.35") == decimals(checkout.payment_value)["bagValue"]
    sku = checkout.items[0].skus[0]
    assert (sku.title, sku.price.value, sku.regular_price.value) == ("Tee", "10.48", "13.48")
    assert (sku.quantity_limit.min_value, sku.quantity_limit.max_value) == (1, 5)
    breakup = checkout.promotion_details.promotions[0].breakup[0]
    assert (breakup.title, breakup.total_value.value) == ("Default 5% off on Cart", "1.05")
    age = checkout.age_verification
    assert (age.required, age.verified, age.required_limit) == (True, False, 18)


def test_a_quantity_over_the_skus_limit_is_refused_naming_sku_and_limit(
    stub: CartServiceStub, collection: int
) -> None:
    cart, me = new_cart(stub, collection)
    too_many = r.CartItem(quantity=6, skus=[r.Sku(sku_id="tee", price=D(value="0"))])

    with pytest.raises(grpc.RpcError) as refused:
        stub.CreateCartItem(
            pb.CreateCartItemRequest(cart_id=cart.id, items=[too_many]), metadata=me
        )

    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION  # type: ignore[attr-defined]
    assert reason(refused.value) == "QUANTITY_LIMIT"
    assert "sku tee" in refused.value.details() and "at most 5" in refused.value.details()  # type: ignore[attr-defined]


def test_a_second_currency_in_a_cart_is_refused(stub: CartServiceStub, collection: int) -> None:
    cart, me = new_cart(stub, collection)
    yen = r.CartItem(quantity=1, skus=[r.Sku(sku_id="yen-tee", price=D(value="0"))])

    with pytest.raises(grpc.RpcError) as refused:
        stub.CreateCartItem(pb.CreateCartItemRequest(cart_id=cart.id, items=[yen]), metadata=me)

    assert reason(refused.value) == "CURRENCY_MISMATCH"
    assert len(stub.GetCart(pb.GetCartRequest(cart_id=cart.id), metadata=me).cart.items) == 1


def test_the_catalog_reads_back_as_loaded_and_only_for_its_admins(
    channel: grpc.Channel, collection: int
) -> None:
    catalogs = CatalogServiceStub(channel)
    request = cpb.GetCatalogRequest(collection_id=collection)

    found = catalogs.GetCatalog(request, metadata=as_caller("2", collection, ("ROLE_CART_ADMIN",)))
    with pytest.raises(grpc.RpcError) as refused:
        catalogs.GetCatalog(request, metadata=as_caller("31", collection))

    assert (found.version, json.loads(found.catalog_json)) == (1, CATALOG)
    assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]


def test_a_document_that_is_not_a_catalog_is_invalid_with_its_paths(channel: grpc.Channel) -> None:
    collection_id = new_collection()
    bad = {"skus": [{"skuId": "a", "regularPrice": "1.00", "salePrice": "2.00"}], "rounding": "UP"}

    with pytest.raises(grpc.RpcError) as refused:
        CatalogServiceStub(channel).LoadCatalog(
            cpb.LoadCatalogRequest(collection_id=collection_id, catalog_json=json.dumps(bad)),
            metadata=as_caller("2", collection_id, ("ROLE_CART_ADMIN",)),
        )

    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    status = rpc_status.from_call(refused.value)  # type: ignore[arg-type]
    assert status is not None
    request = error_details_pb2.BadRequest()
    status.details[0].Unpack(request)
    assert {v.field for v in request.field_violations} == {"skus[0].salePrice", "rounding"}


def test_concurrent_checkouts_never_use_a_limited_promotion_past_its_limit(
    stub: CartServiceStub, channel: grpc.Channel, server: ServerProcess
) -> None:
    collection_id = new_collection()
    limited = {**CATALOG, "promotions": [{"id": "twice", "code": "TWICE", "title": "1.00 off",
               "level": "CART", "kind": "FIXED", "value": "1.00", "usageLimit": 2}]}  # fmt: skip
    CatalogServiceStub(channel).LoadCatalog(
        cpb.LoadCatalogRequest(collection_id=collection_id, catalog_json=json.dumps(limited)),
        metadata=as_caller("2", collection_id, ("ROLE_CART_ADMIN",)),
    )
    carts = []
    for _ in range(6):
        cart, me = new_cart(stub, collection_id, quantity=1)
        stub.CreatePromotion(
            pb.CreatePromotionRequest(
                cart_id=cart.id, promotions=[r.Promotion(promo_code="TWICE")]
            ),
            metadata=me,
        )
        carts.append(cart.id)
    checkout = r.Cart(status=r.CART_STATUS_CHECKED_OUT)

    def check_out(cart_id: int) -> str:
        request = pb.PatchUpdateCartRequest(
            cart_id=cart_id, cart=checkout, update_mask=field_mask_pb2.FieldMask(paths=["status"])
        )
        try:
            stub.PatchUpdateCart(request, metadata=me, timeout=30)
            return "OK"
        except grpc.RpcError as error:
            return reason(error)

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(check_out, carts))
    retried = [check_out(c) for c, outcome in zip(carts, outcomes, strict=True) if outcome != "OK"]

    assert set(outcomes) <= {"OK", "PROMOTION_USED_UP"}, outcomes
    assert retried == ["OK"] * len(retried)  # without the discount, once it is used up
    assert uses_of(server.database_url, collection_id) == {"twice": 2}
