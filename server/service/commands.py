"""What a caller asks the service to do, already validated by server.api (one class per RPC)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from server.domain.model import (
    Address,
    Cart,
    CartItem,
    CommunicationPreference,
    LoyaltyDetail,
    OtherCharge,
    Payment,
    Promotion,
    Shipping,
)

Changes = Mapping[str, Any]


class Command:
    __slots__ = ()


@dataclass(frozen=True, slots=True)
class CartCommand(Command):
    """A change of one existing cart."""

    cart_id: int


# ---- carts ----


@dataclass(frozen=True, slots=True)
class CreateCart(Command):
    cart: Cart


@dataclass(frozen=True, slots=True)
class PatchCart(CartCommand):
    changes: Changes


@dataclass(frozen=True, slots=True)
class DeleteCart(CartCommand):
    pass


@dataclass(frozen=True, slots=True)
class CalculateCart(CartCommand):
    pass


@dataclass(frozen=True, slots=True)
class CreateAddress(CartCommand):
    address: Address


@dataclass(frozen=True, slots=True)
class PatchAddress(CartCommand):
    changes: Changes


@dataclass(frozen=True, slots=True)
class DeleteAddress(CartCommand):
    pass


@dataclass(frozen=True, slots=True)
class CreateShipping(CartCommand):
    shipping: Shipping


@dataclass(frozen=True, slots=True)
class PatchShipping(CartCommand):
    changes: Changes


@dataclass(frozen=True, slots=True)
class DeleteShipping(CartCommand):
    pass


@dataclass(frozen=True, slots=True)
class AddItems(CartCommand):
    items: list[CartItem]


@dataclass(frozen=True, slots=True)
class PatchItem(CartCommand):
    item_id: int
    changes: Changes


@dataclass(frozen=True, slots=True)
class DeleteItem(CartCommand):
    item_id: int


@dataclass(frozen=True, slots=True)
class ReplaceItemProperties(CartCommand):
    item_id: int
    properties: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class MergeItemProperties(CartCommand):
    item_id: int
    properties: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class DeleteItemProperties(CartCommand):
    item_id: int
    keys: Sequence[str]


@dataclass(frozen=True, slots=True)
class CreateCartProperties(CartCommand):
    properties: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class ReplaceCartProperties(CartCommand):
    properties: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class MergeCartProperties(CartCommand):
    properties: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class DeleteCartProperties(CartCommand):
    keys: Sequence[str]


@dataclass(frozen=True, slots=True)
class AddOtherCharges(CartCommand):
    charges: list[OtherCharge]


@dataclass(frozen=True, slots=True)
class PatchOtherCharge(CartCommand):
    charge_id: int
    changes: Changes


@dataclass(frozen=True, slots=True)
class DeleteOtherCharge(CartCommand):
    charge_id: int


@dataclass(frozen=True, slots=True)
class AddPayments(CartCommand):
    payments: list[Payment]


@dataclass(frozen=True, slots=True)
class PatchPayment(CartCommand):
    payment_id: int
    changes: Changes


@dataclass(frozen=True, slots=True)
class DeletePayment(CartCommand):
    payment_id: int


@dataclass(frozen=True, slots=True)
class AddPromotions(CartCommand):
    promotions: list[Promotion]


@dataclass(frozen=True, slots=True)
class DeletePromotion(CartCommand):
    promo_code: str


@dataclass(frozen=True, slots=True)
class ReplaceCommunicationPreference(CartCommand):
    preference: CommunicationPreference


@dataclass(frozen=True, slots=True)
class DeleteCommunicationPreference(CartCommand):
    pass


@dataclass(frozen=True, slots=True)
class AddLoyaltyDetails(CartCommand):
    details: list[LoyaltyDetail]


@dataclass(frozen=True, slots=True)
class PatchLoyaltyDetail(CartCommand):
    detail_id: int
    changes: Changes


@dataclass(frozen=True, slots=True)
class DeleteLoyaltyDetail(CartCommand):
    detail_id: int


# ---- baskets (seeds 000 and 002) ----


@dataclass(frozen=True, slots=True)
class BasketCommand(Command):
    basket_id: str


@dataclass(frozen=True, slots=True)
class CreateBasket(BasketCommand):
    sales_channel_id: str


@dataclass(frozen=True, slots=True)
class DeleteBasket(BasketCommand):
    pass


@dataclass(frozen=True, slots=True)
class AddBasketItem(BasketCommand):
    product_id: str
    quantity: int


@dataclass(frozen=True, slots=True)
class RemoveBasketItems(BasketCommand):
    line_ids: list[int]


@dataclass(frozen=True, slots=True)
class ApplyPromoCode(BasketCommand):
    promo_code: str


@dataclass(frozen=True, slots=True)
class RemovePromoCode(BasketCommand):
    pass


@dataclass(frozen=True, slots=True)
class CreatePaymentIntent(BasketCommand):
    pass


@dataclass(frozen=True, slots=True)
class DeletePaymentIntent(BasketCommand):
    pass


@dataclass(frozen=True, slots=True)
class CompleteBasket(BasketCommand):
    payment_reference: str
