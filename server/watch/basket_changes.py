"""What a committed basket change tells the watch feed: small enough for a NOTIFY payload."""

from __future__ import annotations

import json
from dataclasses import dataclass

# PostgreSQL channel; one per database, shared by every server process.
CHANNEL = "cartservice_basket_changes"


@dataclass(frozen=True)
class BasketChange:
    basket_id: str
    version: int
    # Set for an error of a failed call (SomethingHappened), which changed nothing.
    error_code: str = ""
    message: str = ""
    deleted: bool = False

    def to_payload(self) -> str:
        # NOTIFY payloads are limited to 8000 bytes; ids and messages are a few hundred at most.
        return json.dumps(
            [self.basket_id, self.version, self.error_code, self.message[:1000], self.deleted],
            separators=(",", ":"),
        )

    @classmethod
    def from_payload(cls, payload: str) -> BasketChange:
        basket_id, version, error_code, message, deleted = json.loads(payload)
        return cls(str(basket_id), int(version), str(error_code), str(message), bool(deleted))
