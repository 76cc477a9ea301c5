"""Page tokens: opaque to clients, bound to the listing they continue (its scope and the last
key of the previous page), as text parts joined by ':' (the last part may hold ':' itself)."""

from __future__ import annotations

import base64
import binascii

from server.api.validation import Violations


def page_token(*parts: object) -> str:
    return base64.urlsafe_b64encode(":".join(map(str, parts)).encode()).decode()


def token_parts(token: str, count: int, violations: Violations) -> list[str] | None:
    """The `count` parts of a page token, or None with a violation of `page_token`."""
    try:
        parts = base64.urlsafe_b64decode(token.encode()).decode().split(":", count - 1)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        parts = []
    if len(parts) != count:
        refuse(violations)
        return None
    return parts


def refuse(violations: Violations) -> None:
    violations.add("page_token", "is not a token of this listing")
