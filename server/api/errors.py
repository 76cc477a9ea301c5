"""Turns what a handler raises into one gRPC status, with google.rpc details a client can read.

DomainError kinds map to INVALID_ARGUMENT (BadRequest field violations), NOT_FOUND and
ALREADY_EXISTS (ResourceInfo), PERMISSION_DENIED (ErrorInfo), FAILED_PRECONDITION
(PreconditionFailure and ErrorInfo). A lost
database connection is UNAVAILABLE (the client may retry); anything else is a fault of ours,
logged with its traceback and answered INTERNAL without internals.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import grpc
from google.protobuf import any_pb2, descriptor_pool, unknown_fields
from google.protobuf.message import DecodeError, Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from server.api.wire_limits import WireLimits
from server.domain.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from server.store.driver import UNAVAILABLE_ERRORS

log = logging.getLogger(__name__)
ERROR_DOMAIN = "cartservice"
# The database is unreachable, through SQLAlchemy (relay, catalog) or the driver (requests).
_DATABASE_AWAY = (OperationalError, PoolTimeoutError, *UNAVAILABLE_ERRORS)

Handler = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
F = TypeVar("F", bound=Callable[..., Any])


# A default grpc client refuses trailers over 8 KiB (soft limit) with RESOURCE_EXHAUSTED, and
# then never sees the error. The status travels base64-encoded (4/3) beside the message
# (percent-encoded, up to 3x), so both are capped well below it.
MAX_STATUS_BYTES = 4_096
MAX_MESSAGE_BYTES = 512
TRUNCATED = "VIOLATIONS_TRUNCATED"


def status_for(error: DomainError) -> status_pb2.Status:
    message = _shortened(str(error), MAX_MESSAGE_BYTES)
    if not isinstance(error, InvalidArgument):
        code, details = _classify(error)
        return status_pb2.Status(code=code, message=message, details=[_pack(d) for d in details])
    details = _bounded_violations(error, MAX_STATUS_BYTES - len(message.encode()))
    if len(details) > 1:
        message = f"{message} ({_truncation_note(details[1])})"
    return status_pb2.Status(
        code=code_pb2.INVALID_ARGUMENT, message=message, details=[_pack(d) for d in details]
    )


def _bounded_violations(error: InvalidArgument, budget: int) -> list[Message]:
    """A BadRequest with the first violations that fit the budget and, if some did not, an
    ErrorInfo saying how many there were."""
    room = budget - 300  # kept for the Any wrappers, the ErrorInfo and the note
    shown: list[error_details_pb2.BadRequest.FieldViolation] = []
    for v in error.violations:
        violation = error_details_pb2.BadRequest.FieldViolation(
            field=_shortened(v.field, 256), description=_shortened(v.description, 512)
        )
        room -= violation.ByteSize() + 3  # tag and length of the repeated entry
        if room < 0:
            break
        shown.append(violation)
    details: list[Message] = [error_details_pb2.BadRequest(field_violations=shown)]
    if len(shown) < len(error.violations):
        counts = {"violations": str(len(error.violations)), "shown": str(len(shown))}
        details.append(
            error_details_pb2.ErrorInfo(reason=TRUNCATED, domain=ERROR_DOMAIN, metadata=counts)
        )
    return details


def _truncation_note(info: Message) -> str:
    counts = info.metadata  # type: ignore[attr-defined]
    return f"{counts['violations']} violations; the first {counts['shown']} are in the details"


def _shortened(text: str, max_bytes: int) -> str:
    encoded = text.encode()
    if len(encoded) <= max_bytes:
        return text
    return encoded[: max_bytes - 3].decode(errors="ignore") + "..."


def _classify(error: DomainError) -> tuple[int, list[Message]]:
    if isinstance(error, NotFound | AlreadyExists):
        code = code_pb2.NOT_FOUND if isinstance(error, NotFound) else code_pb2.ALREADY_EXISTS
        details: list[Message] = [
            error_details_pb2.ResourceInfo(
                resource_type=error.resource, resource_name=str(error.key)
            )
        ]
        if isinstance(error, NotFound) and error.reason:
            details.append(error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN))
        return code, details
    if isinstance(error, PermissionDenied):
        info = error_details_pb2.ErrorInfo(reason="PERMISSION_DENIED", domain=ERROR_DOMAIN)
        return code_pb2.PERMISSION_DENIED, [info]
    if isinstance(error, FailedPrecondition):
        violation = error_details_pb2.PreconditionFailure.Violation(
            type=error.reason, subject="cart", description=str(error)
        )
        return code_pb2.FAILED_PRECONDITION, [
            error_details_pb2.PreconditionFailure(violations=[violation]),
            error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN),
        ]
    return code_pb2.FAILED_PRECONDITION, []


def _pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


async def _abort(context: grpc.aio.ServicerContext, status: status_pb2.Status) -> None:
    converted = rpc_status.to_status(status)
    await context.abort(converted.code, converted.details, converted.trailing_metadata)


class Undecodable:
    """Stands in for a request whose bytes are not the message the method takes, or that would
    cost too much to parse (`field` names the oversized one)."""

    def __init__(self, problem: str, field: str = "") -> None:
        self.problem = problem
        self.field = field


_wire_limits = WireLimits()


def tolerant(
    deserializer: Callable[[bytes], Any] | None, method: str = ""
) -> Callable[[bytes], Any] | None:
    """A deserializer that never raises (grpc would answer a raised DecodeError with UNKNOWN)
    and refuses oversized repeated fields of `method`'s request before parsing it."""
    if deserializer is None:
        return None
    oversized = _oversized_check(method)

    def deserialize(raw: bytes) -> Any:
        if oversized is not None:
            violation = oversized(raw)
            if violation is not None:
                return Undecodable(violation.description, violation.field)
        try:
            message = deserializer(raw)
        except DecodeError as error:
            return Undecodable(str(error))
        misread = _misencoded_field(message, "") if isinstance(message, Message) else None
        if misread is not None:
            return Undecodable(f"field {misread} has the wrong wire type")
        return message

    return deserialize


