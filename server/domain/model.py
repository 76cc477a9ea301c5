"""The cart aggregate: plain dataclasses, stored by server.store as one document per cart.

Field names are those of the protobuf contract. Fields marked `server_set` are assigned by the
service and ignored when a client sends them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from server.domain.events import DomainEvent

SERVER_SET = {"server_set": True}


def server_set(default: Any = None) -> Any:
    return field(default=default, metadata=SERVER_SET)


class CartStatus(StrEnum):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"
    CHECKED_OUT = "CHECKED_OUT"


class ContactMethod(StrEnum):
    CALL = "CALL"
    TEXT = "TEXT"
    EMAIL = "EMAIL"


class ChargeLevel(StrEnum):
    CART = "CART"
    ITEM = "ITEM"


class ChargeType(StrEnum):
    PERCENTAGE = "PERCENTAGE"
    FLAT = "FLAT"


@dataclass(eq=False)
class Shipping:
    type: str = ""
    selected_method: str = ""
    delivery_on_or_before: int = 0
    delivery_instructions: str = ""
    id: int | None = server_set()
    shipping_version: int = server_set(0)


@dataclass(eq=False)
class Address:
    first_name: str = ""
    last_name: str = ""
    middle_name: str = ""
    company_name: str = ""
    address_line1: str = ""
    address_line2: str = ""
    address_line3: str = ""
    city: str = ""
    state: str = ""
    county: str = ""
    country: str = ""
    zip: str = ""
    email: str = ""
    phone: str = ""
    mobile: str = ""
    can_receive_sms: bool = False
    store_id: str = ""
    profile_address_id: str = ""
    id: int | None = server_set()
    address_version: int = server_set(0)


@dataclass(eq=False)
class Sku:
    sku_id: str = ""
    product_id: str = ""
    bundle_sku_type: str = ""
    optional_sku_quantity: int = 0
    price: Decimal = Decimal(0)
    sku_quantity: int = 0
    sku_quantity_v2: Decimal = Decimal(0)
    optional_sku_quantity_v2: Decimal = Decimal(0)
    id: int | None = server_set()


@dataclass(eq=False)
class CartItem:
    quantity: int = 1
    quantity_v2: Decimal | None = None
    fulfillment_date: int = 0
    skus: list[Sku] = field(default_factory=list)
    shipping: Shipping | None = None
    address: Address | None = None
    custom_properties: dict[str, str] = field(default_factory=dict)
    id: int | None = server_set()
    created_by: str = server_set("")
    updated_by: str = server_set("")
    # As the seed shows item times: "Thu May 09 06:11:05 GMT 2024" (cart times are epoch ms).
    created_time: str = server_set("")
    updated_time: str = server_set("")


@dataclass(eq=False)
class Payment:
    payment_id: str = ""
    payment_item_id: str = ""
    transaction_id: str = ""
    amount: Decimal = Decimal(0)
    currency: str = ""
    payment_type: str = ""
    id: int | None = server_set()


@dataclass(eq=False)
class Promotion:
    promo_code: str = ""
    name: str = ""
    created_by: str = server_set("")


@dataclass(eq=False)
class CommunicationPreference:
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    phone: str = ""
    contact_method: ContactMethod | None = None
    zip_code: str = ""


@dataclass(eq=False)
class OtherCharge:
    name: str = ""
    description: str = ""
    item_id: int | None = None
    charge_value: Decimal = Decimal(0)
    charge_against: str = ""
    taxable: bool = False
    type: ChargeLevel | None = None
    charge_type: ChargeType | None = None
    charge_source: str = ""
    charge_value_overridable: bool = False
    waive_overridable: bool = False
    waived_by_default: bool = False
    id: int | None = server_set()
    cart_id: int | None = server_set()
    created_by: str = server_set("")
    updated_by: str | None = server_set()


@dataclass(eq=False)
class LoyaltyDetail:
    value: Decimal = Decimal(0)
    points: Decimal = Decimal(0)
    type: str = ""
    value_type: str = ""
    id: int | None = server_set()


@dataclass(eq=False)
class Cart:
    accounts_id: int = 0
    type: str = ""
    items: list[CartItem] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    promotions: list[Promotion] = field(default_factory=list)
    shipping: Shipping | None = None
    communication_preference: CommunicationPreference | None = None
    custom_properties: dict[str, str] = field(default_factory=dict)
    address: Address | None = None
    other_charges: list[OtherCharge] = field(default_factory=list)
    loyalty_details: list[LoyaltyDetail] = field(default_factory=list)
    id: int | None = server_set()
    # The owner: set from the verified caller (server.auth.access), never from a request body.
    user_id: str = server_set("")
    collection_id: int = server_set(0)
    status: CartStatus = server_set(CartStatus.ACTIVE)
    created_by: str = server_set("")
    created_time: int = server_set(0)
    updated_by: str = server_set("")
    updated_time: int = server_set(0)
    # Bumped by every committed change; lets readers tell two states of a cart apart.
    version: int = server_set(0)
    # The storefront basket this cart holds, if any (its lifecycle binds cart changes too).
    basket_id: str | None = server_set()
    # What the operations since it was loaded did; never stored (the outbox keeps them).
    events: list[DomainEvent] = field(default_factory=list, repr=False, metadata=SERVER_SET)

    def record(self, event: DomainEvent) -> None:
        self.events.append(event)
