"""Every operation's EventBridge envelope has the seed's shape (../shared/fixtures/eventbridge).

Drives all 33 operations through a real server without brokers, reads the envelopes from its
JSON-lines sink, and compares each with its fixture: same keys, nesting and JSON types.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
from cartservice.cart.v1.cart_service_pb2_grpc import CartServiceStub
from cartservice.cart.v1.catalog_service_pb2_grpc import CatalogServiceStub

from server.events.catalog import OPERATIONS as CATALOG
from server.events.envelopes import dumps
from server.events.publishers import _one_line
from tests.event_scenario import (
    OPERATIONS,
    fixture,
    new_collection,
    run_all_operations,
    shape_differences,
)
from tests.servers import ServerProcess


def envelopes_of(
    events_file: Path, collection_id: int, expected: int, timeout: float = 20
) -> dict[str, dict[str, Any]]:
    """The EventBridge envelopes of one collection in the sink, by detail-type, once all arrived."""
    deadline = time.monotonic() + timeout
    found: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        if events_file.exists():
            for line in events_file.read_text().split("\n")[:-1]:
                document = json.loads(line)
                if "detail-type" in document and document["detail"]["collectionId"] == str(
                    collection_id
                ):
                    found[document["detail-type"]] = document
        if len(found) >= expected:
            break
        time.sleep(0.1)
    return found


@pytest.fixture(scope="module")
def scenario(
    stub: CartServiceStub, channel: grpc.Channel, server: ServerProcess
) -> tuple[int, dict[str, dict[str, Any]]]:
    collection_id = new_collection()
    cart_id = run_all_operations(stub, CatalogServiceStub(channel), collection_id)
    return cart_id, envelopes_of(server.events_file, collection_id, expected=len(OPERATIONS))


def test_a_sink_line_holds_one_event_whatever_its_text() -> None:
    # U+2028, U+2029 and NEL are legal raw in JSON strings but break str.splitlines().
    text = _one_line(dumps({"name": "a\u2028b\u2029c\x85d\x1ee"}))
    assert len(text.splitlines()) == 1
    assert json.loads(text) == {"name": "a\u2028b\u2029c\x85d\x1ee"}


def test_the_fixtures_are_the_33_operations_of_the_catalog() -> None:
    assert len(OPERATIONS) == 33 and set(OPERATIONS) == set(CATALOG)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_envelope_has_the_seed_shape(
    scenario: tuple[int, dict[str, dict[str, Any]]], operation: str
) -> None:
    _, envelopes = scenario
    seed = fixture(operation)
    ours = envelopes.get(seed["detail-type"])
    assert ours is not None, (
        f"no {seed['detail-type']} event in the sink (have {sorted(envelopes)})"
    )
    assert shape_differences(ours, seed) == []


def test_envelope_values_follow_the_seed_rules(
    scenario: tuple[int, dict[str, dict[str, Any]]],
) -> None:
    cart_id, envelopes = scenario
    create = envelopes["cartservices/cart/create"]
    assert create["source"] == "cartservices" and create["version"] == "0"
    assert create["resources"] == [f"urn:cartservice:event:{create['id']}"]
    detail = create["detail"]
    assert (detail["userId"], detail["actOnBehalfOfUser"], detail["roles"], detail["channel"]) == (
        "4523",
        0,
        ["ROLE_USER"],
        "CSR",
    )
    assert (
        detail["payload"]["carts"][0]["id"] == cart_id
        and detail["payload"]["carts"][0]["status"] == "ACTIVE"
    )
    assert detail["payload"]["carts"][0]["payments"][0]["amount"] == 100.0
    assert envelopes["cartservices/cartaddress/delete"]["detail"]["id"] == str(cart_id)
    shipping = envelopes["cartservices/cartshipping/create"]["detail"]
    assert shipping["id"] == str(shipping["payload"]["shipping"]["id"])
    assert (
        envelopes["cartservices/cart/delete"]["detail"]["payload"]["responseCode"] == "PRCRDEL0000"
    )
    times = [e["detail"]["timestamp"] for e in envelopes.values()]
    assert all(1_700_000_000_000 < t < 4_000_000_000_000 for t in times)