def _oversized_check(method: str) -> Callable[[bytes], FieldViolation | None] | None:
    """The wire check of a method's request type ("/package.Service/Method"), if it is ours."""
    try:
        found = descriptor_pool.Default().FindMethodByName(method.lstrip("/").replace("/", "."))
    except KeyError:
        return None
    return _wire_limits.checker(found.input_type)


def _misencoded_field(message: Message, path: str) -> str | None:
    """The path of a field the message knows but that arrived with another wire type (the
    parser keeps it aside as an unknown field, so the request would read as if it were unset).
    Unknown field numbers are not errors: newer clients may send fields this server lacks."""
    known = message.DESCRIPTOR.fields_by_number
    for unknown in unknown_fields.UnknownFieldSet(message):  # type: ignore[attr-defined]
        if unknown.field_number in known:
            return path + known[unknown.field_number].name
    for field, value in message.ListFields():
        if field.message_type is None or field.message_type.GetOptions().map_entry:
            continue
        values = value if field.is_repeated else [value]
        for index, element in enumerate(values):
            suffix = f"[{index}]" if field.is_repeated else ""
            found = _misencoded_field(element, f"{path}{field.name}{suffix}.")
            if found is not None:
                return found
    return None


def translate_errors(handler: Handler) -> Handler:
    async def translated(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if isinstance(request, Undecodable):
            await abort_undecodable(context, request)
        try:
            return await handler(request, context)
        except Exception as error:
            await abort_for(context, error)

    return translated


def translates_own_errors(method: F) -> F:
    """Marks a handler that checks for Undecodable and answers its errors with abort_for
    itself, so ErrorTranslationInterceptor adds no wrapper: a wrapper's coroutine frame lives
    as long as the call (server.api.basket_watch)."""
    method.translates_own_errors = True  # type: ignore[attr-defined]
    return method


def parses_request_with(parse: Callable[[bytes], Any]) -> Callable[[F], F]:
    """Marks a handler whose request bytes `parse` decodes instead of the generated message
    class (a DecodeError still becomes Undecodable). grpc.aio keeps the decoded request for as
    long as the call: for a long-lived stream, a compact object instead of a protobuf message
    and its arena (server.api.basket_watch)."""

    def mark(method: F) -> F:
        method.request_parser = parse  # type: ignore[attr-defined]
        return method

    return mark


async def abort_undecodable(context: grpc.aio.ServicerContext, request: Undecodable) -> None:
    if request.field:
        await _abort(context, status_for(InvalidArgument.single(request.field, request.problem)))
        return
    violation = error_details_pb2.BadRequest.FieldViolation(field="", description=request.problem)
    details = [_pack(error_details_pb2.BadRequest(field_violations=[violation]))]
    status = status_pb2.Status(
        code=code_pb2.INVALID_ARGUMENT, message="request is not valid protobuf", details=details
    )
    await _abort(context, status)


async def abort_for(context: grpc.aio.ServicerContext, error: Exception) -> NoReturn:
    """Ends the call with the status for what a handler raised (an abort passes through)."""
    if isinstance(error, grpc.aio.AbortError):
        raise error
    if isinstance(error, DomainError):
        await _abort(context, status_for(error))
    elif isinstance(error, _DATABASE_AWAY):
        log.warning("database unavailable: %s", error.__class__.__name__)
        await _abort(context, _status(code_pb2.UNAVAILABLE, "database unavailable; retry"))
    elif isinstance(error, DBAPIError):
        if error.connection_invalidated:
            await _abort(context, _status(code_pb2.UNAVAILABLE, "database unavailable; retry"))
        log.error("database error", exc_info=error)
    else:
        log.error("unexpected error", exc_info=error)
    await _abort(context, _status(code_pb2.INTERNAL, "internal error"))
    raise AssertionError("context.abort returned")  # pragma: no cover  (abort always raises)


def _status(code: int, message: str) -> status_pb2.Status:
    return status_pb2.Status(code=code, message=message)


MAX_CACHED_HANDLERS = 1_000


class HandlerWrappers:
    """One wrapper per registered method, made once: a wrapper per call would live as long as
    its call (a WatchBasket stream may stay open for hours). Bounded, in case a generic handler
    (or a refusal) makes a new handler per call."""

    def __init__(self, wrap: Callable[[grpc.RpcMethodHandler, str], grpc.RpcMethodHandler]):
        self._wrap = wrap
        self._made: dict[grpc.RpcMethodHandler, grpc.RpcMethodHandler] = {}

    def __len__(self) -> int:
        return len(self._made)

    def of(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        wrapped = self._made.get(handler)
        if wrapped is None:
            wrapped = self._wrap(handler, method)
            if len(self._made) < MAX_CACHED_HANDLERS:
                self._made[handler] = wrapped
        return wrapped


class ErrorTranslationInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Applies translate_errors to every unary and server-streaming handler of the server, except
    one marked translates_own_errors, and decodes requests tolerantly (with the handler's own
    parser if parses_request_with names one)."""

    def __init__(self) -> None:
        self._translated = HandlerWrappers(self._translate)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        return self._translated.of(handler, handler_call_details.method)

    @staticmethod
    def _translate(handler: grpc.RpcMethodHandler, name: str) -> grpc.RpcMethodHandler:
        if handler.unary_stream is not None:
            # A coroutine that writes its messages, so the same translation fits; WatchBasket,
            # open for hours, translates its own errors and keeps a compact request instead.
            method = handler.unary_stream
            parse = getattr(method, "request_parser", None) or handler.request_deserializer
            if not getattr(method, "translates_own_errors", False):
                method = translate_errors(method)
            return grpc.unary_stream_rpc_method_handler(
                method,
                request_deserializer=tolerant(parse, name),
                response_serializer=handler.response_serializer,
            )
        if handler.unary_unary is None:
            return handler
        return grpc.unary_unary_rpc_method_handler(
            translate_errors(handler.unary_unary),
            request_deserializer=tolerant(handler.request_deserializer, name),
            response_serializer=handler.response_serializer,
        )
