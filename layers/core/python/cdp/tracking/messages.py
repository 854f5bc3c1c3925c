"""Segment HTTP Tracking API messages (the subset of the spec the platform reads), validated with pydantic."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024


class TrackingMessage(BaseModel):
    """One call of the Segment spec: common fields plus identify traits or track event/properties."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    type: Literal["identify", "track", "page", "screen", "group", "alias"]
    message_id: str = Field(alias="messageId", min_length=1, max_length=200)
    user_id: str | None = Field(default=None, alias="userId", max_length=200)
    anonymous_id: str | None = Field(default=None, alias="anonymousId", max_length=200)
    timestamp: datetime | None = None
    sent_at: datetime | None = Field(default=None, alias="sentAt")
    event: str | None = Field(default=None, max_length=200)
    properties: dict[str, Any] = Field(default_factory=dict)
    traits: dict[str, Any] = Field(default_factory=dict)
    context: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _needs_an_identity(self) -> TrackingMessage:
        if not self.user_id and not self.anonymous_id:
            raise ValueError("userId or anonymousId is required")
        if self.type == "track" and not self.event:
            raise ValueError("track calls need an event name")
        return self

    def corrected_timestamp(self, received_at: datetime, batch_sent_at: datetime | None) -> datetime:
        """Segment's clock-skew correction: timestamp + (receivedAt - sentAt), else receivedAt."""
        if self.timestamp is None:
            return received_at
        timestamp = self.timestamp if self.timestamp.tzinfo else self.timestamp.replace(tzinfo=UTC)
        sent_at = self.sent_at or batch_sent_at
        if sent_at is None:
            return timestamp
        sent_at = sent_at if sent_at.tzinfo else sent_at.replace(tzinfo=UTC)
        return timestamp + (received_at - sent_at)


class TrackingBatch(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    batch: list[dict[str, Any]] = Field(min_length=1)
    sent_at: datetime | None = Field(default=None, alias="sentAt")
