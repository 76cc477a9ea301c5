"""What happened to a cart or a basket, as the domain records it (one event per change it made).

Operations of server.domain append these to the aggregate (Cart.events); the service layer hands
them, once committed state is known, to server.events.mapping, which turns each type into the
seed's envelope. An event holds the parts it touched, not copies: ids assigned when the unit of
work flushes are seen by the mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from server.domain.calculation import Calculation
    from server.domain.model import (
        Address,
        CartItem,
        CommunicationPreference,
        LoyaltyDetail,
        OtherCharge,
        Payment,
        Promotion,
        Shipping,
    )


class DomainEvent:
    """A change of one cart (the aggregate that recorded it)."""

    __slots__ = ()


# ---- the cart ----


@dataclass(frozen=True, slots=True)
class CartCreated(DomainEvent):
    pass


@dataclass(frozen=True, slots=True)
class CartPatched(DomainEvent):
    pass


@dataclass(frozen=True, slots=True)
class CartDeleted(DomainEvent):
    pass


@dataclass(frozen=True, slots=True)
class CartCalculated(DomainEvent):
    calculation: Calculation
    max_quantity: int


# ---- address and shipping ----


@dataclass(frozen=True, slots=True)
class AddressCreated(DomainEvent):
    address: Address


@dataclass(frozen=True, slots=True)
class AddressPatched(DomainEvent):
    address: Address


@dataclass(frozen=True, slots=True)
class AddressDeleted(DomainEvent):
    pass


@dataclass(frozen=True, slots=True)
class ShippingCreated(DomainEvent):
    shipping: Shipping


@dataclass(frozen=True, slots=True)
class ShippingPatched(DomainEvent):
    shipping: Shipping


@dataclass(frozen=True, slots=True)
class ShippingDeleted(DomainEvent):
    pass


# ---- items and their properties ----


@dataclass(frozen=True, slots=True)
class ItemsAdded(DomainEvent):
    items: tuple[CartItem, ...]


@dataclass(frozen=True, slots=True)
class ItemPatched(DomainEvent):
    item: CartItem


@dataclass(frozen=True, slots=True)
class ItemDeleted(DomainEvent):
    item_id: int


@dataclass(frozen=True, slots=True)
class ItemPropertiesReplaced(DomainEvent):
    item_id: int
    properties: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class ItemPropertiesMerged(DomainEvent):
    item_id: int
    properties: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class ItemPropertiesDeleted(DomainEvent):
    item_id: int


# ---- cart properties ----


@dataclass(frozen=True, slots=True)
class CartPropertiesCreated(DomainEvent):
    properties: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class CartPropertiesReplaced(DomainEvent):
    properties: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class CartPropertiesMerged(DomainEvent):
    properties: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class CartPropertiesDeleted(DomainEvent):
    pass


# ---- other charges, payments, promotions, loyalty, communication preference ----


@dataclass(frozen=True, slots=True)
class OtherChargesAdded(DomainEvent):
    charges: tuple[OtherCharge, ...]


@dataclass(frozen=True, slots=True)
class OtherChargePatched(DomainEvent):
    charge: OtherCharge


@dataclass(frozen=True, slots=True)
class OtherChargeDeleted(DomainEvent):
    charge_id: int


@dataclass(frozen=True, slots=True)
class PaymentsAdded(DomainEvent):
    payments: tuple[Payment, ...]


@dataclass(frozen=True, slots=True)
class PaymentPatched(DomainEvent):
    payment: Payment


@dataclass(frozen=True, slots=True)
class PaymentDeleted(DomainEvent):
    payment_id: int


@dataclass(frozen=True, slots=True)
class PromotionsAdded(DomainEvent):
    promotions: tuple[Promotion, ...]


@dataclass(frozen=True, slots=True)
class PromotionDeleted(DomainEvent):
    promo_code: str


@dataclass(frozen=True, slots=True)
class CommunicationPreferenceReplaced(DomainEvent):
    preference: CommunicationPreference


@dataclass(frozen=True, slots=True)
class CommunicationPreferenceDeleted(DomainEvent):
    pass


@dataclass(frozen=True, slots=True)
class LoyaltyDetailsAdded(DomainEvent):
    details: tuple[LoyaltyDetail, ...]


@dataclass(frozen=True, slots=True)
class LoyaltyDetailPatched(DomainEvent):
    detail: LoyaltyDetail


@dataclass(frozen=True, slots=True)
class LoyaltyDetailDeleted(DomainEvent):
    detail_id: int


# ---- the basket a cart holds (seed 000) ----


@dataclass(frozen=True, slots=True)
class BasketCreated(DomainEvent):
    pass


@dataclass(frozen=True, slots=True)
class BasketUpdated(DomainEvent):
    pass


@dataclass(frozen=True, slots=True)
class BasketDeleted(DomainEvent):
    pass


@dataclass(frozen=True, slots=True)
class PaymentIntentCreated(DomainEvent):
    pass


@dataclass(frozen=True, slots=True)
class PaymentIntentDeleted(DomainEvent):
    pass


@dataclass(frozen=True, slots=True)
class BasketCompleted(DomainEvent):
    pass
