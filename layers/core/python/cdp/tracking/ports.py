"""What the tracking API and Shopify webhooks need from storage: the replay register, the curated zone, the sources' write keys and
shop secrets, and a shop's stored data (data-request exports, removed with the shop)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any, Protocol


class Register(Protocol):
    """Message and webhook ids seen per source, remembered for a window (replays are skipped)."""

    def seen(self, source: str, message_ids: Iterable[str], now: datetime) -> set[str]: ...

    def remember(self, source: str, message_ids: Iterable[str], received_at: datetime, window: timedelta) -> None: ...


class CuratedSink(Protocol):
    def deliver(self, entity: str, rows: list[tuple[date, dict[str, Any]]]) -> int:
        """Send rows (each with its `dt` partition day) to the entity's curated table; returns how many are still
        undelivered after the sink's own retries."""
        ...


class WriteKeys(Protocol):
    def find_source(self, write_key: str) -> dict[str, Any] | None:
        """The source a write key belongs to (stored under its hash), or None."""
        ...


class ShopSecrets(Protocol):
    def shop_secret(self, shop_domain: str) -> bytes | None:
        """The shop's webhook signing secret, or None for an unknown shop."""
        ...


class ShopRemovalReport(Protocol):
    def as_dict(self) -> dict[str, Any]: ...


class ShopData(Protocol):
    def store_data_request(self, shop: str, data_request_id: str, document: dict[str, Any], created_at: str) -> str:
        """Store a data-request export; returns its object key."""
        ...

    def remove_shop(self, shop: str) -> ShopRemovalReport: ...
