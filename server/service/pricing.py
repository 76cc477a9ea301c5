"""What pricing asks of a checkout: each promotion with a usage limit that discounts the cart is
used once more, in the checkout's transaction, or the checkout fails. A cart is checked out by
PatchUpdateCart (status CHECKED_OUT); a basket's price is fixed by its payment intent, so its
uses are taken by CreatePaymentIntent and given back by DeletePaymentIntent."""

from __future__ import annotations

from server.domain.calculation import calculate
from server.domain.catalog import PromotionRule
from server.domain.errors import FailedPrecondition
from server.domain.model import Cart
from server.store.unit_of_work import UnitOfWork

PROMOTION_USED_UP = "PROMOTION_USED_UP"


async def redeem_promotions(uow: UnitOfWork, cart: Cart, now_ms: int) -> None:
    """Counts a use of every limited rule that discounts the cart. A rule whose last use a
    concurrent checkout took first fails this one (and rolls it back): the cart's next
    calculation no longer shows that rule."""
    for rule in await _limited_rules_applied(uow, cart, now_ms):
        assert rule.usage_limit is not None
        if not await uow.catalogs.use(cart.collection_id, rule.id, rule.usage_limit):
            raise FailedPrecondition(
                f"promotion {rule.id} reached its usage limit of {rule.usage_limit}; "
                "calculate the cart again",
                PROMOTION_USED_UP,
            )


async def release_promotions(uow: UnitOfWork, cart: Cart, now_ms: int) -> None:
    """Gives back the uses redeem_promotions took for this cart (its price was not paid)."""
    # The rules it used may be used up now, by its own uses among others.
    for rule in await _limited_rules_applied(uow, cart, now_ms, with_used_up=True):
        await uow.catalogs.give_back(cart.collection_id, rule.id)


async def _limited_rules_applied(
    uow: UnitOfWork, cart: Cart, now_ms: int, *, with_used_up: bool = False
) -> list[PromotionRule]:
    # As the cart is priced now: a rule its collection has used up is not in the catalog, and
    # one used up by a concurrent checkout since this transaction read the counts fails use().
    catalog = await uow.catalog_of(cart, with_used_up=with_used_up)
    if not any(rule.usage_limit is not None for rule in catalog.promotions):
        return []
    return [
        applied.rule
        for applied in calculate(cart, catalog, now=now_ms).applied
        if applied.rule.usage_limit is not None
        and (applied.price_discount or applied.delivery_discount)
    ]
