"""Property-based: generated calls of every BasketService RPC, with edge values and known and
unknown ids, never get INTERNAL or UNKNOWN, and stock never goes negative."""

from __future__ import annotations

import json
import uuid
from typing import Any

import grpc
from cartservice.basket.v1 import basket_service_pb2 as pb
from cartservice.basket.v1.basket_service_pb2_grpc import BasketServiceStub
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.store.demo_catalog import demo_document
from tests.catalog import add_product, stock_of
from tests.servers import ServerProcess
from tests.watching import DEFAULT_METADATA

EXAMPLES = 400
FORBIDDEN = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
BASKETS = [f"robust-{uuid.uuid4().hex[:8]}-{n}" for n in range(3)]
ODD_TEXT = st.one_of(
    st.text(max_size=70), st.sampled_from(["", " ", "\x00", "💳", "a" * 65, "SUMMER20", "summer20"])
)
BASKET_ID = st.one_of(st.sampled_from(BASKETS), ODD_TEXT)
DEMO_SKUS = [sku["skuId"] for sku in json.loads(demo_document())["skus"]]
PRODUCT_ID = st.one_of(st.sampled_from(DEMO_SKUS), ODD_TEXT)
INT = st.one_of(st.sampled_from([0, 1, -1, 20, 21, 2**31 - 1, -(2**31)]), st.integers(-5, 25))
LINE_IDS = st.lists(
    st.one_of(st.sampled_from(["1", "2", "0", "-1", "99999999999999999999", "x"]), ODD_TEXT),
    max_size=4,
)

CALLS = st.one_of(
    st.builds(lambda b, c: ("CreateBasket", pb.CreateBasketRequest(basket_id=b, sales_channel_id=c)),
              BASKET_ID, ODD_TEXT),
    st.builds(lambda b: ("GetBasket", pb.GetBasketRequest(basket_id=b)), BASKET_ID),
    st.builds(lambda b, p, q: ("AddItem", pb.AddItemRequest(basket_id=b, product_id=p, quantity=q)),
              BASKET_ID, PRODUCT_ID, INT),
    st.builds(lambda b, ids: ("RemoveItems", pb.RemoveItemsRequest(basket_id=b, line_item_ids=ids)),
              BASKET_ID, LINE_IDS),
    st.builds(lambda b, c: ("ApplyPromoCode", pb.ApplyPromoCodeRequest(basket_id=b, promo_code=c)),
              BASKET_ID, st.one_of(st.sampled_from(["SUMMER20", "WELCOME10", "SPRING19"]), ODD_TEXT)),
    st.builds(lambda b: ("RemovePromoCode", pb.RemovePromoCodeRequest(basket_id=b)), BASKET_ID),
    st.builds(lambda b: ("CreatePaymentIntent", pb.CreatePaymentIntentRequest(basket_id=b)),
              BASKET_ID),
    st.builds(lambda b: ("DeletePaymentIntent", pb.DeletePaymentIntentRequest(basket_id=b)),
              BASKET_ID),
    st.builds(lambda b, r: ("CompleteBasket",
                            pb.CompleteBasketRequest(basket_id=b, payment_reference=r)),
              BASKET_ID, ODD_TEXT),
    st.builds(lambda b: ("DeleteBasket", pb.DeleteBasketRequest(basket_id=b)), BASKET_ID),
)  # fmt: skip


def test_generated_basket_calls_never_fail_internally(server: ServerProcess) -> None:
    scarce = add_product(server.database_url, stock=2)
    statuses: dict[str, int] = {}
    with grpc.insecure_channel(server.address) as channel:
        baskets = BasketServiceStub(channel)

        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(call=CALLS, use_scarce=st.booleans())
        def check(call: tuple[str, Any], use_scarce: bool) -> None:
            rpc, request = call
            if rpc == "AddItem" and use_scarce:
                request.product_id = scarce
            try:
                getattr(baskets, rpc)(request, metadata=DEFAULT_METADATA, timeout=30)
                code = grpc.StatusCode.OK
            except grpc.RpcError as error:
                code = error.code()  # type: ignore[attr-defined]
            statuses[code.name] = statuses.get(code.name, 0) + 1
            assert code not in FORBIDDEN, (rpc, request)

        check()
    assert statuses.get("OK", 0) > 10, statuses  # some calls reached the baskets
    assert 0 <= stock_of(server.database_url, scarce) <= 2
