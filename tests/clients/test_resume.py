"""A resuming watch's bookkeeping: which messages pass, what it asks for after a reconnect."""

from __future__ import annotations

from cartservice.basket.v1 import basket_pb2
from cartservice.basket.v1 import basket_service_pb2 as bpb
from cartservice_client._resume import RECONNECT_MAX_S, Resume


def state(version: int) -> bpb.WatchBasketResponse:
    return bpb.WatchBasketResponse(version=version, basket_updated=basket_pb2.BasketUpdated())


def notice(version: int) -> bpb.WatchBasketResponse:
    return bpb.WatchBasketResponse(
        version=version, something_happened=basket_pb2.SomethingHappened(error_code="X")
    )


def test_states_pass_once_in_order_and_notices_always() -> None:
    resume = Resume("b-1", 0)
    passed = [
        resume.fresh(m) for m in (state(1), state(2), state(2), notice(2), state(1), state(3))
    ]
    assert passed == [True, True, False, True, False, True]
    assert resume.request().from_version == 3
    assert resume.request().basket_id == "b-1"


def test_the_pause_doubles_to_its_cap_and_a_message_resets_it() -> None:
    resume = Resume("b-1", 5)
    pauses = [resume.pause() for _ in range(7)]
    assert pauses[:3] == [0.1, 0.2, 0.4] and pauses[-1] == RECONNECT_MAX_S
    resume.fresh(state(6))
    assert resume.pause() == 0.1
