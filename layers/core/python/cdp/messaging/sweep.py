"""Re-sends deferred campaign messages when they are due (the minute sweeper's use case)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from cdp.messaging.ports import DeferredMessages
from cdp.messaging.service import SendingParts, send_message


def send_due_messages(parts: SendingParts, deferred: DeferredMessages, now: datetime, limit: int) -> Counter[str]:
    """Send each message due by `now` (at most `limit`); one deferred again is stored under its new time. Each is
    removed only after its outcome is recorded, so a crashed sweep re-sends it (exactly once by its key)."""
    outcomes: Counter[str] = Counter()
    for request, until in deferred.due(now, limit):
        outcome = send_message(request, parts, now)
        if outcome.status == "deferred" and outcome.defer_until is not None:
            deferred.defer(request, outcome.defer_until)
        deferred.done(request, until)
        outcomes[outcome.status] += 1
    return outcomes
