"""storefront baskets: catalog, baskets, stock reservations

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import server.store.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Decimal = server.store.types.ExactDecimal


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("retail_price", Decimal(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=False),
        sa.CheckConstraint("stock >= 0", name="ck_products_stock_not_negative"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
    )
    op.create_table(
        "promo_codes",
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("description", sa.String(256), nullable=False),
        sa.Column("percent_off", Decimal(), nullable=True),
        sa.Column("amount_off", Decimal(), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("valid_from", sa.BigInteger(), nullable=True),
        sa.Column("valid_until", sa.BigInteger(), nullable=True),
        sa.Column("minimum_subtotal", Decimal(), nullable=True),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_promo_codes")),
    )
    op.create_table(
        "baskets",
        sa.Column("basket_id", sa.String(64), nullable=False),
        sa.Column("cart_id", Id, nullable=False),
        sa.Column("sales_channel_id", sa.String(64), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("payment_intent_id", sa.String(36), nullable=True),
        sa.Column("payment_intent_time", sa.BigInteger(), nullable=True),
        sa.Column("payment_reference", sa.String(256), nullable=True),
        sa.ForeignKeyConstraint(
            ["cart_id"], ["carts.id"], name=op.f("fk_baskets_cart_id_carts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("basket_id", name=op.f("pk_baskets")),
        sa.UniqueConstraint("cart_id", name=op.f("uq_baskets_cart_id")),
    )
    op.create_table(
        "stock_reservations",
        sa.Column("basket_id", sa.String(64), nullable=False),
        sa.Column("product_id", sa.String(64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.ForeignKeyConstraint(
            ["basket_id"],
            ["baskets.basket_id"],
            name=op.f("fk_stock_reservations_basket_id_baskets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_stock_reservations_product_id_products"),
        ),
        sa.PrimaryKeyConstraint("basket_id", "product_id", name=op.f("pk_stock_reservations")),
    )


def downgrade() -> None:
    op.drop_table("stock_reservations")
    op.drop_table("baskets")
    op.drop_table("promo_codes")
    op.drop_table("products")
