"""Typed errors: a failed call raises the class of its seed error code (`ErrorInfo.reason`) when
it has one, else the class of its status, each carrying the rich details the server sent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2

_DETAILS_KEY = "grpc-status-details-bin"


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class CartServiceError(Exception):
    """A call the service refused or could not answer."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        reason: str = "",
        metadata: dict[str, str] | None = None,
        field_violations: tuple[FieldViolation, ...] = (),
    ) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        # The seed's error code (BasketLocked, PromoCodeDoesntExist, …) or another reason.
        self.reason = reason
        self.metadata = metadata or {}
        self.field_violations = field_violations


class InvalidArgument(CartServiceError): ...


class NotFound(CartServiceError): ...


class AlreadyExists(CartServiceError): ...


class FailedPrecondition(CartServiceError): ...


class PermissionDenied(CartServiceError): ...


class Unauthenticated(CartServiceError): ...


class ResourceExhausted(CartServiceError): ...


class Unavailable(CartServiceError): ...


class DeadlineExceeded(CartServiceError): ...


# The seed 002 error codes. Some come with more than one status (an unknown promo code is
# NOT_FOUND, an expired one FAILED_PRECONDITION): `code` tells which.
class PromoCodeDoesntExist(CartServiceError): ...


class UnavailableProduct(CartServiceError): ...


class OrderWasProcessed(FailedPrecondition): ...


class BasketLocked(FailedPrecondition): ...


class NoPaymentIntent(FailedPrecondition): ...


class EmptyBasket(FailedPrecondition): ...


class LineItemNotFound(NotFound): ...


class BasketNotFound(NotFound): ...


class CartNotActive(FailedPrecondition): ...


class CartFull(FailedPrecondition): ...


_BY_STATUS: dict[grpc.StatusCode, type[CartServiceError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
}
_BY_REASON: dict[str, type[CartServiceError]] = {
    "PromoCodeDoesntExist": PromoCodeDoesntExist,
    "UnavailableProduct": UnavailableProduct,
    "OrderWasProcessed": OrderWasProcessed,
    "BasketLocked": BasketLocked,
    "NoPaymentIntent": NoPaymentIntent,
    "EmptyBasket": EmptyBasket,
    "LineItemNotFound": LineItemNotFound,
    "BasketNotFound": BasketNotFound,
    "CART_NOT_ACTIVE": CartNotActive,
    "CART_FULL": CartFull,
}


def from_rpc_error(error: grpc.RpcError) -> CartServiceError:
    """The typed error of a failed call (sync or asyncio)."""
    call: Any = error
    code: grpc.StatusCode = call.code()
    message: str = call.details() or ""
    reason, metadata, violations = _rich_details(call.trailing_metadata() or ())
    cls = _BY_REASON.get(reason) or _BY_STATUS.get(code, CartServiceError)
    return cls(code, message, reason=reason, metadata=metadata, field_violations=violations)


def _rich_details(
    trailers: Any,
) -> tuple[str, dict[str, str], tuple[FieldViolation, ...]]:
    raw = next((value for key, value in trailers if key == _DETAILS_KEY), None)
    if raw is None:
        return "", {}, ()
    reason, metadata, violations = "", {}, []
    for detail in status_pb2.Status.FromString(raw).details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, metadata = info.reason, dict(info.metadata)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations = [FieldViolation(v.field, v.description) for v in bad.field_violations]
    return reason, metadata, tuple(violations)
