"""The one back-off of optimistic retries: a random pause (full jitter) growing with the attempt, capped at 100 ms.

Adapters (DynamoDB transactions cancelled by a concurrent writer) and domain loops (merges, splits re-reading after
a `ConcurrentChange`) both pause through `backoff`, so concurrent writers spread out instead of colliding again.
"""

from __future__ import annotations

import random
import time

BASE_SECONDS = 0.01
MAX_STEPS = 10


def backoff(attempt: int) -> None:
    """Sleep a random time in [0, 10 ms x min(attempt + 1, 10)]."""
    time.sleep(random.uniform(0, BASE_SECONDS * min(attempt + 1, MAX_STEPS)))
