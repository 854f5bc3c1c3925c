"""Typed domain errors: each names the HTTP status it answers with, so API handlers map them in one place.

Domain code raises these; `cdp.api` turns any of them into a JSON answer `{"error": message, ...}`.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any


class DomainError(Exception):
    """A request the domain refuses; `status` is the HTTP answer, `fields` optional per-field details."""

    status: HTTPStatus = HTTPStatus.BAD_REQUEST

    def __init__(self, message: str, fields: list[dict[str, str]] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields
        self.extra = extra

    def headers(self) -> dict[str, str]:
        """Headers the answer carries besides its content type."""
        return {}

    def body(self) -> dict[str, Any]:
        """The JSON answer: the message, the field errors when there are some, and any extra values."""
        answer: dict[str, Any] = {"error": self.message, **self.extra}
        if self.fields is not None:
            answer["fields"] = self.fields
        return answer


class Invalid(DomainError):
    """The request is malformed or breaks a rule."""

    status = HTTPStatus.BAD_REQUEST


class Unauthorized(DomainError):
    status = HTTPStatus.UNAUTHORIZED


class Forbidden(DomainError):
    status = HTTPStatus.FORBIDDEN


class NotFound(DomainError):
    status = HTTPStatus.NOT_FOUND


class Conflict(DomainError):
    """The request conflicts with the current state (e.g. an erased identifier, a profile merged elsewhere)."""

    status = HTTPStatus.CONFLICT


class TooLarge(DomainError):
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE


class Unavailable(DomainError):
    """A dependency is throttled or down, or the request was only partly stored: the client should send it again."""

    status = HTTPStatus.SERVICE_UNAVAILABLE
    retry_after_seconds = 30

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_seconds)}


class ConcurrentChange(Conflict):
    """Another writer changed the items first (a cancelled transaction or a failed condition); re-read and retry.

    `reasons`: the cancelled transaction's reason code per item; `moved_away`: ledger records (pks) a move found no
    longer where it expected them.
    """

    def __init__(
        self, message: str, reasons: tuple[str | None, ...] = (), moved_away: frozenset[str] = frozenset()
    ) -> None:
        super().__init__(message)
        self.reasons = reasons
        self.moved_away = moved_away


def field_errors(errors: list[Any], prefix: tuple[str | int, ...] = ()) -> list[dict[str, str]]:
    """Pydantic errors as `{"field": "batch.2.traits.email", "message": ...}` (body location dropped, input never
    echoed)."""
    return [
        {
            "field": ".".join(str(part) for part in (*prefix, *error.get("loc", ())) if part != "body"),
            "message": error.get("msg", ""),
        }
        for error in errors
    ]
