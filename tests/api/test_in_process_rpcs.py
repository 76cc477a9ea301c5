"""CartService and BasketService through grpcio-testing (tests/in_process.py): what a client
sees of validation, status codes and rich error details, without a server process."""

from __future__ import annotations

from decimal import Decimal

import grpc
import pytest
from cartservice.basket.v1 import basket_service_pb2 as bpb
from cartservice.cart.v1 import cart_pb2 as r
from cartservice.cart.v1 import cart_service_pb2 as pb
from cartservice.type.v1.decimal_pb2 import Decimal as D
from google.protobuf import field_mask_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

from server.domain.basket_lifecycle import Product
from tests.in_process import InProcess


def detail(status: status_pb2.Status | None, kind: type[Message]) -> Message:
    assert status is not None
    for packed in status.details:
        if packed.Is(kind.DESCRIPTOR):
            found = kind()
            packed.Unpack(found)
            return found
    raise AssertionError(f"no {kind.__name__} in {status}")


@pytest.fixture
def service() -> InProcess:
    return InProcess()


def new_cart(service: InProcess) -> int:
    item = r.CartItem(quantity=1, skus=[r.Sku(sku_id="a", price=D(value="10.48"))])
    created = service.ok("CreateCart", pb.CreateCartRequest(cart=r.Cart(type="5506", items=[item])))
    return created.carts[0].id  # type: ignore[no-any-return]


def test_a_cart_created_is_read_back_with_its_item_and_its_event_is_recorded(
    service: InProcess,
) -> None:
    cart_id = new_cart(service)

    cart = service.ok("GetCart", pb.GetCartRequest(cart_id=cart_id)).cart

    assert (cart.id, cart.user_id, cart.status) == (cart_id, "7", r.CART_STATUS_ACTIVE)
    assert [s.price.value for s in cart.items[0].skus] == ["10.48"]
    assert [e.detail_type for e in service.units.store.events] == ["cartservices/cart/create"]


def test_every_invalid_field_is_named_in_one_invalid_argument(service: InProcess) -> None:
    bad = r.CartItem(quantity=0, skus=[r.Sku(sku_id="a", price=D(value="1,5"))])

    _, code, status = service.call("CreateCartItem", pb.CreateCartItemRequest(items=[bad]))

    assert code is grpc.StatusCode.INVALID_ARGUMENT
    fields = {v.field for v in detail(status, error_details_pb2.BadRequest).field_violations}  # type: ignore[attr-defined]
    assert {"cart_id", "items[0].quantity", "items[0].skus[0].price"} <= fields
    assert service.units.store.events == []


def test_a_missing_cart_is_not_found_with_the_resource_named(service: InProcess) -> None:
    _, code, status = service.call("GetCart", pb.GetCartRequest(cart_id=424242))

    assert code is grpc.StatusCode.NOT_FOUND
    info = detail(status, error_details_pb2.ResourceInfo)
    assert (info.resource_type, info.resource_name) == ("cart", "424242")  # type: ignore[attr-defined]


def test_a_change_to_an_inactive_cart_is_a_failed_precondition_with_its_reason(
    service: InProcess,
) -> None:
    cart_id = new_cart(service)
    service.ok(
        "PatchUpdateCart",
        pb.PatchUpdateCartRequest(
            cart_id=cart_id,
            cart=r.Cart(status=r.CART_STATUS_INACTIVE),
            update_mask=field_mask_pb2.FieldMask(paths=["status"]),
        ),
    )

    _, code, status = service.call(
        "CreatePromotion",
        pb.CreatePromotionRequest(cart_id=cart_id, promotions=[r.Promotion(promo_code="X")]),
    )

    assert code is grpc.StatusCode.FAILED_PRECONDITION
    assert detail(status, error_details_pb2.ErrorInfo).reason == "CART_NOT_ACTIVE"  # type: ignore[attr-defined]


