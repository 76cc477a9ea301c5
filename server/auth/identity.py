"""Who is calling: the verified claims of the caller's token, available to every layer."""

from __future__ import annotations

import contextlib
from contextvars import ContextVar, Token
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    USER = "ROLE_USER"
    CART_ADMIN = "ROLE_CART_ADMIN"
    SUPER_ADMIN = "ROLE_SUPER_ADMIN"


@dataclass(frozen=True, slots=True)
class Identity:
    user_id: str
    collection_id: int
    roles: frozenset[Role]
    channel: str = ""
    # The user a CSR or admin acts for (claim act_on_behalf_of_user), if any.
    act_on_behalf_of_user: str | None = None

    @property
    def is_super_admin(self) -> bool:
        return Role.SUPER_ADMIN in self.roles

    @property
    def is_admin(self) -> bool:
        return Role.CART_ADMIN in self.roles or self.is_super_admin

    @property
    def subject_user(self) -> str:
        """The user whose carts this call is about: the one acted for, else the caller."""
        return self.act_on_behalf_of_user or self.user_id


class _Binding:
    """The caller and the token of the context-variable change that made it the caller, so a
    long-lived call can drop it again (ContextVar.reset needs that token)."""

    __slots__ = ("identity", "token")

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.token: Token[_Binding] | None = None


_current: ContextVar[_Binding] = ContextVar("current_identity")


def bind_caller(identity: Identity) -> None:
    """Makes `identity` the caller of the running RPC (the authentication interceptor's job)."""
    binding = _Binding(identity)
    binding.token = _current.set(binding)


def caller() -> Identity:
    """The verified caller of the running RPC (set by the authentication interceptor)."""
    return _current.get().identity


def current_caller() -> Identity | None:
    """The caller, if the running call has one (health and reflection have none)."""
    binding = _current.get(None)
    return binding.identity if binding is not None else None


def forget_caller() -> None:
    """Drops the caller from the running RPC's context, for a call that outlives its
    authorization check (a WatchBasket stream, open for hours, server.api.basket_watch).
    Harmless if there is nothing to drop or the context is another's."""
    binding = _current.get(None)
    if binding is None or binding.token is None:
        return
    # Set in another context, or already reset: then it stays (memory only).
    with contextlib.suppress(ValueError, RuntimeError):
        _current.reset(binding.token)
