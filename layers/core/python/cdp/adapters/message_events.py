"""`MessageEvents` and the unsubscribe links until signed tokens exist: message rows go to the curated `messages`
delivery stream (partitioned by the day of their `at`)."""

from __future__ import annotations

from datetime import UTC
from typing import Any
from urllib.parse import urlencode

from cdp.adapters.curated_stream import CuratedStreams

MESSAGES = "messages"


class CuratedMessageEvents:
    def __init__(self, streams: CuratedStreams) -> None:
        self.streams = streams

    def record(self, rows: list[dict[str, Any]]) -> None:
        self.streams.deliver(MESSAGES, [(row["at"].astimezone(UTC).date(), row) for row in rows])


class UnsubscribePage:
    """`UnsubscribeLinks`: the unsubscribe page's URL naming the profile and channel, never the address."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def link(self, profile_id: str, channel: str) -> str:
        return f"{self.base_url}?{urlencode({'profile': profile_id, 'channel': channel})}"
