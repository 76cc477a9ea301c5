"""Refuses oversized repeated fields from a request's wire bytes, before the request is parsed.

Parsing costs far more memory than the bytes it reads: an empty CartItem is 2 bytes on the wire
and about 150 in the parsed message, so a 1 MiB request of 524,000 of them took ~79 MB (and more
for the Python objects a walk over them makes). Validation after parsing comes too late for
that. Here each message is first read as its *outline*: a message of the same field numbers in
which every message-typed field is plain bytes, so reading it costs one small entry per element
and no nested parse. Repeated fields over their limit are refused at once; the entries within it
are outlined in turn, to the leaves.

Small requests are not outlined at all: under OUTLINE_FROM_BYTES, the worst a parse can cost is
a few MB, and validation reports their counts with everything else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message
from google.protobuf.message_factory import GetMessageClass

from server.api.validation import Violations, limits, rule_for
from server.domain.errors import FieldViolation

OUTLINE_FROM_BYTES = 16 * 1024
_OUTLINE_PACKAGE = "cartservice.outline"


@dataclass(frozen=True)
class _Field:
    name: str
    repeated: bool
    is_map: bool
    nested: Descriptor | None  # the message type to outline inside, if any


class WireLimits:
    """Outlines of every message reachable from the request types it is asked about."""

    def __init__(self) -> None:
        self._pool = descriptor_pool.DescriptorPool()
        self._outlines: dict[str, type[Message]] = {}
        self._fields: dict[str, list[_Field]] = {}

    def checker(self, request: Descriptor) -> Callable[[bytes], FieldViolation | None]:
        """A check of raw requests of this type: the first repeated field over its limit."""
        self._build(request)

        def problem(raw: bytes) -> FieldViolation | None:
            if len(raw) < OUTLINE_FROM_BYTES:
                return None
            try:
                return self._problem(request, raw, "")
            except DecodeError:
                return None  # the real parse reports it, in its own words

        return problem

    def _problem(self, descriptor: Descriptor, raw: bytes, path: str) -> FieldViolation | None:
        outline = self._outlines[descriptor.full_name].FromString(raw)
        for spec in self._fields[descriptor.full_name]:
            value: Any = getattr(outline, spec.name)
            field_path = f"{path}.{spec.name}" if path else spec.name
            entries = value if spec.repeated else ([value] if outline.HasField(spec.name) else [])
            if spec.repeated:
                limit = self._limit(descriptor, spec)
                if len(entries) > limit:
                    over = Violations()
                    over.check_count(field_path, len(entries), limit)
                    return over.found[0]
            if spec.nested is None or spec.is_map:
                continue
            for index, element in enumerate(entries):
                element_path = f"{field_path}[{index}]" if spec.repeated else field_path
                found = self._problem(spec.nested, element, element_path)
                if found is not None:
                    return found
        return None

    @staticmethod
    def _limit(descriptor: Descriptor, spec: _Field) -> int:
        if spec.is_map:
            return limits().properties_per_map
        return rule_for(descriptor.name, spec.name).max_entries or limits().entries_per_request

    def _build(self, descriptor: Descriptor) -> None:
        if descriptor.full_name in self._outlines:
            return
        outline = descriptor_pb2.DescriptorProto(name=descriptor.full_name.replace(".", "_"))
        specs: list[_Field] = []
        for field in descriptor.fields:
            _copy_field(outline, field)
            nested = field.message_type
            if field.is_repeated or nested is not None:
                is_map = nested is not None and nested.GetOptions().map_entry
                specs.append(_Field(field.name, field.is_repeated, is_map, nested))
        file = descriptor_pb2.FileDescriptorProto(
            name=f"outline/{descriptor.full_name}.proto",
            package=_OUTLINE_PACKAGE,
            syntax="proto3",
            message_type=[outline],
        )
        self._pool.Add(file)
        full_name = f"{_OUTLINE_PACKAGE}.{outline.name}"
        self._outlines[descriptor.full_name] = GetMessageClass(
            self._pool.FindMessageTypeByName(full_name)
        )
        self._fields[descriptor.full_name] = specs
        for spec in specs:
            if spec.nested is not None and not spec.is_map:
                self._build(spec.nested)


_PROTO = descriptor_pb2.FieldDescriptorProto


def _copy_field(outline: descriptor_pb2.DescriptorProto, field: FieldDescriptor) -> None:
    """The field with its number and label; a message becomes bytes (the same wire type), an
    enum int32 (likewise), and a singular message keeps its presence."""
    copied = outline.field.add(name=field.name, number=field.number)
    copied.label = _PROTO.LABEL_REPEATED if field.is_repeated else _PROTO.LABEL_OPTIONAL
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        copied.type = _PROTO.TYPE_BYTES
    elif field.type == FieldDescriptor.TYPE_ENUM:
        copied.type = _PROTO.TYPE_INT32
    else:
        copied.type = _PROTO.Type.ValueType(field.type)
    if field.type == FieldDescriptor.TYPE_MESSAGE and not field.is_repeated:
        copied.proto3_optional = True
        copied.oneof_index = len(outline.oneof_decl)
        outline.oneof_decl.add(name=f"_{field.name}")
