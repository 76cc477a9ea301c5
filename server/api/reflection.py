"""Server reflection as grpcurl and other reflection clients need it.

grpcio-reflection serves each file through `FileDescriptor.CopyToProto`, which leaves out the
fields' `json_name` (grpcurl then printed and expected `user_id` where proto3 JSON and the README
say `userId`), and asks the pool for the file of a symbol, which does not know method names (so
`grpcurl describe Service.Method` answered "Symbol not found"). The pool below fixes both for
whatever the default pool holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import Descriptor, FileDescriptor
from grpc_reflection.v1alpha import reflection

SERVICE_NAME = reflection.SERVICE_NAME


def enable(server: grpc.aio.Server, service_names: Iterable[str]) -> None:
    reflection.enable_server_reflection(
        (*service_names, SERVICE_NAME), server, pool=ServedPool(descriptor_pool.Default())
    )


class ServedPool:
    """The lookups the reflection servicer makes, over a real pool."""

    def __init__(self, pool: descriptor_pool.DescriptorPool) -> None:
        self._pool = pool

    def FindFileByName(self, name: str) -> ServedFile:
        return ServedFile(self._pool.FindFileByName(name))

    def FindFileContainingSymbol(self, symbol: str) -> ServedFile:
        try:
            return ServedFile(self._pool.FindFileContainingSymbol(symbol))
        except KeyError:
            service_name, _, method = symbol.rpartition(".")
            service = self._pool.FindServiceByName(service_name)  # KeyError: not found
            if method not in service.methods_by_name:
                raise
            return ServedFile(service.file)

    def __getattr__(self, name: str) -> Any:
        # Extension lookups, which need nothing changed.
        return getattr(self._pool, name)


class ServedFile:
    """A file descriptor whose proto form carries every field's JSON name."""

    def __init__(self, descriptor: FileDescriptor) -> None:
        self._descriptor = descriptor

    @property
    def name(self) -> str:
        return self._descriptor.name

    @property
    def dependencies(self) -> list[ServedFile]:
        return [ServedFile(d) for d in self._descriptor.dependencies]

    def CopyToProto(self, proto: descriptor_pb2.FileDescriptorProto) -> None:
        self._descriptor.CopyToProto(proto)
        for message in proto.message_type:
            _name_json(message, self._descriptor.message_types_by_name[message.name])


def _name_json(proto: descriptor_pb2.DescriptorProto, descriptor: Descriptor) -> None:
    for field in proto.field:
        field.json_name = descriptor.fields_by_name[field.name].json_name
    for nested in proto.nested_type:
        _name_json(nested, descriptor.nested_types_by_name[nested.name])
