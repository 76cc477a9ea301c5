"""cartservice's Python client: `Client` (blocking) and `AsyncClient` (asyncio) over the
generated stubs in `cartservice.*`, with the errors they raise."""

from cartservice_client._aio import AsyncClient
from cartservice_client._config import service_config
from cartservice_client._errors import (
    AlreadyExists,
    BasketLocked,
    BasketNotFound,
    CartFull,
    CartNotActive,
    CartServiceError,
    DeadlineExceeded,
    EmptyBasket,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    LineItemNotFound,
    NoPaymentIntent,
    NotFound,
    OrderWasProcessed,
    PermissionDenied,
    PromoCodeDoesntExist,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    UnavailableProduct,
)
from cartservice_client._sync import Client

__all__ = [
    "AlreadyExists",
    "AsyncClient",
    "BasketLocked",
    "BasketNotFound",
    "CartFull",
    "CartNotActive",
    "CartServiceError",
    "Client",
    "DeadlineExceeded",
    "EmptyBasket",
    "FailedPrecondition",
    "FieldViolation",
    "InvalidArgument",
    "LineItemNotFound",
    "NoPaymentIntent",
    "NotFound",
    "OrderWasProcessed",
    "PermissionDenied",
    "PromoCodeDoesntExist",
    "ResourceExhausted",
    "Unauthenticated",
    "Unavailable",
    "UnavailableProduct",
    "service_config",
]
