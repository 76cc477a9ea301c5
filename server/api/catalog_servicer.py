"""cartservice.cart.v1.CatalogService: loading and reading collections' pricing catalogs."""

from __future__ import annotations

from typing import TypeAlias

import grpc
from cartservice.cart.v1 import catalog_service_pb2 as pb
from cartservice.cart.v1 import catalog_service_pb2_grpc

from server.api.validation import Violations
from server.auth.identity import caller
from server.service.catalogs import CatalogHandlers

Context: TypeAlias = grpc.aio.ServicerContext


def _collection(violations: Violations, collection_id: int) -> None:
    if collection_id < 0:
        violations.add("collection_id", "must be a collection id, or 0 for the default catalog")


class CatalogServicer(catalog_service_pb2_grpc.CatalogServiceServicer):
    def __init__(self, catalogs: CatalogHandlers) -> None:
        self._catalogs = catalogs

    async def LoadCatalog(
        self, request: pb.LoadCatalogRequest, context: Context
    ) -> pb.LoadCatalogResponse:
        violations = Violations()
        _collection(violations, request.collection_id)
        if not request.catalog_json.strip():
            violations.add("catalog_json", "is required: the catalog document (JSON)")
        violations.raise_if_any()
        loaded = await self._catalogs.load(request.collection_id, request.catalog_json, caller())
        return pb.LoadCatalogResponse(
            version=loaded.version,
            skus=len(loaded.catalog.skus),
            promotions=len(loaded.catalog.promotions),
        )

    async def GetCatalog(
        self, request: pb.GetCatalogRequest, context: Context
    ) -> pb.GetCatalogResponse:
        violations = Violations()
        _collection(violations, request.collection_id)
        violations.raise_if_any()
        version, document = await self._catalogs.document(request.collection_id, caller())
        return pb.GetCatalogResponse(version=version, catalog_json=document)
