"""Every change the cart service can make to a cart, as pure functions on the aggregate.

Each function takes the Stamp of the change (who acts, when), checks the rules, mutates the cart
records what it did on the cart (server.domain.events) and returns what the caller gets back.
None of them does I/O: a handler of server.service loads the cart inside a unit of work
(row-locked), calls one of these and commits.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any, TypeVar

from server.domain import events
from server.domain.calculation import Calculation, cart_currency, check_quantity
from server.domain.calculation import calculate as price
from server.domain.catalog import EMPTY, Catalog
from server.domain.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from server.domain.model import (
    Address,
    Cart,
    CartItem,
    CartStatus,
    ChargeLevel,
    CommunicationPreference,
    LoyaltyDetail,
    OtherCharge,
    Payment,
    Promotion,
    Shipping,
)

T = TypeVar("T")

CART_FULL = "CART_FULL"

# Status changes a PatchUpdateCart may make; CHECKED_OUT is terminal.
ALLOWED_STATUS_CHANGES: dict[CartStatus, frozenset[CartStatus]] = {
    CartStatus.ACTIVE: frozenset({CartStatus.INACTIVE, CartStatus.CHECKED_OUT}),
    CartStatus.INACTIVE: frozenset({CartStatus.ACTIVE}),
    CartStatus.CHECKED_OUT: frozenset(),
}


@dataclass(frozen=True)
class Stamp:
    """Who makes a change and when (epoch milliseconds)."""

    actor: str
    now_ms: int


# ---- cart ----


def new_cart(cart: Cart, stamp: Stamp) -> Cart:
    cart.status = CartStatus.ACTIVE
    cart.created_by = cart.updated_by = stamp.actor
    cart.created_time = cart.updated_time = stamp.now_ms
    cart.version = 1
    _stamp_parts(cart.shipping, cart.address, stamp)
    for item in cart.items:
        _new_item(item, stamp)
    for promotion in cart.promotions:
        promotion.created_by = stamp.actor
    _check_unique_promo_codes(cart.promotions)
    for charge in cart.other_charges:
        if charge.item_id is not None:
            raise InvalidArgument.single(
                "cart.other_charges.item_id", "item charges are added once the item exists"
            )
        _new_charge(charge, cart, stamp)
    cart.record(events.CartCreated())
    return cart


def patch_cart(cart: Cart, changes: Mapping[str, Any], stamp: Stamp) -> Cart:
    """Changes the cart's fields and status together: fields change while the cart is ACTIVE,
    so they apply before a status that leaves ACTIVE and after one that re-opens the cart; a
    pure status change is how a parked cart is re-opened."""
    new_status: CartStatus = changes.get("status") or cart.status
    others = {name: value for name, value in changes.items() if name != "status"}
    moving = new_status != cart.status
    if moving:
        _check_transition(cart, new_status)
        if cart.status is not CartStatus.ACTIVE:
            cart.status = new_status  # re-opened first: the fields change on the open cart
    if others or not moving:
        ensure_mutable(cart)
    _apply(cart, others)
    cart.status = new_status
    _touch(cart, stamp)
    cart.record(events.CartPatched())
    return cart


def delete_cart(cart: Cart) -> None:
    # A checked-out cart is the record of an order; it stays.
    if cart.status is CartStatus.CHECKED_OUT:
        raise FailedPrecondition(
            f"cart {cart.id} is CHECKED_OUT and cannot be deleted", "CART_CHECKED_OUT"
        )
    cart.record(events.CartDeleted())


def calculate(cart: Cart, catalog: Catalog, stamp: Stamp, max_quantity: int) -> Calculation:
    """Prices the cart with its catalog; nothing changes, but the calculation is an event (seed
    003, row 30). `max_quantity`: the quantity limit of a sku the catalog does not know."""
    calculation = price(cart, catalog, now=stamp.now_ms)
    cart.record(events.CartCalculated(calculation, max_quantity))
    return calculation


def _check_transition(cart: Cart, new_status: CartStatus) -> None:
    if new_status not in ALLOWED_STATUS_CHANGES[cart.status]:
        raise FailedPrecondition(
            f"cart {cart.id} cannot go from {cart.status} to {new_status}", "STATUS_TRANSITION"
        )


def ensure_mutable(cart: Cart) -> None:
    if cart.status is not CartStatus.ACTIVE:
        raise FailedPrecondition(
            f"cart {cart.id} is {cart.status}; only an ACTIVE cart can be changed",
            "CART_NOT_ACTIVE",
        )


def _begin_change(cart: Cart, stamp: Stamp) -> None:
    ensure_mutable(cart)
    _touch(cart, stamp)


def _touch(cart: Cart, stamp: Stamp) -> None:
    cart.updated_by = stamp.actor
    cart.updated_time = stamp.now_ms
    cart.version += 1


# ---- address and shipping (one of each per cart) ----


def create_address(cart: Cart, address: Address, stamp: Stamp) -> Address:
    _begin_change(cart, stamp)
    if cart.address is not None:
        raise AlreadyExists("address of cart", cart.id)
    cart.address = address
    _stamp_parts(None, address, stamp)
    cart.record(events.AddressCreated(address))
    return address


def patch_address(cart: Cart, changes: Mapping[str, Any], stamp: Stamp) -> Address:
    _begin_change(cart, stamp)
    address = _require(cart.address, "address of cart", cart.id)
    _apply(address, changes)
    address.address_version = stamp.now_ms
    cart.record(events.AddressPatched(address))
    return address


def delete_address(cart: Cart, stamp: Stamp) -> None:
    _begin_change(cart, stamp)
    _require(cart.address, "address of cart", cart.id)
    cart.address = None
    cart.record(events.AddressDeleted())


def create_shipping(cart: Cart, shipping: Shipping, stamp: Stamp) -> Shipping:
    _begin_change(cart, stamp)
    if cart.shipping is not None:
        raise AlreadyExists("shipping of cart", cart.id)
    cart.shipping = shipping
    _stamp_parts(shipping, None, stamp)
    cart.record(events.ShippingCreated(shipping))
    return shipping


def patch_shipping(cart: Cart, changes: Mapping[str, Any], stamp: Stamp) -> Shipping:
    _begin_change(cart, stamp)
    shipping = _require(cart.shipping, "shipping of cart", cart.id)
    _apply(shipping, changes)
    shipping.shipping_version = stamp.now_ms
    cart.record(events.ShippingPatched(shipping))
    return shipping


def delete_shipping(cart: Cart, stamp: Stamp) -> None:
    _begin_change(cart, stamp)
    _require(cart.shipping, "shipping of cart", cart.id)
    cart.shipping = None
    cart.record(events.ShippingDeleted())


# ---- items ----


def add_items(
    cart: Cart,
    items: list[CartItem],
    stamp: Stamp,
    *,
    max_items: int,
    catalog: Catalog = EMPTY,
) -> list[CartItem]:
    _begin_change(cart, stamp)
    if len(cart.items) + len(items) > max_items:
        # The request is well formed; what refuses it is what the cart already holds.
        raise FailedPrecondition(
            f"cart {cart.id} holds {len(cart.items)} items; {len(items)} more would exceed "
            f"the limit of {max_items}",
            CART_FULL,
        )
    for item in items:
        check_quantity(catalog, item)
        _new_item(item, stamp)
        cart.items.append(item)
    _check_one_currency(cart, catalog)
    cart.record(events.ItemsAdded(tuple(items)))
    return items


def patch_item(
    cart: Cart,
    item_id: int,
    changes: Mapping[str, Any],
    stamp: Stamp,
    *,
    catalog: Catalog = EMPTY,
) -> CartItem:
    _begin_change(cart, stamp)
    item = find_item(cart, item_id)
    _apply(item, changes)
    if "quantity" in changes and "quantity_v2" not in changes:
        item.quantity_v2 = None
    _default_quantity_v2(item)
    _stamp_parts(
        item.shipping if "shipping" in changes else None,
        item.address if "address" in changes else None,
        stamp,
    )
    check_quantity(catalog, item)
    _check_one_currency(cart, catalog)
    _touch_item(item, stamp)
    cart.record(events.ItemPatched(item))
    return item


def delete_item(cart: Cart, item_id: int, stamp: Stamp) -> None:
    _begin_change(cart, stamp)
    item = find_item(cart, item_id)
    cart.items.remove(item)
    # An item-level charge has no meaning without its item.
    cart.other_charges[:] = [c for c in cart.other_charges if c.item_id != item_id]
    cart.record(events.ItemDeleted(item_id))


def _check_one_currency(cart: Cart, catalog: Catalog) -> None:
    # Only a catalog of several currencies can put two in one cart; reading every item of the
    # cart otherwise would cost a change what the cart holds (server.store.documents).
    if catalog.mixes_currencies:
        cart_currency(cart, catalog)


def find_item(cart: Cart, item_id: int) -> CartItem:
    return _find(cart.items, lambda i: i.id == item_id, "item", item_id)


def _new_item(item: CartItem, stamp: Stamp) -> None:
    item.created_by = item.updated_by = stamp.actor
    item.created_time = item.updated_time = item_time_text(stamp.now_ms)
    _default_quantity_v2(item)
    _stamp_parts(item.shipping, item.address, stamp)


def _default_quantity_v2(item: CartItem) -> None:
    if item.quantity_v2 is None:
        item.quantity_v2 = Decimal(item.quantity)


def _touch_item(item: CartItem, stamp: Stamp) -> None:
    item.updated_by = stamp.actor
    item.updated_time = item_time_text(stamp.now_ms)


@functools.lru_cache(maxsize=4096)
def item_time_text(epoch_ms: int) -> str:
    """The seed's rendering of an item time: "Thu May 09 06:11:05 GMT 2024"."""
    moment = time.gmtime(epoch_ms // 1000)
    day, month = _DAYS[moment.tm_wday], _MONTHS[moment.tm_mon - 1]
    return (
        f"{day} {month} {moment.tm_mday:02d} {moment.tm_hour:02d}:{moment.tm_min:02d}:"
        f"{moment.tm_sec:02d} GMT {moment.tm_year}"
    )


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# ---- properties (string maps on the cart and on each item) ----


def replace_item_properties(
    cart: Cart, item_id: int, properties: Mapping[str, str], stamp: Stamp
) -> dict[str, str]:
    _begin_change(cart, stamp)
    item = find_item(cart, item_id)
    item.custom_properties = dict(properties)
    _touch_item(item, stamp)
    cart.record(events.ItemPropertiesReplaced(item_id, item.custom_properties))
    return item.custom_properties


def merge_item_properties(
    cart: Cart, item_id: int, properties: Mapping[str, str], stamp: Stamp
) -> dict[str, str]:
    _begin_change(cart, stamp)
    item = find_item(cart, item_id)
    item.custom_properties = {**item.custom_properties, **properties}
    _touch_item(item, stamp)
    cart.record(events.ItemPropertiesMerged(item_id, item.custom_properties))
    return item.custom_properties


def delete_item_properties(cart: Cart, item_id: int, keys: Iterable[str], stamp: Stamp) -> None:
    _begin_change(cart, stamp)
    item = find_item(cart, item_id)
    item.custom_properties = _without_keys(item.custom_properties, keys, f"item {item_id}")
    _touch_item(item, stamp)
    cart.record(events.ItemPropertiesDeleted(item_id))


def create_cart_properties(
    cart: Cart, properties: Mapping[str, str], stamp: Stamp
) -> dict[str, str]:
    _begin_change(cart, stamp)
    taken = sorted(set(properties) & set(cart.custom_properties))
    if taken:
        raise AlreadyExists("cart property", ", ".join(taken))
    cart.custom_properties = {**cart.custom_properties, **properties}
    cart.record(events.CartPropertiesCreated(cart.custom_properties))
    return cart.custom_properties


def replace_cart_properties(
    cart: Cart, properties: Mapping[str, str], stamp: Stamp
) -> dict[str, str]:
    _begin_change(cart, stamp)
    cart.custom_properties = dict(properties)
    cart.record(events.CartPropertiesReplaced(cart.custom_properties))
    return cart.custom_properties


def merge_cart_properties(
    cart: Cart, properties: Mapping[str, str], stamp: Stamp
) -> dict[str, str]:
    _begin_change(cart, stamp)
    cart.custom_properties = {**cart.custom_properties, **properties}
    cart.record(events.CartPropertiesMerged(cart.custom_properties))
    return cart.custom_properties


def delete_cart_properties(cart: Cart, keys: Iterable[str], stamp: Stamp) -> None:
    _begin_change(cart, stamp)
    cart.custom_properties = _without_keys(cart.custom_properties, keys, f"cart {cart.id}")
    cart.record(events.CartPropertiesDeleted())


def _without_keys(properties: dict[str, str], keys: Iterable[str], owner: str) -> dict[str, str]:
    keys = list(keys)
    if not keys:
        return {}
    missing = sorted(set(keys) - set(properties))
    if missing:
        raise NotFound(f"property of {owner}", ", ".join(missing))
    return {k: v for k, v in properties.items() if k not in keys}


# ---- other charges ----


def add_other_charges(cart: Cart, charges: list[OtherCharge], stamp: Stamp) -> list[OtherCharge]:
    _begin_change(cart, stamp)
    for index, charge in enumerate(charges):
        _check_charge_target(cart, charge, f"other_charges[{index}]")
        _new_charge(charge, cart, stamp)
        cart.other_charges.append(charge)
    cart.record(events.OtherChargesAdded(tuple(charges)))
    return charges


def patch_other_charge(
    cart: Cart, charge_id: int, changes: Mapping[str, Any], stamp: Stamp
) -> OtherCharge:
    _begin_change(cart, stamp)
    charge = _find(cart.other_charges, lambda c: c.id == charge_id, "other charge", charge_id)
    _apply(charge, changes)
    _check_charge_target(cart, charge, "other_charge")
    charge.updated_by = stamp.actor
    cart.record(events.OtherChargePatched(charge))
    return charge


def delete_other_charge(cart: Cart, charge_id: int, stamp: Stamp) -> None:
    _begin_change(cart, stamp)
    charge = _find(cart.other_charges, lambda c: c.id == charge_id, "other charge", charge_id)
    cart.other_charges.remove(charge)
    cart.record(events.OtherChargeDeleted(charge_id))


def _new_charge(charge: OtherCharge, cart: Cart, stamp: Stamp) -> None:
    charge.created_by = stamp.actor
    charge.updated_by = None
    charge.cart_id = cart.id


def _check_charge_target(cart: Cart, charge: OtherCharge, path: str) -> None:
    if charge.type is ChargeLevel.ITEM and charge.item_id is None:
        raise InvalidArgument.single(
            f"{path}.item_id", "an ITEM charge needs the item it applies to"
        )
    if charge.type is ChargeLevel.CART and charge.item_id is not None:
        raise InvalidArgument.single(f"{path}.item_id", "a CART charge applies to no item")
    if charge.item_id is not None:
        find_item(cart, charge.item_id)


# ---- payments, promotions, loyalty, communication preference ----


def add_payments(cart: Cart, payments: list[Payment], stamp: Stamp) -> list[Payment]:
    _begin_change(cart, stamp)
    cart.payments.extend(payments)
    cart.record(events.PaymentsAdded(tuple(payments)))
    return payments


def patch_payment(cart: Cart, payment_id: int, changes: Mapping[str, Any], stamp: Stamp) -> Payment:
    _begin_change(cart, stamp)
    payment = _find(cart.payments, lambda p: p.id == payment_id, "payment", payment_id)
    _apply(payment, changes)
    cart.record(events.PaymentPatched(payment))
    return payment


def delete_payment(cart: Cart, payment_id: int, stamp: Stamp) -> None:
    _begin_change(cart, stamp)
    payment = _find(cart.payments, lambda p: p.id == payment_id, "payment", payment_id)
    cart.payments.remove(payment)
    cart.record(events.PaymentDeleted(payment_id))


def add_promotions(cart: Cart, promotions: list[Promotion], stamp: Stamp) -> list[Promotion]:
    _begin_change(cart, stamp)
    _check_unique_promo_codes([*cart.promotions, *promotions])
    for promotion in promotions:
        promotion.created_by = stamp.actor
        cart.promotions.append(promotion)
    cart.record(events.PromotionsAdded(tuple(promotions)))
    return promotions


def delete_promotion(cart: Cart, promo_code: str, stamp: Stamp) -> None:
    _begin_change(cart, stamp)
    promotion = _find(
        cart.promotions, lambda p: p.promo_code == promo_code, "promotion", promo_code
    )
    cart.promotions.remove(promotion)
    cart.record(events.PromotionDeleted(promo_code))


def _check_unique_promo_codes(promotions: list[Promotion]) -> None:
    seen: set[str] = set()
    for promotion in promotions:
        if promotion.promo_code in seen:
            raise AlreadyExists("promotion", promotion.promo_code)
        seen.add(promotion.promo_code)


def replace_communication_preference(
    cart: Cart, preference: CommunicationPreference, stamp: Stamp
) -> CommunicationPreference:
    _begin_change(cart, stamp)
    if cart.communication_preference is None:
        cart.communication_preference = preference
    else:
        # Update the existing row in place: it is keyed by the cart.
        _apply(cart.communication_preference, vars_of(preference))
    cart.record(events.CommunicationPreferenceReplaced(cart.communication_preference))
    return cart.communication_preference


def delete_communication_preference(cart: Cart, stamp: Stamp) -> None:
    _begin_change(cart, stamp)
    _require(cart.communication_preference, "communication preference of cart", cart.id)
    cart.communication_preference = None
    cart.record(events.CommunicationPreferenceDeleted())


def add_loyalty_details(
    cart: Cart, details: list[LoyaltyDetail], stamp: Stamp
) -> list[LoyaltyDetail]:
    _begin_change(cart, stamp)
    cart.loyalty_details.extend(details)
    cart.record(events.LoyaltyDetailsAdded(tuple(details)))
    return details


def patch_loyalty_detail(
    cart: Cart, detail_id: int, changes: Mapping[str, Any], stamp: Stamp
) -> LoyaltyDetail:
    _begin_change(cart, stamp)
    detail = _find(cart.loyalty_details, lambda d: d.id == detail_id, "loyalty reward", detail_id)
    _apply(detail, changes)
    cart.record(events.LoyaltyDetailPatched(detail))
    return detail


def delete_loyalty_detail(cart: Cart, detail_id: int, stamp: Stamp) -> None:
    _begin_change(cart, stamp)
    detail = _find(cart.loyalty_details, lambda d: d.id == detail_id, "loyalty reward", detail_id)
    cart.loyalty_details.remove(detail)
    cart.record(events.LoyaltyDetailDeleted(detail_id))


# ---- helpers ----


def vars_of(obj: object) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}  # type: ignore[arg-type]


def _apply(target: object, changes: Mapping[str, Any]) -> None:
    for name, value in changes.items():
        setattr(target, name, value)


def _stamp_parts(shipping: Shipping | None, address: Address | None, stamp: Stamp) -> None:
    if shipping is not None:
        shipping.shipping_version = stamp.now_ms
    if address is not None:
        address.address_version = stamp.now_ms


def _find(items: Iterable[T], match: Callable[[T], bool], resource: str, key: object) -> T:
    for item in items:
        if match(item):
            return item
    raise NotFound(resource, key)


def _require(value: T | None, resource: str, key: object) -> T:
    if value is None:
        raise NotFound(resource, key)
    return value
