"""The demo catalog (`cartservice seed-demo`; the embedded default loads it at first start): a
catalog document (demo_catalog.json) loaded as the default catalog, collection 0.

It holds seed 002's example: "Gift Voucher - $50" at 50.00 USD, and promo code SUMMER20, which
here takes 5.00 USD off a basket of at least 20.00 USD, so that the seed's example basket quotes
exactly what the seed shows (50.00 → 45.00).
"""

from __future__ import annotations

from importlib.resources import files

GIFT_VOUCHER_50 = "f1e2d3c4-b5a6-7890-abcd-ef1234567890"


def demo_document() -> str:
    return files("server.store").joinpath("demo_catalog.json").read_text()
