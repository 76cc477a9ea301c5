"""Errors the domain raises; the api layer turns each kind into one gRPC status."""

from __future__ import annotations

from dataclasses import dataclass


class DomainError(Exception):
    """Base of every error caused by what a caller asked for (never by a fault of ours)."""


class NotFound(DomainError):
    def __init__(self, resource: str, key: object, *, reason: str | None = None) -> None:
        super().__init__(f"{resource} {key} not found")
        self.resource = resource
        self.key = key
        # A machine-readable error code for clients (e.g. seed 002's PromoCodeDoesntExist).
        self.reason = reason


class AlreadyExists(DomainError):
    def __init__(self, resource: str, key: object) -> None:
        super().__init__(f"{resource} {key} already exists")
        self.resource = resource
        self.key = key


class PermissionDenied(DomainError):
    """The caller is known but may not do this."""


class FailedPrecondition(DomainError):
    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class InvalidArgument(DomainError):
    def __init__(self, violations: list[FieldViolation]) -> None:
        summary = "; ".join(f"{v.field}: {v.description}" for v in violations[:5])
        super().__init__(f"invalid request: {summary}")
        self.violations = violations

    @classmethod
    def single(cls, field: str, description: str) -> InvalidArgument:
        return cls([FieldViolation(field, description)])
