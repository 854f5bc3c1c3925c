"""Request bodies of the privacy routes and events (pydantic), and how their answers render stored numbers."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationInfo,
    field_validator,
    model_validator,
)

from cdp.identifiers import normalise_email, normalise_phone

MAX_BODY_BYTES = 16 * 1024
MAX_CLOCK_SKEW = timedelta(minutes=5)
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ConsentRequest(BaseModel):
    """POST /v1/consents: who (a profile id or identifiers), which channel and purpose, granted or not, when.

    Email and phone are normalised as everywhere (`cdp.identifiers`); a national phone number is read in the
    `phone_region` of the validation context (the deployment's default region)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    profile_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    customer_id: str | None = Field(default=None, min_length=1, max_length=256)
    email: str | None = Field(default=None, min_length=3, max_length=256)
    phone: str | None = Field(default=None, min_length=4, max_length=32)
    channel: Literal["email", "sms", "push"]
    purpose: Literal["marketing", "transactional", "profiling"] = "marketing"
    granted: StrictBool
    recorded_at: AwareDatetime
    source: str = Field(default="api", min_length=1, max_length=128)

    @field_validator("email")
    @classmethod
    def _normal_email(cls, value: str | None) -> str | None:
        if value is not None and (value := normalise_email(value)) is None:
            raise ValueError("is not an email address")
        return value

    @field_validator("phone")
    @classmethod
    def _normal_phone(cls, value: str | None, info: ValidationInfo) -> str | None:
        region = (info.context or {}).get("phone_region")
        if value is not None and (value := normalise_phone(value, region)) is None:
            raise ValueError("is not a phone number (E.164, or national in the default region)")
        return value

    @model_validator(mode="after")
    def names_someone(self) -> ConsentRequest:
        if not (self.profile_id or self.customer_id or self.email or self.phone):
            raise ValueError("give a profile_id or at least one of customer_id, email, phone")
        if self.recorded_at > datetime.now(UTC) + MAX_CLOCK_SKEW:
            raise ValueError("recorded_at is in the future")  # it would outrank every later statement
        return self

    def as_row(self) -> dict[str, Any]:
        """The request as a canonical `consents` row."""
        return self.model_dump(exclude={"profile_id"})


def json_default(value: Any) -> Any:
    """DynamoDB numbers as JSON numbers, sets as sorted lists, anything else as text."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set):
        return sorted(value)
    return str(value)


class ErasureRequested(BaseModel):
    """The detail of an `Erasure Requested` event: only the erasure's id (its status item holds the rest)."""

    erasure_id: str = Field(pattern=ID_PATTERN.pattern)


class ErasureRequestedEvent(EventBridgeModel):
    detail: ErasureRequested  # type: ignore[assignment]
