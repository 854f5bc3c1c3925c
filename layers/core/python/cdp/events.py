"""Domain events and their envelope: what happened (source, type, detail), in which schema version, for which request.

Domain code builds events and hands them to a publisher port; the EventBridge adapter sends each as one entry whose
`detail` carries the event's own fields and, under `metadata`, the envelope (schema `version`, `correlation_id`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

EVENT_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class DomainEvent:
    source: str
    detail_type: str
    detail: dict[str, Any]
    version: int = EVENT_SCHEMA_VERSION
    correlation_id: str | None = None

    def envelope(self) -> dict[str, Any]:
        """The detail as published: the event's fields and its metadata (version, correlation id when known)."""
        metadata: dict[str, Any] = {"version": self.version}
        if self.correlation_id:
            metadata["correlation_id"] = self.correlation_id
        return {**self.detail, "metadata": metadata}
