"""In-memory fakes of the domain's ports, for domain tests that read more clearly without moto.

Each keeps what it was given in plain attributes the test can assert on, and implements its port's Protocol
(named in its docstring) with the same semantics as the adapter (e.g. a claim is refused once a message was sent).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


@dataclass
class FakeErasedRegister:
    """The erased register (cdp.privacy.ports.ErasedRegister): digests in a set; counts the reads."""

    erased: set[str] = field(default_factory=set)
    reads: int = 0

    def erased_among(self, digests: Iterable[str]) -> set[str]:
        self.reads += 1
        return self.erased & set(digests)

    def erased_register(self, lookups: int) -> frozenset[str] | None:
        self.reads += 1
        return frozenset(self.erased)

    def erased_by_key(self, digests: Iterable[str]) -> set[str]:
        return self.erased_among(digests)

    def mark_erased(self, digests: Iterable[str], erasure_id: str, erased_at: str) -> None:
        self.erased.update(digests)


@dataclass
class FakeMessageRegister:
    """The replay register (cdp.tracking.ports.Register): ids per source with their expiry."""

    expiries: dict[tuple[str, str], datetime] = field(default_factory=dict)

    def seen(self, source: str, message_ids: Iterable[str], now: datetime) -> set[str]:
        return {i for i in message_ids if self.expiries.get((source, i), now) > now}

    def remember(self, source: str, message_ids: Iterable[str], received_at: datetime, window: timedelta) -> None:
        self.expiries.update({(source, message_id): received_at + window for message_id in message_ids})


@dataclass
class FakeJourneyRuns:
    """Journey executions (cdp.journeys.ports.JourneyRuns): started inputs by name, stopped names."""

    started: dict[str, dict[str, Any]] = field(default_factory=dict)
    stopped: list[str] = field(default_factory=list)

    def start(self, journey: str, execution_name: str, run_input: dict[str, Any]) -> None:
        self.started.setdefault(execution_name, run_input)

    def stop(self, journey: str, execution_name: str, cause: str) -> None:
        self.stopped.append(execution_name)


@dataclass
class FakeMessageEvents:
    """Curated `messages` rows (cdp.messaging.ports.MessageEvents)."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    def record(self, rows: list[dict[str, Any]]) -> None:
        self.rows.extend(rows)
