"""The handlers of cart commands (server.service.commands), keyed by command type.

Every change runs in one unit of work (UnitOfWorkFactory.run: in a group commit, or alone with
the cart row-locked; either way concurrent changes to one cart never overwrite each other), one
operation of server.domain.cart_operations
changes it and records its event, the unit of work flushes (new parts get their ids), the event's
envelope goes to the outbox, and the transaction commits before anyone sees the answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cartservice.cart.v1 import cart_pb2
from google.protobuf.message import Message

from server.auth import access
from server.auth.identity import Identity
from server.domain import basket_lifecycle
from server.domain import cart_operations as ops
from server.domain.basket_lifecycle import BasketState
from server.domain.cart_operations import Stamp
from server.domain.catalog import EMPTY, Catalog
from server.domain.events import DomainEvent
from server.domain.model import Cart, CartStatus
from server.events.mapping import Source
from server.service import commands as c
from server.service.pricing import redeem_promotions
from server.service.recording import record
from server.store.unit_of_work import UnitOfWork, UnitOfWorkFactory
from server.watch.basket_changes import BasketChange

Apply = Callable[[Any, Cart, Stamp, "Rules"], Any]


def epoch_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class CartLimits:
    """Rules of a cart that are settings (--max-items-per-cart, --max-quantity)."""

    items_per_cart: int = 100
    quantity: int = 10_000


DEFAULT_LIMITS = CartLimits()


@dataclass(frozen=True, slots=True)
class Rules:
    """What an operation checks besides the cart: the settings, and the catalog that prices
    the cart (EMPTY for the commands that need none)."""

    limits: CartLimits
    catalog: Catalog = EMPTY


@dataclass(frozen=True, slots=True)
class Changed:
    """What a command did: the events it recorded, the answer its operation renders (the
    payload of its event) and when (epoch ms)."""

    events: tuple[DomainEvent, ...]
    answer: Message
    now_ms: int


# One entry per command that changes an existing cart: the domain operation it runs.
CART_CHANGES: dict[type[c.CartCommand], Apply] = {
    c.PatchCart: lambda cmd, cart, s, _: ops.patch_cart(cart, cmd.changes, s),
    c.CreateAddress: lambda cmd, cart, s, _: ops.create_address(cart, cmd.address, s),
    c.PatchAddress: lambda cmd, cart, s, _: ops.patch_address(cart, cmd.changes, s),
    c.DeleteAddress: lambda cmd, cart, s, _: ops.delete_address(cart, s),
    c.CreateShipping: lambda cmd, cart, s, _: ops.create_shipping(cart, cmd.shipping, s),
    c.PatchShipping: lambda cmd, cart, s, _: ops.patch_shipping(cart, cmd.changes, s),
    c.DeleteShipping: lambda cmd, cart, s, _: ops.delete_shipping(cart, s),
    c.AddItems: lambda cmd, cart, s, rules: ops.add_items(
        cart, cmd.items, s, max_items=rules.limits.items_per_cart, catalog=rules.catalog
    ),
    c.PatchItem: lambda cmd, cart, s, rules: ops.patch_item(
        cart, cmd.item_id, cmd.changes, s, catalog=rules.catalog
    ),
    c.DeleteItem: lambda cmd, cart, s, _: ops.delete_item(cart, cmd.item_id, s),
    c.ReplaceItemProperties: lambda cmd, cart, s, _: ops.replace_item_properties(
        cart, cmd.item_id, cmd.properties, s
    ),
    c.MergeItemProperties: lambda cmd, cart, s, _: ops.merge_item_properties(
        cart, cmd.item_id, cmd.properties, s
    ),
    c.DeleteItemProperties: lambda cmd, cart, s, _: ops.delete_item_properties(
        cart, cmd.item_id, cmd.keys, s
    ),
    c.CreateCartProperties: lambda cmd, cart, s, _: ops.create_cart_properties(
        cart, cmd.properties, s
    ),
    c.ReplaceCartProperties: lambda cmd, cart, s, _: ops.replace_cart_properties(
        cart, cmd.properties, s
    ),
    c.MergeCartProperties: lambda cmd, cart, s, _: ops.merge_cart_properties(
        cart, cmd.properties, s
    ),
    c.DeleteCartProperties: lambda cmd, cart, s, _: ops.delete_cart_properties(cart, cmd.keys, s),
    c.AddOtherCharges: lambda cmd, cart, s, _: ops.add_other_charges(cart, cmd.charges, s),
    c.PatchOtherCharge: lambda cmd, cart, s, _: ops.patch_other_charge(
        cart, cmd.charge_id, cmd.changes, s
    ),
    c.DeleteOtherCharge: lambda cmd, cart, s, _: ops.delete_other_charge(cart, cmd.charge_id, s),
    c.AddPayments: lambda cmd, cart, s, _: ops.add_payments(cart, cmd.payments, s),
    c.PatchPayment: lambda cmd, cart, s, _: ops.patch_payment(cart, cmd.payment_id, cmd.changes, s),
    c.DeletePayment: lambda cmd, cart, s, _: ops.delete_payment(cart, cmd.payment_id, s),
    c.AddPromotions: lambda cmd, cart, s, _: ops.add_promotions(cart, cmd.promotions, s),
    c.DeletePromotion: lambda cmd, cart, s, _: ops.delete_promotion(cart, cmd.promo_code, s),
    c.ReplaceCommunicationPreference: lambda cmd, cart, s, _: ops.replace_communication_preference(
        cart, cmd.preference, s
    ),
    c.DeleteCommunicationPreference: lambda cmd, cart, s, _: ops.delete_communication_preference(
        cart, s
    ),
    c.AddLoyaltyDetails: lambda cmd, cart, s, _: ops.add_loyalty_details(cart, cmd.details, s),
    c.PatchLoyaltyDetail: lambda cmd, cart, s, _: ops.patch_loyalty_detail(
        cart, cmd.detail_id, cmd.changes, s
    ),
    c.DeleteLoyaltyDetail: lambda cmd, cart, s, _: ops.delete_loyalty_detail(
        cart, cmd.detail_id, s
    ),
    # Changes nothing; a calculation is still an event of its cart (seed 003, row 30).
    c.CalculateCart: lambda cmd, cart, s, rules: ops.calculate(
        cart, rules.catalog, s, rules.limits.quantity
    ),
}
# Commands that leave the cart as it is, so a basket's lifecycle does not bind them.
_READS_ONLY = frozenset({c.CalculateCart})
# Commands whose rules need the cart's catalog (prices, quantity limits, the one currency).
_NEED_CATALOG = frozenset({c.AddItems, c.PatchItem, c.CalculateCart})


class CartHandlers:
    def __init__(
        self,
        units: UnitOfWorkFactory,
        clock: Callable[[], int] = epoch_ms,
        on_commit: Callable[[], None] = lambda: None,
        limits: CartLimits = DEFAULT_LIMITS,
    ) -> None:
        self._units = units
        self._clock = clock
        # Told after every commit that wrote outbox rows (wakes the in-process relay).
        self._on_commit = on_commit
        self._limits = limits

    async def handle(self, command: c.Command, identity: Identity) -> Changed:
        if isinstance(command, c.CreateCart):
            return await self._create(command, identity)
        if isinstance(command, c.DeleteCart):
            return await self._delete(command, identity)
        assert isinstance(command, c.CartCommand)
        return await self._change(command, identity, CART_CHANGES[type(command)])

    # ---- queries ----

    async def get(
        self, cart_id: int, identity: Identity, into: cart_pb2.Cart | None = None
    ) -> cart_pb2.Cart:
        """The cart, parsed into `into` (a field of the answer: no copy) if given."""
        async with self._units.reading() as uow:
            cart = await uow.carts.get_message(cart_id, into)
        access.authorize_owner(identity, cart.collection_id, cart.user_id, "cart", cart.id)
        return cart

    async def list(self, scope: tuple[int, str], after_id: int, limit: int) -> list[cart_pb2.Cart]:
        async with self._units.reading() as uow:
            return await uow.carts.list_for_user(*scope, after_id=after_id, limit=limit)

    # ---- changes ----

    async def _create(self, command: c.CreateCart, identity: Identity) -> Changed:
        cart = command.cart
        cart.user_id, cart.collection_id = access.new_cart_owner(identity)

        async def create(uow: UnitOfWork) -> Changed:
            stamp = self._stamp(identity)
            ops.new_cart(cart, stamp)
            uow.carts.add(cart)
            await uow.carts.flush()
            recorded = record(uow.outbox, Source(cart, identity, stamp.now_ms))
            await uow.commit()
            return Changed(recorded.events, recorded.answers[0], stamp.now_ms)

        created = await self._units.run(create)
        self._on_commit()
        return created

    async def _change(self, command: c.CartCommand, identity: Identity, apply: Apply) -> Changed:
        async def change(uow: UnitOfWork) -> Changed:
            changes_cart = type(command) not in _READS_ONLY
            cart = await self._load(uow, command.cart_id, identity, cached=changes_cart)
            basket = await _basket_of(uow, cart) if changes_cart else None
            stamp = self._stamp(identity)
            catalog = await uow.catalog_of(cart) if type(command) in _NEED_CATALOG else EMPTY
            was = cart.status
            apply(command, cart, stamp, Rules(self._limits, catalog))
            if _checked_out(was, cart):
                await redeem_promotions(uow, cart, stamp.now_ms)
            await uow.carts.flush()
            recorded = record(uow.outbox, Source(cart, identity, stamp.now_ms))
            if basket is not None:
                uow.basket_changed(BasketChange(basket.basket_id, cart.version))
            await uow.commit()
            return Changed(recorded.events, recorded.answers[0], stamp.now_ms)

        changed = await self._units.run(change, key=command.cart_id)
        self._on_commit()
        return changed

    async def _delete(self, command: c.DeleteCart, identity: Identity) -> Changed:
        async with self._units() as uow:
            cart = await self._load(uow, command.cart_id, identity)
            ops.delete_cart(cart)
            basket = await _basket_of(uow, cart)
            if basket is not None:
                uow.basket_changed(BasketChange(basket.basket_id, cart.version, deleted=True))
            stamp = self._stamp(identity)
            await uow.carts.delete(cart)
            recorded = record(uow.outbox, Source(cart, identity, stamp.now_ms))
            await uow.commit()
        self._on_commit()
        return Changed(recorded.events, recorded.answers[0], stamp.now_ms)

    # ---- plumbing ----

    def _stamp(self, identity: Identity) -> Stamp:
        return Stamp(actor=identity.user_id, now_ms=self._clock())

    @staticmethod
    async def _load(
        uow: UnitOfWork, cart_id: int, identity: Identity, *, cached: bool = True
    ) -> Cart:
        """The cart, held for the change, if the caller may reach it: every change loads it
        here."""
        cart = await uow.carts.get(cart_id, for_update=True, cached=cached)
        access.authorize_cart(identity, cart)
        return cart


def _checked_out(was: CartStatus, cart: Cart) -> bool:
    """This change checked out a cart that is not a basket's (a basket's price is fixed, and
    its promotions used, by its payment intent)."""
    return (
        was is not CartStatus.CHECKED_OUT
        and cart.status is CartStatus.CHECKED_OUT
        and cart.basket_id is None
    )


async def _basket_of(uow: UnitOfWork, cart: Cart) -> BasketState | None:
    """The basket this cart holds, if any; a basket's lifecycle rules bind cart calls too."""
    if cart.basket_id is None:
        return None
    # Read after the cart's row lock is held: every basket change holds it too.
    basket = await uow.baskets.get(cart.basket_id)
    basket_lifecycle.ensure_mutable(basket)
    return basket
