"""Where a local run spends its time: every AWS operation and every function invocation, counted and timed.

Calls nest in the local stack (an S3 put runs the ingest function, whose DynamoDB calls run inside it), so each
call's own time excludes the calls made inside it: the figures add up to the run's time, and moto's share of
an operation is not counted again under the function that made it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

from botocore.client import BaseClient


@dataclass
class _Tally:
    count: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0


@dataclass
class OperationProfile:
    """Per-name call counts and own (exclusive) wall and CPU seconds, e.g. `dynamodb.UpdateItem`, `lambda:IngestFileFunction`."""

    tallies: dict[str, _Tally] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _frames: threading.local = field(default_factory=threading.local)

    @contextmanager
    def timing(self, name: str) -> Iterator[None]:
        """Time one call as `name`; the time of calls timed inside it is theirs, not its own."""
        stack: list[list[float]] = self._frames.__dict__.setdefault("stack", [])
        frame = [0.0, 0.0]  # wall and CPU seconds of the calls nested in this one
        stack.append(frame)
        started, cpu_started = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            wall, cpu = time.perf_counter() - started, time.thread_time() - cpu_started
            stack.pop()
            if stack:
                stack[-1][0] += wall
                stack[-1][1] += cpu
            with self._lock:
                tally = self.tallies.setdefault(name, _Tally())
                tally.count += 1
                tally.seconds += wall - frame[0]
                tally.cpu_seconds += cpu - frame[1]

    def top(self, limit: int = 15) -> list[dict[str, Any]]:
        """The names that took the most own time, with count, wall and CPU seconds."""
        ranked = sorted(self.tallies.items(), key=lambda item: item[1].seconds, reverse=True)[:limit]
        return [
            {"name": name, "count": t.count, "seconds": round(t.seconds, 2), "cpu_seconds": round(t.cpu_seconds, 2)}
            for name, t in ranked
        ]

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {
            name: {"count": t.count, "seconds": round(t.seconds, 3), "cpu_seconds": round(t.cpu_seconds, 3)}
            for name, t in sorted(self.tallies.items(), key=lambda item: item[1].seconds, reverse=True)
        }


@contextmanager
def profiling_aws_operations(profile: OperationProfile) -> Iterator[OperationProfile]:
    """Time every boto3 call made in this process (any client, any thread) under `service.Operation`."""
    original: Callable[..., Any] = BaseClient._make_api_call

    def timed_call(client: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        with profile.timing(f"{client.meta.service_model.service_name}.{operation_name}"):
            return original(client, operation_name, api_params)

    with mock.patch.object(BaseClient, "_make_api_call", timed_call):
        yield profile
