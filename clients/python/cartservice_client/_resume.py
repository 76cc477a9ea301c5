"""What a resuming watch keeps between connections, shared by both clients."""

from __future__ import annotations

from cartservice.basket.v1 import basket_service_pb2 as basket_pb

RECONNECT_MIN_S = 0.1
RECONNECT_MAX_S = 2.0


class Resume:
    """The last version yielded and the pause before the next reconnect."""

    def __init__(self, basket_id: str, from_version: int) -> None:
        self._basket_id = basket_id
        self._seen = from_version
        self._pause = RECONNECT_MIN_S

    def request(self) -> basket_pb.WatchBasketRequest:
        return basket_pb.WatchBasketRequest(basket_id=self._basket_id, from_version=self._seen)

    def fresh(self, message: basket_pb.WatchBasketResponse) -> bool:
        """Whether to pass the message on: a state newer than the last, or a notice (a failed
        call's error code, about the version already seen and never resent)."""
        self._pause = RECONNECT_MIN_S
        if message.HasField("something_happened"):
            return True
        if message.version <= self._seen:
            return False
        self._seen = message.version
        return True

    def pause(self) -> float:
        """Seconds to wait before reconnecting, doubling up to RECONNECT_MAX_S."""
        pause, self._pause = self._pause, min(self._pause * 2, RECONNECT_MAX_S)
        return pause
