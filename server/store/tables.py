"""Tables of the cart service. Alembic migrations under migrations/ create exactly these."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import (
    BigInteger,
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
    Text,
    UniqueConstraint,
    text,
)

from server.domain.model import CartStatus
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
SHORT = 64
TEXT = 256


def _enum(enum_class: type[StrEnum]) -> Enum:
    # Stored as its text (no database enum type), so adding a value needs no DDL.
    return Enum(enum_class, native_enum=False, create_constraint=False, length=16)


def _id() -> Column[int]:
    return Column("id", Id, primary_key=True, autoincrement=True)


carts = Table(
    "carts",
    metadata,
    _id(),
    # The owner and the state lookups need; everything else of the cart is in `document`.
    Column("collection_id", BigInteger, nullable=False),
    Column("user_id", String(SHORT), nullable=False),
    Column("status", _enum(CartStatus), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("created_time", BigInteger, nullable=False),
    Column("updated_time", BigInteger, nullable=False),
    # The whole cart as the contract's cartservice.cart.v1.Cart, serialized (server.store.documents)
    Column("document", LargeBinary, nullable=False),
    # ListCarts: a user's carts in a collection, in id order.
    Index(None, "collection_id", "user_id", "id"),
)

# The next free part id on SQLite (server.store.ids); PostgreSQL uses the sequence
# cart_part_ids instead and leaves this table empty.
part_id_blocks = Table(
    "part_id_blocks",
    metadata,
    Column("name", String(SHORT), primary_key=True),
    Column("next_id", BigInteger, nullable=False),
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

# Each collection's pricing catalog (server.domain.catalog): the JSON document as loaded, whole,
# so a load replaces it atomically; collection 0 holds the default for collections without one.
catalogs = Table(
    "catalogs",
    metadata,
    Column("collection_id", BigInteger, primary_key=True, autoincrement=False),
    Column("version", BigInteger, nullable=False),
    Column("document", Text, nullable=False),
    Column("loaded_time", BigInteger, nullable=False),
)

# How often each promotion rule with a usage limit was used, per collection: counted when a cart
# that it discounts is checked out, never past the limit (server.service.pricing).
promotion_uses = Table(
    "promotion_uses",
    metadata,
    Column("collection_id", BigInteger, primary_key=True, autoincrement=False),
    Column("rule_id", String(TEXT), primary_key=True),
    Column("uses", Integer, nullable=False),
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
