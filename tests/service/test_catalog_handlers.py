"""Catalog loads over an in-memory unit of work: who may load which collection's catalog, and
what a document that is not a catalog gets."""

from __future__ import annotations

import asyncio
import json

import pytest

from server.auth.identity import Identity, Role
from server.domain.errors import InvalidArgument, NotFound, PermissionDenied
from server.service.catalogs import CatalogHandlers
from tests.memory_store import MemoryUnits

ADMIN = Identity("9", 4982, frozenset({Role.CART_ADMIN}))
SUPER = Identity("1", 1, frozenset({Role.SUPER_ADMIN}))
USER = Identity("7", 4982, frozenset({Role.USER}))
DOCUMENT = json.dumps({"skus": [{"skuId": "a", "regularPrice": "1.00"}]})


@pytest.fixture
def handlers() -> CatalogHandlers:
    return CatalogHandlers(MemoryUnits(), clock=lambda: 1)  # type: ignore[arg-type]


def test_a_cart_admin_loads_its_collections_catalog_and_reads_it_back(
    handlers: CatalogHandlers,
) -> None:
    loaded = asyncio.run(handlers.load(4982, DOCUMENT, ADMIN))

    assert (loaded.version, list(loaded.catalog.skus)) == (1, ["a"])
    assert asyncio.run(handlers.document(4982, ADMIN)) == (1, DOCUMENT)


@pytest.mark.parametrize(("identity", "collection_id"), [(USER, 4982), (ADMIN, 4983), (ADMIN, 0)])
def test_only_the_collections_cart_admin_or_a_super_admin_may_load(
    handlers: CatalogHandlers, identity: Identity, collection_id: int
) -> None:
    with pytest.raises(PermissionDenied):
        asyncio.run(handlers.load(collection_id, DOCUMENT, identity))


def test_a_super_admin_loads_the_default_catalog(handlers: CatalogHandlers) -> None:
    assert asyncio.run(handlers.load(0, DOCUMENT, SUPER)).version == 1


def test_a_collection_without_a_catalog_is_not_found(handlers: CatalogHandlers) -> None:
    with pytest.raises(NotFound):
        asyncio.run(handlers.document(4982, ADMIN))


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ("{not json", "catalog_json"),
        ('{"skus": [{"skuId": "a", "regularPrice": 10.48}]}', "skus[0].regularPrice"),
        ('{"promotions": [{"id": "x", "level": "EVERYWHERE", "kind": "FIXED", "value": "1"}]}',
         "promotions[0].level"),
        ('{"taxRates": [{"rate": "8.25"}]}', "taxRates[0].rate"),
        pytest.param("[" * 100_000 + "]" * 100_000, "catalog_json", id="nested-too-deep"),
        pytest.param(json.dumps({"skus": [{"skuId": "x" * 65, "regularPrice": "1"}]}),
                     "skus[0].skuId", id="sku-id-longer-than-its-column"),
        pytest.param(json.dumps({"skus": [{"skuId": "a", "regularPrice": "1", "stock": 2**31}]}),
                     "skus[0].stock", id="stock-beyond-its-column"),
    ],
)  # fmt: skip
def test_a_document_that_is_not_a_catalog_names_what_is_wrong(
    handlers: CatalogHandlers, document: str, field: str
) -> None:
    with pytest.raises(InvalidArgument) as refused:
        asyncio.run(handlers.load(4982, document, ADMIN))

    assert field in [v.field for v in refused.value.violations]
