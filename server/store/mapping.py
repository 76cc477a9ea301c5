"""Maps the domain dataclasses onto the tables (imperative mapping: the domain never imports us).

Every relationship loads eagerly with SELECT … IN, because the service always works on a whole
cart and lazy loading cannot happen under asyncio.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import registry, relationship

from server.domain import model
from server.store import tables

mapper_registry = registry(metadata=tables.metadata)
_mapped = False


def _owned(target: type, **kwargs: Any) -> Any:
    return relationship(target, lazy="selectin", cascade="all, delete-orphan", **kwargs)


def _owned_one(target: type, **kwargs: Any) -> Any:
    # Many-to-one from the owner's side (the owner row holds the FK), owned exclusively.
    return _owned(target, single_parent=True, **kwargs)


def start_mappers() -> None:
    global _mapped
    if _mapped:
        return
    _mapped = True
    m = mapper_registry.map_imperatively
    m(model.Shipping, tables.shippings)
    m(model.Address, tables.addresses)
    m(model.Sku, tables.skus)
    m(model.Payment, tables.payments)
    m(model.Promotion, tables.promotions)
    m(model.CommunicationPreference, tables.communication_preferences)
    m(model.OtherCharge, tables.other_charges)
    m(model.LoyaltyDetail, tables.loyalty_details)
    m(
        model.CartItem,
        tables.cart_items,
        properties={
            "skus": _owned(model.Sku, order_by=tables.skus.c.id),
            "shipping": _owned_one(model.Shipping),
            "address": _owned_one(model.Address),
        },
    )
    m(
        model.Cart,
        tables.carts,
        properties={
            "items": _owned(model.CartItem, order_by=tables.cart_items.c.id),
            "payments": _owned(model.Payment, order_by=tables.payments.c.id),
            "promotions": _owned(model.Promotion, order_by=tables.promotions.c.id),
            "other_charges": _owned(model.OtherCharge, order_by=tables.other_charges.c.id),
            "loyalty_details": _owned(model.LoyaltyDetail, order_by=tables.loyalty_details.c.id),
            "shipping": _owned_one(model.Shipping),
            "address": _owned_one(model.Address),
            "communication_preference": _owned(model.CommunicationPreference, uselist=False),
        },
    )
