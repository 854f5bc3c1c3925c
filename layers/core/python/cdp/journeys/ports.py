"""What journeys need from storage: the per-step message log (claimed before sending, so nothing goes twice) and a
strongly consistent read of the live profile."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

ReadProfile = Callable[[str], dict[str, Any] | None]  # profile id -> the live profile item (redirects followed)


class JourneyStep(Protocol):
    """Which message of which journey execution, for whom, on which channel."""

    @property
    def profile_id(self) -> str: ...

    @property
    def journey(self) -> str: ...

    @property
    def step(self) -> str: ...

    @property
    def channel(self) -> str: ...

    @property
    def execution_id(self) -> str: ...


class JourneyMessageLog(Protocol):
    def get(self, profile_id: str, journey: str, step: str) -> dict[str, Any] | None: ...

    def record_suppressed(self, step: JourneyStep, reason: str, now: datetime) -> None: ...

    def claim(self, step: JourneyStep, now: datetime) -> bool: ...

    def mark_sent(self, profile_id: str, journey: str, step: str, provider_message_id: str, now: datetime) -> None: ...
