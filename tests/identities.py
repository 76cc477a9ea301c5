"""Tokens for tests, signed with the secret the test servers are started with."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from server.auth.tokens import mint_hs256

SECRET = "test-secret-4f1c9e7a2b6d8035c1e4a9f7b2d6e8c0"
ISSUER = "cartservice-tests"
AUDIENCE = "cartservice"
SERVER_FLAGS = ("--jwt-issuer", ISSUER, "--jwt-audience", AUDIENCE, "--demo-catalog", "always")
# Who the `stub` fixture calls as, unless a call brings its own metadata.
DEFAULT = {"user_id": "1", "collection_id": 4982, "roles": ("ROLE_SUPER_ADMIN",)}


def token(
    user_id: str = "1",
    collection_id: int = 4982,
    roles: tuple[str, ...] = ("ROLE_USER",),
    *,
    secret: str = SECRET,
    audience: str = AUDIENCE,
    ttl_seconds: int = 600,
    **claims: Any,
) -> str:
    return mint_hs256(
        secret, user_id=user_id, collection_id=collection_id, roles=list(roles),
        issuer=ISSUER, audience=audience, ttl_seconds=ttl_seconds, **claims,
    )  # fmt: skip


def as_caller(
    user_id: str = "1",
    collection_id: int = 4982,
    roles: tuple[str, ...] = ("ROLE_USER",),
    **claims: Any,
) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token(user_id, collection_id, roles, **claims)}"),)


def on_behalf_of(user_id: str, collection_id: int = 4982) -> tuple[tuple[str, str], ...]:
    """A super admin (user 1) acting for `user_id`: the cart it creates belongs to that user."""
    return as_caller("1", collection_id, ("ROLE_SUPER_ADMIN",), act_on_behalf_of_user=user_id)


class DefaultCaller(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):  # type: ignore[misc]
    """Adds the DEFAULT caller's token to calls that bring no authorization metadata."""

    def __init__(self) -> None:
        self._metadata = as_caller(DEFAULT["user_id"], DEFAULT["collection_id"], DEFAULT["roles"])  # type: ignore[arg-type]

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        return continuation(self._with_token(details), request)

    def intercept_unary_stream(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        return continuation(self._with_token(details), request)

    def _with_token(self, details: Any) -> Any:
        metadata = list(details.metadata or ())
        if not any(key == "authorization" for key, _ in metadata):
            metadata.extend(self._metadata)
        return details._replace(metadata=metadata)
