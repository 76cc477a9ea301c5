"""Tables of the cart service. Alembic migrations under migrations/ create exactly these."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from server.domain.model import CartStatus, ChargeLevel, ChargeType, ContactMethod
from server.store.types import ExactDecimal

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# 64-bit ids; SQLite only auto-increments an INTEGER PRIMARY KEY.
Id = BigInteger().with_variant(Integer(), "sqlite")
Properties = JSON().with_variant(JSONB(), "postgresql")
SHORT = 64
TEXT = 256
LONG = 1024


def _enum(enum_class: type[StrEnum]) -> Enum:
    # Stored as its text (no database enum type), so adding a value needs no DDL.
    return Enum(enum_class, native_enum=False, create_constraint=False, length=16)


def _id() -> Column[int]:
    return Column("id", Id, primary_key=True, autoincrement=True)


def _cart_ref() -> Column[int]:
    return Column(
        "cart_id", Id, ForeignKey("carts.id", ondelete="CASCADE"), nullable=False, index=True
    )


shippings = Table(
    "shippings",
    metadata,
    _id(),
    Column("type", String(TEXT), nullable=False),
    Column("selected_method", String(TEXT), nullable=False),
    Column("delivery_on_or_before", BigInteger, nullable=False),
    Column("delivery_instructions", String(LONG), nullable=False),
    Column("shipping_version", BigInteger, nullable=False),
)

addresses = Table(
    "addresses",
    metadata,
    _id(),
    *(
        Column(name, String(TEXT), nullable=False)
        for name in (
            "first_name", "last_name", "middle_name", "company_name", "address_line1",
            "address_line2", "address_line3", "city", "state", "county", "country", "zip",
            "email", "phone", "mobile", "store_id", "profile_address_id",
        )
    ),
    Column("can_receive_sms", Boolean, nullable=False),
    Column("address_version", BigInteger, nullable=False),
)  # fmt: skip

carts = Table(
    "carts",
    metadata,
    _id(),
    Column("collection_id", BigInteger, nullable=False),
    Column("user_id", String(SHORT), nullable=False),
    Column("accounts_id", BigInteger, nullable=False),
    Column("status", _enum(CartStatus), nullable=False),
    Column("type", String(SHORT), nullable=False),
    Column("custom_properties", Properties, nullable=False),
    Column("shipping_id", Id, ForeignKey("shippings.id"), index=True),
    Column("address_id", Id, ForeignKey("addresses.id"), index=True),
    Column("created_by", String(SHORT), nullable=False),
    Column("created_time", BigInteger, nullable=False),
    Column("updated_by", String(SHORT), nullable=False),
    Column("updated_time", BigInteger, nullable=False),
    Column("version", BigInteger, nullable=False),
    # ListCarts: a user's carts in a collection, in id order.
    Index(None, "collection_id", "user_id", "id"),
)

cart_items = Table(
    "cart_items",
    metadata,
    _id(),
    _cart_ref(),
    Column("quantity", Integer, nullable=False),
    Column("quantity_v2", ExactDecimal, nullable=False),
    Column("fulfillment_date", BigInteger, nullable=False),
    Column("custom_properties", Properties, nullable=False),
    Column("shipping_id", Id, ForeignKey("shippings.id"), index=True),
    Column("address_id", Id, ForeignKey("addresses.id"), index=True),
    Column("created_by", String(SHORT), nullable=False),
    Column("created_time", BigInteger, nullable=False),
    Column("updated_by", String(SHORT), nullable=False),
    Column("updated_time", BigInteger, nullable=False),
)

skus = Table(
    "skus",
    metadata,
    _id(),
    Column(
        "item_id", Id, ForeignKey("cart_items.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("sku_id", String(SHORT), nullable=False),
    Column("product_id", String(SHORT), nullable=False),
    Column("bundle_sku_type", String(SHORT), nullable=False),
    Column("optional_sku_quantity", Integer, nullable=False),
    Column("price", ExactDecimal, nullable=False),
    Column("sku_quantity", Integer, nullable=False),
    Column("sku_quantity_v2", ExactDecimal, nullable=False),
    Column("optional_sku_quantity_v2", ExactDecimal, nullable=False),
)

payments = Table(
    "payments",
    metadata,
    _id(),
    _cart_ref(),
    Column("payment_id", String(TEXT), nullable=False),
    Column("payment_item_id", String(TEXT), nullable=False),
    Column("transaction_id", String(TEXT), nullable=False),
    Column("amount", ExactDecimal, nullable=False),
    Column("currency", String(8), nullable=False),
    Column("payment_type", String(SHORT), nullable=False),
)

promotions = Table(
    "promotions",
    metadata,
    _id(),
    _cart_ref(),
    Column("promo_code", String(SHORT), nullable=False),
    Column("name", String(TEXT), nullable=False),
    Column("created_by", String(SHORT), nullable=False),
    UniqueConstraint("cart_id", "promo_code"),
)

communication_preferences = Table(
    "communication_preferences",
    metadata,
    Column("cart_id", Id, ForeignKey("carts.id", ondelete="CASCADE"), primary_key=True),
    Column("first_name", String(TEXT), nullable=False),
    Column("last_name", String(TEXT), nullable=False),
    Column("email", String(TEXT), nullable=False),
    Column("phone", String(SHORT), nullable=False),
    Column("contact_method", _enum(ContactMethod)),
    Column("zip_code", String(SHORT), nullable=False),
)

other_charges = Table(
    "other_charges",
    metadata,
    _id(),
    _cart_ref(),
    Column("item_id", Id, ForeignKey("cart_items.id", ondelete="CASCADE"), index=True),
    Column("name", String(TEXT), nullable=False),
    Column("description", String(LONG), nullable=False),
    Column("charge_value", ExactDecimal, nullable=False),
    Column("charge_against", String(SHORT), nullable=False),
    Column("taxable", Boolean, nullable=False),
    Column("type", _enum(ChargeLevel)),
    Column("charge_type", _enum(ChargeType)),
    Column("charge_source", String(SHORT), nullable=False),
    Column("charge_value_overridable", Boolean, nullable=False),
    Column("waive_overridable", Boolean, nullable=False),
    Column("waived_by_default", Boolean, nullable=False),
    Column("created_by", String(SHORT), nullable=False),
    Column("updated_by", String(SHORT)),
)

loyalty_details = Table(
    "loyalty_details",
    metadata,
    _id(),
    _cart_ref(),
    Column("value", ExactDecimal, nullable=False),
    Column("points", ExactDecimal, nullable=False),
    Column("type", String(SHORT), nullable=False),
    Column("value_type", String(SHORT), nullable=False),
)

# The transactional outbox: one row per event and destination, written in the transaction of the
# change it describes (server.events). `sequence` orders publication; per cart it is commit order,
# because changes to one cart hold the cart's row lock until they commit.
outbox_events = Table(
    "outbox_events",
    metadata,
    Column("sequence", Id, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),
    Column("destination", String(16), nullable=False),
    Column("cart_id", BigInteger, nullable=False),
    Column("event", LargeBinary, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    # pending → sent | unroutable (AMQP returned it) | dead (can never be sent, e.g. too large)
    Column("status", String(12), nullable=False),
    Column("available_at", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("sent_at", BigInteger),
    Column("last_error", String(512)),
    UniqueConstraint("event_id", "destination"),
    # The relay's lookups: pending rows of a destination by cart, in sequence order.
    Index(
        "ix_outbox_events_pending",
        "destination",
        "cart_id",
        "sequence",
        postgresql_where=text("status = 'pending'"),
        sqlite_where=text("status = 'pending'"),
    ),
    # Pruning of what was sent.
    Index(None, "status", "sent_at"),
)

# ---- storefront baskets (cartservice.basket.v1): a basket is a cart plus these ----

# The catalog a basket sells from. `stock` is what can still be reserved; it never goes negative.
products = Table(
    "products",
    metadata,
    Column("id", String(SHORT), primary_key=True),
    Column("name", String(TEXT), nullable=False),
    Column("retail_price", ExactDecimal, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("provider", String(SHORT), nullable=False),
    Column("stock", Integer, nullable=False),
    CheckConstraint("stock >= 0", name="ck_products_stock_not_negative"),
)

promo_codes = Table(
    "promo_codes",
    metadata,
    Column("code", String(SHORT), primary_key=True),
    Column("description", String(TEXT), nullable=False),
    # Exactly one of percent_off and amount_off (amount_off in `currency`).
    Column("percent_off", ExactDecimal),
    Column("amount_off", ExactDecimal),
    Column("currency", String(3)),
    Column("valid_from", BigInteger),
    Column("valid_until", BigInteger),
    Column("minimum_subtotal", ExactDecimal),
)

baskets = Table(
    "baskets",
    metadata,
    # Chosen by the client (seed 002: CreateBasket(basketId, salesChannelId)).
    Column("basket_id", String(SHORT), primary_key=True),
    Column("cart_id", Id, ForeignKey("carts.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("sales_channel_id", String(SHORT), nullable=False),
    Column("stage", String(16), nullable=False),
    Column("currency", String(3)),
    Column("payment_intent_id", String(36)),
    Column("payment_intent_time", BigInteger),
    Column("payment_reference", String(TEXT)),
)

# Stock held for a basket's payment intent: `reserved` until the payment is confirmed (`sold`) or
# the intent is deleted (the row goes and the stock comes back).
stock_reservations = Table(
    "stock_reservations",
    metadata,
    Column(
        "basket_id",
        String(SHORT),
        ForeignKey("baskets.basket_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("product_id", String(SHORT), ForeignKey("products.id"), primary_key=True),
    Column("quantity", Integer, nullable=False),
    Column("state", String(12), nullable=False),
)
