"""Maps the domain dataclasses onto the tables (imperative mapping: the domain never imports us).

Every relationship loads eagerly, because the service always works on a whole cart and lazy
loading cannot happen under asyncio: collections with SELECT … IN, single parts joined.
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
    # A single part (shipping, address): joined into its owner's query instead of a query of its
    # own, which halves the round trips of loading a cart.
    return relationship(
        target,
        lazy="joined",
        innerjoin=False,
        cascade="all, delete-orphan",
        single_parent=True,
        **kwargs,
    )


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
            "communication_preference": relationship(
                model.CommunicationPreference,
                lazy="joined",
                uselist=False,
                cascade="all, delete-orphan",
            ),
        },
    )
