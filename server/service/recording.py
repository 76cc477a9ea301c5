"""The outbox rows of a change: every event its cart recorded, in order, once ids are set."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from cartservice.basket.v1 import basket_pb2
from cartservice.events.v1 import events_pb2 as ev
from google.protobuf.message import Message

from server.contract.cart_responses import response_of
from server.domain.events import DomainEvent
from server.events.mapping import BASKET_EVENTS, Source, basket_envelope, cart_envelope


class Outbox(Protocol):
    def add(self, event: ev.CartEvent, now_ms: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Recorded:
    events: tuple[DomainEvent, ...]
    # The rendered answer of each cart event (the payload its envelope carries), in order.
    answers: tuple[Message, ...]


def record(outbox: Outbox, source: Source, basket: basket_pb2.Basket | None = None) -> Recorded:
    """Adds the envelopes of the events the cart recorded to the outbox, and takes the events
    off the cart (a second record of the same unit of work adds only newer ones)."""
    cart, now_ms = source.cart, source.now_ms
    answers: list[Message] = []
    for event in cart.events:
        if type(event) in BASKET_EVENTS:
            assert basket is not None, "a basket event needs the basket it is about"
            outbox.add(basket_envelope(event, basket, source), now_ms)
        else:
            answer = response_of(event, cart, now_ms)
            answers.append(answer)
            outbox.add(cart_envelope(event, answer, source), now_ms)
    events = tuple(cart.events)
    cart.events.clear()
    return Recorded(events, tuple(answers))
