"""Loading and reading collections' catalogs (the admin RPC, `cartservice catalog load`, and the
demo catalog at start)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from server.auth import access
from server.auth.identity import Identity
from server.domain.catalog import Catalog, parse_catalog
from server.domain.errors import InvalidArgument, NotFound
from server.service.carts import epoch_ms
from server.store.unit_of_work import UnitOfWorkFactory

DEFAULT_COLLECTION = 0


@dataclass(frozen=True, slots=True)
class Loaded:
    collection_id: int
    version: int
    catalog: Catalog


def parse_document(document: str) -> Catalog:
    """The catalog of a JSON text, or InvalidArgument naming what is wrong with it."""
    try:
        parsed = json.loads(document, parse_float=_no_float)
    except ValueError as error:
        raise InvalidArgument.single("catalog_json", f"is not JSON: {error}") from None
    except RecursionError:
        raise InvalidArgument.single("catalog_json", "nests too deeply to be a catalog") from None
    return parse_catalog(parsed)


def _no_float(text: str) -> object:
    # Kept as text so that parse_catalog refuses it by name: a float could not be exact.
    return ("float", text)


class CatalogHandlers:
    def __init__(self, units: UnitOfWorkFactory, clock: Callable[[], int] = epoch_ms) -> None:
        self._units = units
        self._clock = clock

    async def load(self, collection_id: int, document: str, identity: Identity) -> Loaded:
        access.authorize_catalog_admin(identity, collection_id)
        return await self.store(collection_id, document)

    async def store(self, collection_id: int, document: str) -> Loaded:
        """Replaces the collection's catalog (no caller: the CLI and the demo at start)."""
        catalog = parse_document(document)
        async with self._units() as uow:
            version = await uow.catalogs.put(collection_id, document, catalog, self._clock())
            await uow.commit()
        return Loaded(collection_id, version, catalog)

    async def document(self, collection_id: int, identity: Identity) -> tuple[int, str]:
        access.authorize_catalog_admin(identity, collection_id)
        async with self._units.reading() as uow:
            found = await uow.catalogs.document(collection_id)
        if found is None:
            raise NotFound("catalog", collection_id)
        return found

    async def store_unless_present(
        self, collection_id: int, document: str, *, replace_another: bool
    ) -> Loaded | None:
        """Stores the catalog unless the collection has this very document (a restart must not
        reset the stock it sets) or, without `replace_another`, any catalog."""
        async with self._units.reading() as uow:
            found = await uow.catalogs.document(collection_id)
        if found is not None and (found[1] == document or not replace_another):
            return None
        return await self.store(collection_id, document)
