"""What journeys need from storage and AWS: a strongly consistent read of the live profile, the entry records and
the state machine runs (message events are the messaging port `MessageEvents`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

ReadProfile = Callable[[str], dict[str, Any] | None]  # profile id -> the live profile item (redirects followed)


class JourneyEntries(Protocol):
    """One entry record per profile and journey: which run is active, and since when (re-entry rules read it)."""

    def enter(self, entry: dict[str, Any], condition: EntryCondition) -> str | None:
        """Write the entry if the condition allows it; None when written, else why not (`already_active`, `reentry`)."""
        ...

    def get(self, profile_id: str, journey: str) -> dict[str, Any] | None: ...

    def end(self, profile_id: str, journey: str, execution_name: str, outcome: str, now: datetime) -> bool:
        """Mark the run ended, if the record still names it; False otherwise."""
        ...


class JourneyRuns(Protocol):
    """Step Functions executions of the journeys' state machines."""

    def start(self, journey: str, execution_name: str, run_input: dict[str, Any]) -> None:
        """Start the named execution; the same name again (a retried entry) is not an error."""
        ...

    def stop(self, journey: str, execution_name: str, cause: str) -> None:
        """Stop the execution now (a goal or exit event); an execution already ended is not an error."""
        ...


@dataclass(frozen=True)
class EntryCondition:
    """When an entry may be written: no record yet, or the same event retried, or (the previous run inactive or
    past its maximum duration) and the re-entry rule allows it (`reentry_after` None: never again)."""

    execution_name: str
    trigger_id: str
    now: datetime
    reentry_after: datetime | None