def test_another_users_cart_is_permission_denied_and_unchanged(service: InProcess) -> None:
    cart_id = new_cart(service)

    _, code, status = service.call(
        "DeleteCart", pb.DeleteCartRequest(cart_id=cart_id), caller="neighbour"
    )

    assert code is grpc.StatusCode.PERMISSION_DENIED
    assert detail(status, error_details_pb2.ErrorInfo).reason == "PERMISSION_DENIED"  # type: ignore[attr-defined]
    assert service.ok("GetCart", pb.GetCartRequest(cart_id=cart_id)).cart.id == cart_id


def test_a_delete_answers_the_seed_receipt(service: InProcess) -> None:
    cart_id = new_cart(service)

    answer = service.ok("DeleteCart", pb.DeleteCartRequest(cart_id=cart_id))

    assert (answer.response_code, answer.time_stamp) == ("PRCRDEL0000", "1795420000000")
    _, code, _ = service.call("GetCart", pb.GetCartRequest(cart_id=cart_id))
    assert code is grpc.StatusCode.NOT_FOUND


def test_a_basket_takes_a_product_and_refuses_an_unknown_one_with_the_seed_code(
    service: InProcess,
) -> None:
    service.ok("CreateBasket", bpb.CreateBasketRequest(basket_id="b-1", sales_channel_id="web"))

    added = service.ok("AddItem", bpb.AddItemRequest(basket_id="b-1", product_id="mug"))
    _, code, status = service.call(
        "AddItem", bpb.AddItemRequest(basket_id="b-1", product_id="gone")
    )

    assert [line.product_id for line in added.basket.items] == ["mug"]
    assert list(added.added_line_item_ids) == [added.basket.items[0].line_item_id]
    assert code is grpc.StatusCode.NOT_FOUND
    assert detail(status, error_details_pb2.ErrorInfo).reason == "UnavailableProduct"  # type: ignore[attr-defined]


def test_basket_requests_are_validated_before_anything_is_read(service: InProcess) -> None:
    _, code, status = service.call(
        "RemoveItems", bpb.RemoveItemsRequest(basket_id="no spaces", line_item_ids=["x", "-1"])
    )

    assert code is grpc.StatusCode.INVALID_ARGUMENT
    fields = {v.field for v in detail(status, error_details_pb2.BadRequest).field_violations}  # type: ignore[attr-defined]
    assert fields == {"basket_id", "line_item_ids[0]", "line_item_ids[1]"}


def test_a_basket_id_of_another_user_is_already_taken(service: InProcess) -> None:
    service.ok("CreateBasket", bpb.CreateBasketRequest(basket_id="b-1", sales_channel_id="web"))

    _, code, status = service.call(
        "CreateBasket",
        bpb.CreateBasketRequest(basket_id="b-1", sales_channel_id="web"),
        caller="neighbour",
    )

    assert code is grpc.StatusCode.ALREADY_EXISTS
    assert detail(status, error_details_pb2.ResourceInfo).resource_name == "b-1"  # type: ignore[attr-defined]


def test_the_catalog_is_listed_a_page_at_a_time_in_product_id_order(service: InProcess) -> None:
    for name in ("cap", "tea"):
        service.units.store.add_product(Product(name, name.title(), Decimal("3.10"), "USD", "x", 2))

    first = service.ok("ListProducts", bpb.ListProductsRequest(page_size=2))
    second = service.ok(
        "ListProducts", bpb.ListProductsRequest(page_size=2, page_token=first.next_page_token)
    )

    assert [p.product_id for p in first.products] == ["cap", "mug"]
    assert [p.product_id for p in second.products] == ["tea"] and not second.next_page_token
    mug = first.products[1]
    assert (mug.product_name, mug.retail_price.amount.value, mug.stock) == ("Mug", "12.50", 5)


def test_a_products_page_with_a_foreign_token_or_size_is_invalid(service: InProcess) -> None:
    request = bpb.ListProductsRequest(page_size=101, page_token="bm90LWEtdG9rZW4=")

    _, code, status = service.call("ListProducts", request)

    assert code is grpc.StatusCode.INVALID_ARGUMENT
    fields = {v.field for v in detail(status, error_details_pb2.BadRequest).field_violations}  # type: ignore[attr-defined]
    assert fields == {"page_size", "page_token"}
