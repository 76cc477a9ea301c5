"""catalogs: each collection's pricing catalog as one JSON document; promo codes become its rules

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

Upgrade creates `catalogs` and, when the database has products or promo codes, writes them as
the default catalog (collection 0): each product a sku, each promo code a CART rule with that
code; then drops `promo_codes`. Downgrade writes the default catalog's CART rules with a code
back into `promo_codes` and drops `catalogs`. The document format is written out here, so this
migration keeps meaning what it meant when later code changes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from alembic import op

import server.store.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_COLLECTION = 0
Money = server.store.types.ExactDecimal


def _text(value: Any) -> str:
    return format(Decimal(str(value)).normalize(), "f")


def upgrade() -> None:
    catalogs = op.create_table(
        "catalogs",
        sa.Column("collection_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("loaded_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("collection_id", name=op.f("pk_catalogs")),
    )
    bind = op.get_bind()
    products = bind.execute(
        sa.text(
            "SELECT id, name, retail_price, currency, provider, stock FROM products ORDER BY id"
        )
    ).mappings()
    skus = [
        {"skuId": p["id"], "productId": p["id"], "title": p["name"],
         "regularPrice": _text(p["retail_price"]), "currency": p["currency"],
         "provider": p["provider"], "stock": p["stock"]}
        for p in products
    ]  # fmt: skip
    codes = bind.execute(
        sa.text(
            "SELECT code, description, percent_off, amount_off, currency, valid_from,"
            " valid_until, minimum_subtotal FROM promo_codes ORDER BY code"
        )
    ).mappings()
    promotions = [_rule(code) for code in codes]
    if skus or promotions:
        currencies = sorted({sku["currency"] for sku in skus})
        document = {"currency": currencies[0] if currencies else "USD", "rounding": "HALF_UP",
                    "skus": skus, "promotions": promotions}  # fmt: skip
        op.bulk_insert(
            catalogs,
            [{"collection_id": DEFAULT_COLLECTION, "version": 1,
              "document": json.dumps(document, indent=2), "loaded_time": int(time.time() * 1000)}],
        )  # fmt: skip
    op.drop_table("promo_codes")


def _rule(code: Any) -> dict[str, Any]:
    percent = code["percent_off"] is not None
    rule: dict[str, Any] = {
        "id": code["code"], "code": code["code"], "title": code["description"],
        "description": code["description"], "level": "CART",
        "kind": "PERCENTAGE" if percent else "FIXED",
        "value": _text(code["percent_off"] if percent else code["amount_off"]),
    }  # fmt: skip
    for column, name in (("valid_from", "validFrom"), ("valid_until", "validUntil")):
        if code[column] is not None:
            rule[name] = code[column]
    if code["minimum_subtotal"] is not None:
        rule["minimumSubtotal"] = _text(code["minimum_subtotal"])
    return rule


def downgrade() -> None:
    promo_codes = op.create_table(
        "promo_codes",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=256), nullable=False),
        sa.Column("percent_off", Money(), nullable=True),
        sa.Column("amount_off", Money(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("valid_from", sa.BigInteger(), nullable=True),
        sa.Column("valid_until", sa.BigInteger(), nullable=True),
        sa.Column("minimum_subtotal", Money(), nullable=True),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_promo_codes")),
    )
    row = (
        op.get_bind()
        .execute(
            sa.text("SELECT document FROM catalogs WHERE collection_id = :c"),
            {"c": DEFAULT_COLLECTION},
        )
        .first()
    )
    if row is not None:
        document = json.loads(row[0])
        rows = [
            _code(rule, document.get("currency", "USD"))
            for rule in document.get("promotions", [])
            if rule.get("code") and rule.get("level") == "CART"
        ]
        if rows:
            op.bulk_insert(promo_codes, rows)
    op.drop_table("catalogs")


def _code(rule: dict[str, Any], currency: str) -> dict[str, Any]:
    percent = rule["kind"] == "PERCENTAGE"
    minimum = rule.get("minimumSubtotal")
    return {
        "code": rule["code"],
        "description": rule.get("description") or rule.get("title", ""),
        "percent_off": Decimal(rule["value"]) if percent else None,
        "amount_off": None if percent else Decimal(rule["value"]),
        "currency": None if percent else currency,
        "valid_from": rule.get("validFrom"),
        "valid_until": rule.get("validUntil"),
        "minimum_subtotal": Decimal(minimum) if minimum is not None else None,
    }
