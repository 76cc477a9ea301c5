"""BasketService over a real server (PostgreSQL and SQLite): every RPC and lifecycle transition,
the forbidden ones included, with the seed 002 error codes in google.rpc.ErrorInfo."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import grpc
import pytest
from cartservice.basket.v1 import basket_pb2 as r
from cartservice.basket.v1 import basket_service_pb2 as pb
from cartservice.basket.v1.basket_service_pb2_grpc import BasketServiceStub
from cartservice.cart.v1 import cart_pb2
from cartservice.cart.v1 import cart_service_pb2 as cart_pb
from cartservice.cart.v1.cart_service_pb2_grpc import CartServiceStub
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from server.store.demo_catalog import GIFT_VOUCHER_50
from tests.catalog import add_product, add_promo, stock_of
from tests.identities import as_caller
from tests.servers import ServerProcess

DAY_MS = 86_400_000


def new_basket(baskets: BasketServiceStub, **kwargs: Any) -> r.Basket:
    basket_id = f"b-{uuid.uuid4()}"
    request = pb.CreateBasketRequest(basket_id=basket_id, sales_channel_id="web")
    return baskets.CreateBasket(request, **kwargs).basket


def add(baskets: BasketServiceStub, basket: r.Basket, product: str, quantity: int = 1) -> Any:
    return baskets.AddItem(
        pb.AddItemRequest(basket_id=basket.basket_id, product_id=product, quantity=quantity)
    )


def failure(call: Callable[[], Any]) -> tuple[grpc.StatusCode, str, grpc.RpcError]:
    """The status code and ErrorInfo reason of a call that must fail."""
    with pytest.raises(grpc.RpcError) as raised:
        call()
    error = raised.value
    reason = ""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
    return error.code(), reason, error  # type: ignore[attr-defined]


def amounts(basket: r.Basket) -> list[tuple[str, str]]:
    return [(i.retail_price.amount.value, i.quoted_price.amount.value) for i in basket.items]


# ---- create, get, delete ----


def test_create_basket_is_idempotent_for_its_owner(baskets: BasketServiceStub) -> None:
    created = new_basket(baskets)
    again = baskets.CreateBasket(
        pb.CreateBasketRequest(basket_id=created.basket_id, sales_channel_id="web")
    ).basket
    assert (again.cart_id, again.version, again.stage) == (created.cart_id, 1, "Basket")
    assert created.basket_id and not created.items and not created.HasField("promo_code")


def test_create_basket_with_another_owners_id_is_already_exists(
    baskets: BasketServiceStub,
) -> None:
    created = new_basket(baskets, metadata=as_caller("71"))
    code, _, _ = failure(
        lambda: baskets.CreateBasket(
            pb.CreateBasketRequest(basket_id=created.basket_id, sales_channel_id="web"),
            metadata=as_caller("72"),
        )
    )
    assert code is grpc.StatusCode.ALREADY_EXISTS


@pytest.mark.parametrize(
    ("basket_id", "sales_channel", "field"),
    [("", "web", "basket_id"), ("has space", "web", "basket_id"), ("x" * 65, "web", "basket_id"),
     ("ok-id", "", "sales_channel_id")],
)  # fmt: skip
def test_create_basket_rejects_bad_input_with_field_violations(
    baskets: BasketServiceStub, basket_id: str, sales_channel: str, field: str
) -> None:
    code, _, error = failure(
        lambda: baskets.CreateBasket(
            pb.CreateBasketRequest(basket_id=basket_id, sales_channel_id=sales_channel)
        )
    )
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    bad_request = error_details_pb2.BadRequest()
    assert status is not None and status.details[0].Unpack(bad_request)
    assert [v.field for v in bad_request.field_violations] == [field]


def test_get_unknown_basket_is_not_found(baskets: BasketServiceStub) -> None:
    code, reason, _ = failure(lambda: baskets.GetBasket(pb.GetBasketRequest(basket_id="nope")))
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "BasketNotFound")


def test_another_users_basket_is_permission_denied(baskets: BasketServiceStub) -> None:
    basket = new_basket(baskets, metadata=as_caller("81"))
    code, _, _ = failure(
        lambda: baskets.GetBasket(
            pb.GetBasketRequest(basket_id=basket.basket_id), metadata=as_caller("82")
        )
    )
    assert code is grpc.StatusCode.PERMISSION_DENIED


def test_delete_basket_deletes_it_and_its_cart(
    baskets: BasketServiceStub, stub: CartServiceStub, server: ServerProcess
) -> None:
    basket = new_basket(baskets)
    add(baskets, basket, add_product(server.database_url))
    baskets.DeleteBasket(pb.DeleteBasketRequest(basket_id=basket.basket_id))
    code, _, _ = failure(lambda: baskets.GetBasket(pb.GetBasketRequest(basket_id=basket.basket_id)))
    assert code is grpc.StatusCode.NOT_FOUND
    code, _, _ = failure(lambda: stub.GetCart(cart_pb.GetCartRequest(cart_id=basket.cart_id)))
    assert code is grpc.StatusCode.NOT_FOUND
    # The id is free again.
    again = baskets.CreateBasket(
        pb.CreateBasketRequest(basket_id=basket.basket_id, sales_channel_id="web")
    ).basket
    assert again.version == 1 and not again.items


# ---- items ----


def test_add_item_adds_one_line_per_unit_at_the_retail_price(
    baskets: BasketServiceStub, server: ServerProcess
) -> None:
    product = add_product(server.database_url, price="12.34", provider="north")
    basket = new_basket(baskets)
    response = add(baskets, basket, product, quantity=3)
    lines = response.basket.items
    assert [line.line_item_id for line in lines] == list(response.added_line_item_ids)
    assert {(line.product_id, line.retail_price.amount.value) for line in lines} == {
        (product, "12.34")
    }
    assert response.basket.retail_total.amount.value == "37.02"
    assert response.basket.retail_total.currency == "USD"
    assert response.basket.version == basket.version + 1
    assert [(g.provider, len(g.line_item_ids)) for g in response.basket.provider_baskets] == [
        ("north", 3)
    ]


def test_provider_baskets_group_lines_by_provider(
    baskets: BasketServiceStub, server: ServerProcess
) -> None:
    north = add_product(server.database_url, price="1.00", provider="north")
    south = add_product(server.database_url, price="2.50", provider="south")
    basket = new_basket(baskets)
    add(baskets, basket, north, 2)
    groups = add(baskets, basket, south, 1).basket.provider_baskets
    assert [(g.provider, len(g.line_item_ids), g.quoted_total.amount.value) for g in groups] == [
        ("north", 2, "2.00"),
        ("south", 1, "2.50"),
    ]


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("unknown", (grpc.StatusCode.NOT_FOUND, "UnavailableProduct")),
        ("out_of_stock", (grpc.StatusCode.FAILED_PRECONDITION, "UnavailableProduct")),
        ("other_currency", (grpc.StatusCode.FAILED_PRECONDITION, "UnavailableProduct")),
    ],
)
def test_add_item_refuses_unavailable_products(
    baskets: BasketServiceStub,
    server: ServerProcess,
    setup: str,
    expected: tuple[grpc.StatusCode, str],
) -> None:
    basket = new_basket(baskets)
    add(baskets, basket, add_product(server.database_url, currency="USD"))
    product = {
        "unknown": "no-such-product",
        "out_of_stock": add_product(server.database_url, stock=2),
        "other_currency": add_product(server.database_url, currency="EUR"),
    }[setup]
    quantity = 3 if setup == "out_of_stock" else 1
    code, reason, _ = failure(lambda: add(baskets, basket, product, quantity))
    assert (code, reason) == expected
    assert len(baskets.GetBasket(pb.GetBasketRequest(basket_id=basket.basket_id)).basket.items) == 1


@pytest.mark.parametrize("quantity", [-1, 21])
def test_add_item_rejects_bad_quantities(
    baskets: BasketServiceStub, server: ServerProcess, quantity: int
) -> None:
    basket = new_basket(baskets)
    code, _, _ = failure(lambda: add(baskets, basket, add_product(server.database_url), quantity))
    assert code is grpc.StatusCode.INVALID_ARGUMENT


def test_remove_items_is_all_or_nothing(baskets: BasketServiceStub, server: ServerProcess) -> None:
    basket = new_basket(baskets)
    ids = list(add(baskets, basket, add_product(server.database_url), 3).added_line_item_ids)
    code, reason, _ = failure(
        lambda: baskets.RemoveItems(
            pb.RemoveItemsRequest(basket_id=basket.basket_id, line_item_ids=[ids[0], "999999999"])
        )
    )
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "LineItemNotFound")
    left = baskets.RemoveItems(
        pb.RemoveItemsRequest(basket_id=basket.basket_id, line_item_ids=ids[:2])
    ).basket
    assert [line.line_item_id for line in left.items] == [ids[2]]
    code, _, _ = failure(
        lambda: baskets.RemoveItems(
            pb.RemoveItemsRequest(basket_id=basket.basket_id, line_item_ids=["abc"])
        )
    )
    assert code is grpc.StatusCode.INVALID_ARGUMENT


# ---- promo codes ----


def test_summer20_quotes_the_seed_example(baskets: BasketServiceStub) -> None:
    basket = new_basket(baskets)
    add(baskets, basket, GIFT_VOUCHER_50)
    applied = baskets.ApplyPromoCode(
        pb.ApplyPromoCodeRequest(basket_id=basket.basket_id, promo_code="summer20")
    ).basket
    assert applied.promo_code == "SUMMER20"
    assert [(i.product_name, *a) for i, a in zip(applied.items, amounts(applied), strict=True)] == [
        ("Gift Voucher - $50", "50.00", "45.00")
    ]
    assert applied.quoted_total.amount.value == "45.00"


def test_percent_off_rounds_each_line_half_up_to_cents(
    baskets: BasketServiceStub, server: ServerProcess
) -> None:
    code = add_promo(server.database_url, percent_off=Decimal("10"))
    basket = new_basket(baskets)
    add(baskets, basket, add_product(server.database_url, price="24.99"))
    add(baskets, basket, add_product(server.database_url, price="0.05"))
    applied = baskets.ApplyPromoCode(
        pb.ApplyPromoCodeRequest(basket_id=basket.basket_id, promo_code=code)
    ).basket
    # 24.99 × 0.9 = 22.491 → 22.49; 0.05 × 0.9 = 0.045 → 0.05 (half up)
    assert amounts(applied) == [("24.99", "22.49"), ("0.05", "0.05")]


def test_amount_off_is_shared_so_quoted_prices_add_up_exactly(
    baskets: BasketServiceStub, server: ServerProcess
) -> None:
    code = add_promo(server.database_url, amount_off=Decimal("10.00"), currency="USD")
    basket = new_basket(baskets)
    add(baskets, basket, add_product(server.database_url, price="10.00"), 3)
    applied = baskets.ApplyPromoCode(
        pb.ApplyPromoCodeRequest(basket_id=basket.basket_id, promo_code=code)
    ).basket
    quoted = [Decimal(q) for _, q in amounts(applied)]
    assert sum(quoted) == Decimal("20.00")
    assert sorted(quoted) == [Decimal("6.66"), Decimal("6.67"), Decimal("6.67")]
    assert applied.quoted_total.amount.value == "20.00"


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        (None, grpc.StatusCode.NOT_FOUND),
        ({"percent_off": Decimal(5), "valid_until": 1}, grpc.StatusCode.FAILED_PRECONDITION),
        ({"percent_off": Decimal(5), "valid_from": 4_102_444_800_000},
         grpc.StatusCode.FAILED_PRECONDITION),
        ({"amount_off": Decimal(5), "currency": "USD", "minimum_subtotal": Decimal("100")},
         grpc.StatusCode.FAILED_PRECONDITION),
    ],
)  # fmt: skip
def test_invalid_or_expired_promo_codes_are_promo_code_doesnt_exist(
    baskets: BasketServiceStub,
    server: ServerProcess,
    columns: dict[str, object] | None,
    expected: grpc.StatusCode,
) -> None:
    code = "NOSUCHCODE" if columns is None else add_promo(server.database_url, **columns)
    basket = new_basket(baskets)
    add(baskets, basket, add_product(server.database_url, price="10.00"))
    got, reason, _ = failure(
        lambda: baskets.ApplyPromoCode(
            pb.ApplyPromoCodeRequest(basket_id=basket.basket_id, promo_code=code)
        )
    )
    assert (got, reason) == (expected, "PromoCodeDoesntExist")


def test_a_new_code_replaces_the_old_and_remove_restores_retail_prices(
    baskets: BasketServiceStub, stub: CartServiceStub, server: ServerProcess
) -> None:
    first = add_promo(server.database_url, percent_off=Decimal("50"))
    second = add_promo(server.database_url, percent_off=Decimal("25"))
    basket = new_basket(baskets)
    add(baskets, basket, add_product(server.database_url, price="8.00"))
    for code in (first, second):
        applied = baskets.ApplyPromoCode(
            pb.ApplyPromoCodeRequest(basket_id=basket.basket_id, promo_code=code)
        ).basket
    assert (applied.promo_code, amounts(applied)) == (second, [("8.00", "6.00")])
    cart = stub.GetCart(cart_pb.GetCartRequest(cart_id=basket.cart_id)).cart
    assert [p.promo_code for p in cart.promotions] == [second]
    removed = baskets.RemovePromoCode(pb.RemovePromoCodeRequest(basket_id=basket.basket_id)).basket
    assert not removed.HasField("promo_code") and amounts(removed) == [("8.00", "8.00")]
    # Removing when there is none changes nothing.
    again = baskets.RemovePromoCode(pb.RemovePromoCodeRequest(basket_id=basket.basket_id)).basket
    assert again.version == removed.version


# ---- lifecycle ----


def _locked_basket(baskets: BasketServiceStub, server: ServerProcess) -> tuple[r.Basket, str]:
    product = add_product(server.database_url, price="5.00", stock=10)
    basket = new_basket(baskets)
    add(baskets, basket, product, 2)
    intent = baskets.CreatePaymentIntent(pb.CreatePaymentIntentRequest(basket_id=basket.basket_id))
    assert intent.payment_intent.amount.amount.value == "10.00"
    assert intent.basket.payment_intent.payment_intent_id == intent.payment_intent.payment_intent_id
    return intent.basket, product


def _mutations(basket_id: str, product: str, line: str) -> dict[str, Callable[[Any], Any]]:
    return {
        "AddItem": lambda s: s.AddItem(pb.AddItemRequest(basket_id=basket_id, product_id=product)),
        "RemoveItems": lambda s: s.RemoveItems(
            pb.RemoveItemsRequest(basket_id=basket_id, line_item_ids=[line])
        ),
        "ApplyPromoCode": lambda s: s.ApplyPromoCode(
            pb.ApplyPromoCodeRequest(basket_id=basket_id, promo_code="WELCOME10")
        ),
        "RemovePromoCode": lambda s: s.RemovePromoCode(
            pb.RemovePromoCodeRequest(basket_id=basket_id)
        ),
        "DeleteBasket": lambda s: s.DeleteBasket(pb.DeleteBasketRequest(basket_id=basket_id)),
    }


def test_a_payment_intent_locks_the_basket_until_it_is_deleted(
    baskets: BasketServiceStub, stub: CartServiceStub, server: ServerProcess
) -> None:
    basket, product = _locked_basket(baskets, server)
    line = basket.items[0].line_item_id
    for name, mutation in _mutations(basket.basket_id, product, line).items():
        code, reason, _ = failure(lambda m=mutation: m(baskets))  # type: ignore[misc]
        assert (name, code, reason) == (name, grpc.StatusCode.FAILED_PRECONDITION, "BasketLocked")
    # The cart API obeys the basket's lifecycle too.
    code, reason, _ = failure(
        lambda: stub.DeleteCartItem(
            cart_pb.DeleteCartItemRequest(cart_id=basket.cart_id, item_id=int(line))
        )
    )
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "BasketLocked")
    # A repeated CreatePaymentIntent answers the same intent.
    again = baskets.CreatePaymentIntent(pb.CreatePaymentIntentRequest(basket_id=basket.basket_id))
    assert again.payment_intent == basket.payment_intent
    assert again.basket.version == basket.version

    reopened = baskets.DeletePaymentIntent(
        pb.DeletePaymentIntentRequest(basket_id=basket.basket_id)
    ).basket
    assert not reopened.HasField("payment_intent")
    assert len(add(baskets, reopened, product).basket.items) == 3


def test_complete_settles_the_basket_forever(
    baskets: BasketServiceStub, stub: CartServiceStub, server: ServerProcess
) -> None:
    basket, product = _locked_basket(baskets, server)
    settled = baskets.CompleteBasket(
        pb.CompleteBasketRequest(basket_id=basket.basket_id, payment_reference="pi_1")
    ).basket
    assert (settled.stage, settled.payment_reference) == ("Settled", "pi_1")
    repeat = baskets.CompleteBasket(
        pb.CompleteBasketRequest(basket_id=basket.basket_id, payment_reference="pi_1")
    ).basket
    assert repeat.version == settled.version
    line = basket.items[0].line_item_id
    forbidden = {
        **_mutations(basket.basket_id, product, line),
        "CreatePaymentIntent": lambda s: s.CreatePaymentIntent(
            pb.CreatePaymentIntentRequest(basket_id=basket.basket_id)
        ),
        "DeletePaymentIntent": lambda s: s.DeletePaymentIntent(
            pb.DeletePaymentIntentRequest(basket_id=basket.basket_id)
        ),
        "CompleteBasket with another reference": lambda s: s.CompleteBasket(
            pb.CompleteBasketRequest(basket_id=basket.basket_id, payment_reference="pi_2")
        ),
    }
    for name, mutation in forbidden.items():
        code, reason, _ = failure(lambda m=mutation: m(baskets))  # type: ignore[misc]
        assert (name, code, reason) == (
            name, grpc.StatusCode.FAILED_PRECONDITION, "OrderWasProcessed",
        )  # fmt: skip
    cart = stub.GetCart(cart_pb.GetCartRequest(cart_id=basket.cart_id)).cart
    assert cart.status == cart_pb2.CART_STATUS_CHECKED_OUT
    assert [(p.payment_type, p.transaction_id) for p in cart.payments] == [
        ("PAYMENT_INTENT", "pi_1")
    ]


@pytest.mark.parametrize("rpc", ["DeletePaymentIntent", "CompleteBasket"])
def test_without_a_payment_intent_there_is_nothing_to_delete_or_complete(
    baskets: BasketServiceStub, server: ServerProcess, rpc: str
) -> None:
    basket = new_basket(baskets)
    add(baskets, basket, add_product(server.database_url))
    call = {
        "DeletePaymentIntent": lambda: baskets.DeletePaymentIntent(
            pb.DeletePaymentIntentRequest(basket_id=basket.basket_id)
        ),
        "CompleteBasket": lambda: baskets.CompleteBasket(
            pb.CompleteBasketRequest(basket_id=basket.basket_id, payment_reference="pi")
        ),
    }[rpc]
    code, reason, _ = failure(call)
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "NoPaymentIntent")


def test_an_empty_basket_cannot_be_paid(baskets: BasketServiceStub) -> None:
    basket = new_basket(baskets)
    code, reason, _ = failure(
        lambda: baskets.CreatePaymentIntent(
            pb.CreatePaymentIntentRequest(basket_id=basket.basket_id)
        )
    )
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "EmptyBasket")


# ---- stock ----


def test_stock_is_reserved_released_and_sold(
    baskets: BasketServiceStub, server: ServerProcess
) -> None:
    url = server.database_url
    product = add_product(url, stock=5)
    basket = new_basket(baskets)
    add(baskets, basket, product, 2)
    assert stock_of(url, product) == 5  # adding reserves nothing
    baskets.CreatePaymentIntent(pb.CreatePaymentIntentRequest(basket_id=basket.basket_id))
    assert stock_of(url, product) == 3
    baskets.DeletePaymentIntent(pb.DeletePaymentIntentRequest(basket_id=basket.basket_id))
    assert stock_of(url, product) == 5
    baskets.CreatePaymentIntent(pb.CreatePaymentIntentRequest(basket_id=basket.basket_id))
    baskets.CompleteBasket(
        pb.CompleteBasketRequest(basket_id=basket.basket_id, payment_reference="pi_stock")
    )
    assert stock_of(url, product) == 3


def test_a_payment_intent_reserves_all_provider_baskets_or_nothing(
    baskets: BasketServiceStub, server: ServerProcess
) -> None:
    url = server.database_url
    plenty = add_product(url, stock=50, provider="a")
    scarce = add_product(url, stock=2, provider="b")
    basket, rival = new_basket(baskets), new_basket(baskets)
    add(baskets, basket, plenty, 4)
    add(baskets, basket, scarce, 2)
    add(baskets, rival, scarce, 1)
    baskets.CreatePaymentIntent(pb.CreatePaymentIntentRequest(basket_id=rival.basket_id))
    code, reason, _ = failure(
        lambda: baskets.CreatePaymentIntent(
            pb.CreatePaymentIntentRequest(basket_id=basket.basket_id)
        )
    )
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "UnavailableProduct")
    assert (stock_of(url, plenty), stock_of(url, scarce)) == (50, 1)
    unlocked = baskets.GetBasket(pb.GetBasketRequest(basket_id=basket.basket_id)).basket
    assert not unlocked.HasField("payment_intent")


# ---- one source of truth ----


def test_the_basket_is_a_cart_of_the_cart_service(
    baskets: BasketServiceStub, stub: CartServiceStub, server: ServerProcess
) -> None:
    basket = new_basket(baskets)
    product = add_product(server.database_url, price="3.30")
    add(baskets, basket, product, 2)
    promoted = baskets.ApplyPromoCode(
        pb.ApplyPromoCodeRequest(basket_id=basket.basket_id, promo_code="WELCOME10")
    ).basket
    cart = stub.GetCart(cart_pb.GetCartRequest(cart_id=basket.cart_id)).cart
    assert cart.type == "basket"
    assert cart.custom_properties["basketId"] == basket.basket_id
    lines = [(i.quantity, i.skus[0].product_id, Decimal(i.skus[0].price.value)) for i in cart.items]
    assert lines == [(1, product, Decimal("3.30"))] * 2
    assert [p.promo_code for p in cart.promotions] == ["WELCOME10"]
    # A change through the cart API is a change of the basket.
    stub.DeleteCartItem(cart_pb.DeleteCartItemRequest(cart_id=cart.id, item_id=cart.items[0].id))
    after = baskets.GetBasket(pb.GetBasketRequest(basket_id=basket.basket_id)).basket
    assert [line.line_item_id for line in after.items] == [str(cart.items[1].id)]
    assert after.version > promoted.version
    # The promo code is the cart's promotion: removed there, it is gone from the basket.
    assert amounts(after) == [("3.30", "2.97")]
    stub.DeletePromotion(cart_pb.DeletePromotionRequest(cart_id=cart.id, promo_code="WELCOME10"))
    plain = baskets.GetBasket(pb.GetBasketRequest(basket_id=basket.basket_id)).basket
    assert not plain.HasField("promo_code") and amounts(plain) == [("3.30", "3.30")]


# ---- catalog ----


def test_list_products_pages_through_the_catalog_with_prices_and_stock(
    baskets: BasketServiceStub, server: ServerProcess
) -> None:
    added = add_product(server.database_url, price="7.25", stock=3, name="Tea")
    listed: list[r.Product] = []
    token = ""
    while True:
        page = baskets.ListProducts(pb.ListProductsRequest(page_size=2, page_token=token))
        assert len(page.products) <= 2
        listed += page.products
        token = page.next_page_token
        if not token:
            break

    ids = [p.product_id for p in listed]
    assert ids == sorted(set(ids))
    tea = next(p for p in listed if p.product_id == added)
    assert (tea.product_name, tea.retail_price.amount.value, tea.stock) == ("Tea", "7.25", 3)
    voucher = next(p for p in listed if p.product_id == GIFT_VOUCHER_50)
    assert (voucher.retail_price.amount.value, voucher.retail_price.currency) == ("50.00", "USD")
