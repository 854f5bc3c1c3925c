"""DynamoDB access for profiles and the record ledger: each source record applied exactly once, atomically.

Identity items, merges and splits live in `identity_store`; consent writes in `privacy_store` (see README: Table design).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from cdp.adapters.clients import dynamodb_table
from cdp.adapters.coupon_store import CouponStore
from cdp.adapters.dynamodb import TRANSACTION_LIMIT, live_item, only_conditions_failed, transact, wire
from cdp.adapters.identity_store import IdentityStore
from cdp.adapters.live_segment_store import membership_items, membership_update
from cdp.adapters.privacy_store import PrivacyStore
from cdp.adapters.profile_batches import for_each_profile
from cdp.errors import ConcurrentChange
from cdp.keys import profile_key
from cdp.records.ports import AppliedRecords, MembershipDecision
from cdp.retry import backoff
from cdp.segments.live_ports import MembershipChange

APPLY_ATTEMPTS = 25
Item = dict[str, Any]
ProfileChanges = Callable[[Item, list[Item]], Item]  # (profile item, new ledger items) -> attributes to set


def _stored_already(item: dict[str, Any], name: str, value: Any) -> bool:
    """Whether the item holds exactly this value (same DynamoDB type and representation) under `name`."""
    if name not in item:
        return False
    try:
        return bool(wire({name: item[name]}) == wire({name: value}))
    except (TypeError, ValueError):  # a value DynamoDB cannot hold as it is: let the update say so
        return False


class ProfileStore:
    """Profiles and the ledger of the source records applied to them."""

    def __init__(self, profiles_table: str, ledger_table: str) -> None:
        self.profiles_table_name = profiles_table
        self.ledger_table_name = ledger_table
        self.profiles = dynamodb_table(profiles_table)
        self.privacy = PrivacyStore(profiles_table, ledger_table)

    @property
    def identity(self) -> IdentityStore:
        """Identity resolution's store over the same tables."""
        return self.privacy.identity

    @property
    def coupons(self) -> CouponStore:
        """Coupons, redeemed as orders are applied, in the same profiles table."""
        return CouponStore(self.profiles_table_name)

    # ------------------------------------------------------------------ ledger records, exactly once
    def apply_ledger_batch(
        self, items_by_profile: Mapping[str, list[dict[str, Any]]], changes: ProfileChanges, now: datetime,
        decide: MembershipDecision | None = None,
    ) -> dict[str, AppliedRecords]:
        """Apply each profile's new ledger items (see apply_ledger_items) for a whole batch: the profiles are read
        consistently 100 to a request, then the profiles' transactions run concurrently (each touches only its own
        profile and ledger items). Returns what was applied, by profile id in the order given."""
        return for_each_profile(
            self.profiles,
            items_by_profile,
            lambda profile_id, profile: self.apply_ledger_items(
                profile_id, items_by_profile[profile_id], changes, now, profile, decide
            ),
        )

    def apply_ledger_items(
        self,
        profile_id: str,
        items: list[dict[str, Any]],
        changes: ProfileChanges,
        now: datetime,
        profile: dict[str, Any] | None = None,
        decide: MembershipDecision | None = None,
    ) -> AppliedRecords:
        """Write new ledger items and the profile changes they make, one transaction per 99 items.

        Each ledger put is conditional (`attribute_not_exists(pk)`); the profile update is conditional on the
        aggregate and identity versions read (`profile`, when the caller has just read it, is used for the first
        transaction). When the transaction is cancelled, the records already in the ledger are dropped, the profile
        re-read (following a merge redirect) and the rest retried, so every record counts once however often and
        however concurrently it arrives. `decide` is asked, in the last transaction, for the live segment change on
        the profile's new state; a change that fits in it is written there too (conditional on the memberships
        version read). Returns the items this call applied and the decision written with them.
        """
        applied: list[dict[str, Any]] = []
        membership = None
        for start in range(0, len(items), TRANSACTION_LIMIT - 1):
            chunk = items[start : start + TRANSACTION_LIMIT - 1]
            last = start + TRANSACTION_LIMIT - 1 >= len(items)
            written, membership = self._apply_ledger_chunk(
                profile_id, chunk, changes, now, None if start else profile, decide if last else None
            )
            applied += written
        return AppliedRecords(applied, membership)

    def _apply_ledger_chunk(
        self, profile_id: str, items: list[Item], changes: ProfileChanges, now: datetime, profile: Item | None,
        decide: MembershipDecision | None,
    ) -> tuple[list[Item], MembershipChange | None]:
        for attempt in range(APPLY_ATTEMPTS):
            if profile is None or "redirect_to" in profile:
                profile = live_item(self.profiles, profile["redirect_to"] if profile else profile_id)
            if profile is None:
                raise LookupError(f"profile {profile_id} does not exist")
            profile_id = profile["profile_id"]
            items = [{**item, "profile_id": profile_id} for item in items]
            writes = [
                {
                    "Put": {
                        "TableName": self.ledger_table_name,
                        "Item": wire(item),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
                for item in items
            ]
            values = changes(profile, items)
            membership = decide({**profile, **values}) if decide else None
            beside = membership_items(self.profiles_table_name, membership) if membership else []
            if len(writes) + 1 + len(beside) > TRANSACTION_LIMIT:  # no room: decided after the write instead
                membership, beside = None, []
            writes.append(self._versioned_profile_update(profile, values, now, membership))
            try:
                transact(writes + beside)
                return items, membership
            except ConcurrentChange as change:
                if not only_conditions_failed(change):
                    raise
                items = [item for item, code in zip(items, change.reasons) if code != "ConditionalCheckFailed"]
                if not items:
                    return [], None
                profile = None
                backoff(attempt)
        raise RuntimeError(f"profile {profile_id} kept changing; records not applied")

    def _versioned_profile_update(
        self, profile: dict[str, Any], values: dict[str, Any], now: datetime, membership: MembershipChange | None = None
    ) -> dict[str, Any]:
        """SET the changed attributes, bump `aggregates_version`, only if both versions are still those read; with a
        live segment change that is not empty, its memberships, timers and version too (membership_update).

        Attributes whose new value is the one stored are left out: the condition on the versions read guarantees
        the stored value is still that one, and the request stays as small as the change."""
        values = {name: value for name, value in values.items() if not _stored_already(profile, name, value)}
        names = {f"#v{i}": name for i, name in enumerate(values)}
        expression_values: dict[str, Any] = {f":v{i}": value for i, value in enumerate(values.values())}
        expression_values.update({":now": now.isoformat(), ":one": 1})
        conditions = ["attribute_exists(pk)", "attribute_not_exists(redirect_to)"]
        for version in ("aggregates_version", "identity_version"):
            if version in profile:
                conditions.append(f"{version} = :{version}")
                expression_values[f":{version}"] = profile[version]
            else:
                conditions.append(f"attribute_not_exists({version})")
        sets, adds = [*(f"#v{i} = :v{i}" for i in range(len(values))), "updated_at = :now"], ["aggregates_version :one"]
        if membership is not None and not membership.empty:
            parts = membership_update(membership)
            sets, adds, conditions = sets + parts.sets, adds + parts.adds, conditions + parts.conditions
            expression_values.update(parts.values)
        update: dict[str, Any] = {
            "TableName": self.profiles_table_name,
            "Key": wire(profile_key(profile["profile_id"])),
            "UpdateExpression": f"SET {', '.join(sets)} ADD {', '.join(adds)}",
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeValues": wire(expression_values),
        }
        if names:
            update["ExpressionAttributeNames"] = names
        return {"Update": update}

    # ------------------------------------------------------------------ reads
    def get_profile(self, profile_id: str) -> dict[str, Any] | None:
        return self.profiles.get_item(Key=profile_key(profile_id)).get("Item")
