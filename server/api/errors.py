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
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError, Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from server.domain.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)

log = logging.getLogger(__name__)
ERROR_DOMAIN = "cartservice"

Handler = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]


def status_for(error: DomainError) -> status_pb2.Status:
    code, details = _classify(error)
    return status_pb2.Status(code=code, message=str(error), details=[_pack(d) for d in details])


def _classify(error: DomainError) -> tuple[int, list[Message]]:
    if isinstance(error, InvalidArgument):
        violations = [
            error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
            for v in error.violations
        ]
        return code_pb2.INVALID_ARGUMENT, [
            error_details_pb2.BadRequest(field_violations=violations)
        ]
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
    """Stands in for a request whose bytes are not the message the method takes."""

    def __init__(self, problem: str) -> None:
        self.problem = problem


def tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """A deserializer that never raises: grpc would answer a raised DecodeError with UNKNOWN."""
    if deserializer is None:
        return None

    def deserialize(raw: bytes) -> Any:
        try:
            return deserializer(raw)
        except DecodeError as error:
            return Undecodable(str(error))

    return deserialize


def translate_errors(handler: Handler) -> Handler:
    async def translated(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if isinstance(request, Undecodable):
            violation = error_details_pb2.BadRequest.FieldViolation(
                field="", description=request.problem
            )
            details = [_pack(error_details_pb2.BadRequest(field_violations=[violation]))]
            status = status_pb2.Status(
                code=code_pb2.INVALID_ARGUMENT,
                message="request is not valid protobuf",
                details=details,
            )
            await _abort(context, status)
        try:
            return await handler(request, context)
        except grpc.aio.AbortError:
            raise
        except DomainError as error:
            await _abort(context, status_for(error))
        except (OperationalError, PoolTimeoutError) as error:
            log.warning("database unavailable: %s", error.__class__.__name__)
            await _abort(context, _status(code_pb2.UNAVAILABLE, "database unavailable; retry"))
        except DBAPIError as error:
            if error.connection_invalidated:
                await _abort(context, _status(code_pb2.UNAVAILABLE, "database unavailable; retry"))
            log.exception("database error")
            await _abort(context, _status(code_pb2.INTERNAL, "internal error"))
        except Exception:
            log.exception("unexpected error")
            await _abort(context, _status(code_pb2.INTERNAL, "internal error"))

    return translated


def _status(code: int, message: str) -> status_pb2.Status:
    return status_pb2.Status(code=code, message=message)


MAX_CACHED_HANDLERS = 1_000


class ErrorTranslationInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Applies translate_errors to every unary and server-streaming handler of the server."""

    def __init__(self) -> None:
        self._translated: dict[grpc.RpcMethodHandler, grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        translated = self._translated.get(handler)
        if translated is None:
            # One wrapper per registered method, made once: a wrapper per call would live as long
            # as its call (a WatchBasket stream may stay open for hours). Bounded, in case a
            # generic handler makes a new handler per call.
            translated = self._translate(handler)
            if len(self._translated) < MAX_CACHED_HANDLERS:
                self._translated[handler] = translated
        return translated

    @staticmethod
    def _translate(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        if handler.unary_stream is not None:
            # WatchBasket: a coroutine that writes its messages, so the same translation fits.
            return grpc.unary_stream_rpc_method_handler(
                translate_errors(handler.unary_stream),
                request_deserializer=tolerant(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        if handler.unary_unary is None:
            return handler
        return grpc.unary_unary_rpc_method_handler(
            translate_errors(handler.unary_unary),
            request_deserializer=tolerant(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )
