"""A small demo catalog (`cartservice seed-demo`; the embedded default loads it at first start).

It holds seed 002's example: "Gift Voucher - $50" at 50.00 USD, and promo code SUMMER20, which
here takes 5.00 USD off a basket of at least 20.00 USD, so that the seed's example basket quotes
exactly what the seed shows (50.00 → 45.00).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.store.tables import products, promo_codes

GIFT_VOUCHER_50 = "f1e2d3c4-b5a6-7890-abcd-ef1234567890"
JAN_2020_MS = 1_577_836_800_000

PRODUCTS: list[dict[str, Any]] = [
    {"id": GIFT_VOUCHER_50, "name": "Gift Voucher - $50", "retail_price": Decimal("50.00"),
     "currency": "USD", "provider": "giftcards", "stock": 1000},
    {"id": "0b6a4c2e-25aa-4c1e-9c53-6d1f0b1e2a25", "name": "Gift Voucher - $25",
     "retail_price": Decimal("25.00"), "currency": "USD", "provider": "giftcards", "stock": 1000},
    {"id": "5d0c7e8a-3f21-4b9e-8a43-2c6f1d9e7b10", "name": "Wireless Mouse",
     "retail_price": Decimal("24.99"), "currency": "USD", "provider": "gadgets", "stock": 50},
    {"id": "8e2f4a6c-1b3d-4e5f-9a7b-3c5d7e9f1a2b", "name": "USB-C Cable 2m",
     "retail_price": Decimal("9.99"), "currency": "USD", "provider": "gadgets", "stock": 200},
    {"id": "c4a1e7d2-6b8f-4a3c-b5e9-0d2f4a6c8e1b", "name": "Coffee Beans 1kg",
     "retail_price": Decimal("18.50"), "currency": "USD", "provider": "roastery", "stock": 30},
    {"id": "e9b3d5f7-0a2c-4e6b-8d1f-5a7c9e1b3d5f", "name": "Limited Print (1 of 1)",
     "retail_price": Decimal("120.00"), "currency": "USD", "provider": "gallery", "stock": 1},
]  # fmt: skip

PROMO_CODES: list[dict[str, Any]] = [
    {"code": "SUMMER20", "description": "5.00 USD off a basket of 20.00 USD or more",
     "percent_off": None, "amount_off": Decimal("5.00"), "currency": "USD",
     "valid_from": None, "valid_until": None, "minimum_subtotal": Decimal("20.00")},
    {"code": "WELCOME10", "description": "10% off everything", "percent_off": Decimal("10"),
     "amount_off": None, "currency": None, "valid_from": None, "valid_until": None,
     "minimum_subtotal": None},
    {"code": "SPRING19", "description": "expired: 15% off, spring 2019",
     "percent_off": Decimal("15"), "amount_off": None, "currency": None, "valid_from": None,
     "valid_until": JAN_2020_MS, "minimum_subtotal": None},
]  # fmt: skip


async def load_demo_catalog(session: AsyncSession) -> int:
    """Inserts whatever of the demo catalog is missing; answers how many rows it added."""
    added = 0
    for table, key, rows in ((products, "id", PRODUCTS), (promo_codes, "code", PROMO_CODES)):
        present = set((await session.execute(select(table.c[key]))).scalars())
        missing = [row for row in rows if row[key] not in present]
        if missing:
            await session.execute(insert(table), missing)
            added += len(missing)
    return added


async def catalog_is_empty(session: AsyncSession) -> bool:
    return (
        int((await session.execute(select(func.count()).select_from(products))).scalar_one()) == 0
    )
