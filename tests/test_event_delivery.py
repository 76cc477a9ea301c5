"""All 33 operations through a server publishing to real destinations: RabbitMQ receives the 11
kinds of internal messages, and the EventBridge rule (moto) delivers 33 envelopes of seed shape.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from cartservice.basket.v1 import basket_service_pb2 as bp
from cartservice.basket.v1.basket_service_pb2_grpc import BasketServiceStub
from cartservice.cart.v1.cart_service_pb2_grpc import CartServiceStub
from cartservice.cart.v1.catalog_service_pb2_grpc import CatalogServiceStub

from server.store.demo_catalog import GIFT_VOUCHER_50
from tests.brokers import AWS, RABBITMQ_FLAGS, EventBridgeStub, RabbitConsumer, moto_eventbridge
from tests.event_scenario import (
    OPERATIONS,
    fixture,
    new_collection,
    run_all_operations,
    shape_differences,
)
from tests.identities import SERVER_FLAGS, as_caller
from tests.servers import ServerProcess

ROUTING_KEYS = {
    "cart.created", "cart.updated", "cart.deleted", "cartitem.created", "cartitem.updated",
    "cartitem.deleted", "cartpayment.created", "cartpayment.updated", "cartpayment.deleted",
    "cartpromotion.created", "cartpromotion.deleted",
}  # fmt: skip


@pytest.fixture(scope="module")
def eventbridge() -> Iterator[EventBridgeStub]:
    yield from moto_eventbridge()


@pytest.fixture(scope="module")
def broker_server(
    postgres_url: str, eventbridge: EventBridgeStub, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    flags = (
        *SERVER_FLAGS, *RABBITMQ_FLAGS, "--eventbridge-bus", eventbridge.bus,
        "--eventbridge-endpoint-url", eventbridge.endpoint_url,
    )  # fmt: skip
    server = ServerProcess.start(
        tmp_path_factory.mktemp("brokers"), database_url=postgres_url, extra=flags, env=AWS
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def delivered(
    broker_server: ServerProcess, eventbridge: EventBridgeStub
) -> tuple[int, list[Any], list[dict[str, Any]]]:
    consumer = RabbitConsumer()
    try:
        with grpc.insecure_channel(broker_server.address) as channel:
            collection_id = new_collection()
            cart_id = run_all_operations(
                CartServiceStub(channel), CatalogServiceStub(channel), collection_id
            )
        # Every operation but the calculation changes the cart; each adds one part here: 32 messages.
        messages = consumer.receive(lambda body: body["cartId"] == cart_id, expected=32)
    finally:
        consumer.close()
    envelopes = eventbridge.receive(
        lambda e: e["detail"]["collectionId"] == str(collection_id), expected=33
    )
    return cart_id, messages, envelopes


def test_rabbitmq_receives_the_eleven_kinds_of_internal_messages(
    delivered: tuple[int, list[Any], list[dict[str, Any]]],
) -> None:
    cart_id, messages, _ = delivered
    assert len(messages) == 32 and {key for key, _, _ in messages} == ROUTING_KEYS
    for _, properties, body in messages:
        assert properties.delivery_mode == 2 and properties.content_type == "application/json"
        assert properties.message_id and properties.timestamp > 1_700_000_000
        assert set(body) == {
            "userId",
            "cartId",
            "cartItemId",
            "paymentId",
            "paymentType",
            "promotionId",
            "skuIds",
            "cartType",
        }
        assert [type(body[k]) for k in ("userId", "cartId", "cartItemId", "paymentId")] == [int] * 4
        assert isinstance(body["skuIds"], list) and all(isinstance(s, str) for s in body["skuIds"])
        assert (body["userId"], body["cartId"]) == (4523, cart_id)
    assert len({p.message_id for _, p, _ in messages}) == len(messages)
    created_item = next(b for k, _, b in messages if k == "cartitem.created")
    assert created_item["cartItemId"] > 0 and created_item["skuIds"] == ["string"]
    assert (
        next(b for k, _, b in messages if k == "cartpromotion.deleted")["promotionId"] == "Jordan"
    )


def test_eventbridge_delivers_33_envelopes_of_the_seed_shape(
    delivered: tuple[int, list[Any], list[dict[str, Any]]],
) -> None:
    _, _, envelopes = delivered
    by_type = {e["detail-type"]: e for e in envelopes}
    assert len(envelopes) == 33 and len(by_type) == 33
    for operation in OPERATIONS:
        seed = fixture(operation)
        # moto's envelopes lack `account`, which EventBridge itself adds; everything else is ours.
        seed.pop("account")
        assert shape_differences(by_type[seed["detail-type"]], seed) == [], operation


def test_no_event_is_left_behind(broker_server: ServerProcess, delivered: object) -> None:
    assert "will be retried" not in broker_server.log()


BASKET_KEYS = {
    "basket.created", "basket.updated", "basket.deleted", "basket.paymentintent.created",
    "basket.paymentintent.deleted", "basket.completed",
}  # fmt: skip


def _basket_lifecycle(channel: grpc.Channel, collection_id: int) -> tuple[str, str]:
    """Every basket RPC that changes something, on two baskets; answers their ids."""
    baskets = BasketServiceStub(channel)
    me = as_caller("4524", collection_id, ("ROLE_USER",), channel="WEB")
    paid, emptied = f"paid-{collection_id}", f"emptied-{collection_id}"
    calls: list[tuple[str, Any]] = [
        ("CreateBasket", bp.CreateBasketRequest(basket_id=paid, sales_channel_id="web")),
        ("AddItem", bp.AddItemRequest(basket_id=paid, product_id=GIFT_VOUCHER_50)),
        ("ApplyPromoCode", bp.ApplyPromoCodeRequest(basket_id=paid, promo_code="SUMMER20")),
        ("CreatePaymentIntent", bp.CreatePaymentIntentRequest(basket_id=paid)),
        ("DeletePaymentIntent", bp.DeletePaymentIntentRequest(basket_id=paid)),
        ("CreatePaymentIntent", bp.CreatePaymentIntentRequest(basket_id=paid)),
        ("CompleteBasket", bp.CompleteBasketRequest(basket_id=paid, payment_reference="pi_9")),
        ("CreateBasket", bp.CreateBasketRequest(basket_id=emptied, sales_channel_id="web")),
        ("DeleteBasket", bp.DeleteBasketRequest(basket_id=emptied)),
    ]
    for rpc, request in calls:
        getattr(baskets, rpc)(request, metadata=me)
    return paid, emptied


def test_basket_events_reach_rabbitmq_and_eventbridge(
    broker_server: ServerProcess, eventbridge: EventBridgeStub
) -> None:
    consumer = RabbitConsumer()
    collection_id = new_collection()
    try:
        with grpc.insecure_channel(broker_server.address) as channel:
            paid, emptied = _basket_lifecycle(channel, collection_id)
        messages = consumer.receive(
            lambda body: body.get("basketId") in (paid, emptied), expected=13
        )
    finally:
        consumer.close()
    keys = sorted(key for key, _, _ in messages)
    assert set(keys) == BASKET_KEYS
    assert keys.count("basket.updated") == 6 and keys.count("basket.created") == 2
    completed = next(body for key, _, body in messages if key == "basket.completed")
    assert (completed["stage"], completed["quotedTotal"]) == (
        "Settled", {"amount": 45.0, "currency": "USD"},
    )  # fmt: skip

    envelopes = eventbridge.receive(
        lambda e: e["detail"]["collectionId"] == str(collection_id), expected=23
    )
    by_type: dict[str, list[dict[str, Any]]] = {}
    for envelope in envelopes:
        by_type.setdefault(envelope["detail-type"], []).append(envelope)
    assert {name: len(found) for name, found in by_type.items() if "/" not in name} == {
        "BasketCreated": 2, "BasketUpdated": 6, "PaymentIntentCreated": 2,
        "PaymentIntentDeleted": 1, "BasketComplete": 1, "BasketDeleted": 1,
    }  # fmt: skip
    # The cart events of what changed in the baskets' carts, in the seed's shapes.
    assert {name for name in by_type if "/" in name} == {
        "cartservices/cart/create", "cartservices/cartitem/create",
        "cartservices/promotion/create", "cartservices/payment/create",
        "cartservices/cartpayment/delete", "cartservices/cartpayment/patch",
        "cartservices/cart/patchupdate", "cartservices/cart/delete",
    }  # fmt: skip
    for envelope in by_type["BasketComplete"] + by_type["BasketDeleted"]:
        detail = envelope["detail"]
        assert envelope["source"] == "cartservices"
        assert detail["id"] == detail["payload"]["basketId"] in (paid, emptied)
        assert (detail["userId"], detail["eventType"]) == ("4524", envelope["detail-type"])
