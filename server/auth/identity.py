"""Who is calling: the verified claims of the caller's token, available to every layer."""

from __future__ import annotations

from contextvars import ContextVar
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


current_identity: ContextVar[Identity] = ContextVar("current_identity")


def caller() -> Identity:
    """The verified caller of the running RPC (set by the authentication interceptor)."""
    return current_identity.get()
