"""Publishes domain events (with their envelope, cdp.events) to the platform's EventBridge bus, ten per request, retrying failed entries."""

from __future__ import annotations

import json
from collections.abc import Iterable

from cdp.adapters.clients import client
from cdp.events import DomainEvent
from cdp.observability import logger

MAX_ENTRIES_PER_REQUEST = 10
MAX_ATTEMPTS = 3


class EventPublishError(RuntimeError):
    """Some events could not be delivered to the bus after retries."""


def publish(bus_name: str, events: Iterable[DomainEvent]) -> int:
    """Put every event on the bus; raises if any is still failing after retries. Returns how many were sent."""
    entries = [
        {
            "Source": e.source,
            "DetailType": e.detail_type,
            "Detail": json.dumps(e.envelope(), default=str),
            "EventBusName": bus_name,
        }
        for e in events
    ]
    for start in range(0, len(entries), MAX_ENTRIES_PER_REQUEST):
        pending = entries[start : start + MAX_ENTRIES_PER_REQUEST]
        for _attempt in range(MAX_ATTEMPTS):
            response = client("events").put_events(Entries=pending)
            pending = [entry for entry, result in zip(pending, response["Entries"]) if "ErrorCode" in result]
            if not pending:
                break
        if pending:
            logger.error("events not delivered", extra={"failed": len(pending)})
            raise EventPublishError(f"{len(pending)} events not delivered to {bus_name}")
    return len(entries)
