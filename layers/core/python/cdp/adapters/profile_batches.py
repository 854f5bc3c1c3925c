"""A batch's profiles read together (consistently, 100 to a request) and then worked on concurrently.

Each piece of work touches only its own profile's items, and boto3 clients are thread-safe, so a Lambda is not
bound by one round trip after another; record application and consent writes both go through here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from cdp.adapters.dynamodb import batch_get_items
from cdp.keys import profile_id_of, profile_key

PARALLEL_PROFILES = 8
Result = TypeVar("Result")


def for_each_profile(
    profiles_table: Any, profile_ids: Iterable[str], work: Callable[[str, dict[str, Any] | None], Result]
) -> dict[str, Result]:
    """`work(profile_id, profile item as just read or None)` for each profile, PARALLEL_PROFILES at a time;
    results by profile id in the order given."""
    ids = list(profile_ids)
    keys = [profile_key(profile_id) for profile_id in ids]
    read = batch_get_items(profiles_table.meta.client, profiles_table.name, keys, consistent=True)
    profiles = {profile_id_of(item["pk"]): item for item in read}
    with ThreadPoolExecutor(PARALLEL_PROFILES) as pool:
        results = pool.map(lambda profile_id: work(profile_id, profiles.get(profile_id)), ids)
        return dict(zip(ids, results, strict=True))
