"""DynamoDB and SSM access for privacy: conditional consent writes, erasure of a person's items, erased markers.

Items written here (ProfilesTable): `ERASED` / `<sha256(salt + "<type>#<value>")>` (an erased identifier, no PII:
the erased register, one partition with the digest as sort key), `ERASURE#<id>` / `ERASURE` (an erasure's status and counts, no PII), and the consent history:
`PROFILE#<id>` / `CONSENT#<recorded_at>#<channel:purpose>#<digest of granted and source>` (channel, purpose, granted,
source, recorded_at, received_at), put once, never changed.

The register is small (erasures are rare) and read strongly consistently. `erased_among` reads it whole (a Query of
its partition) when that costs less than looking the digests up (BatchGetItem, 100 a request, 1 RCU each): the
Query is limited to as many items as the lookups' RCU would read (a register item is about 150 bytes, so 4 KB per
RCU holds ~27) and to as many pages as their requests; a register found bigger than that is remembered per
container, and later lookups of as few digests go straight to the point reads.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import cache
from typing import Any

from botocore.exceptions import ClientError

from cdp.adapters.clients import client, dynamodb_table
from cdp.adapters.dynamodb import (
    batch_get_items,
    live_item,
    only_conditions_failed,
    plain,
    query_items,
    query_partition,
    transact,
    wire,
)
from cdp.adapters.identity_store import IdentityStore
from cdp.adapters.natural_key_ledger import forget_identifiers
from cdp.adapters.profile_batches import for_each_profile
from cdp.canonical import Identifier
from cdp.errors import ConcurrentChange
from cdp.keys import (
    BY_PROFILE_INDEX,
    CONSENT_PREFIX,
    DEFERRED_PREFIX,
    ERASED_PARTITION,
    consent_statement_key,
    erased_key,
    erasure_key,
    profile_key,
    profile_pk,
)
from cdp.privacy.ports import ConsentChange, ConsentPlan
from cdp.retry import backoff

STATEMENTS_PER_TRANSACTION = 99  # and the profile update: DynamoDB's 100 items per transaction
CONSENT_ATTEMPTS = 25
BATCH_GET_LIMIT = 100
REGISTER_ITEMS_PER_RCU = 27  # a register item (digest, erasure id, time) is about 150 bytes; an RCU reads 4 KB
_register_larger_than: dict[str, int] = {}  # per table: a register size this container has seen exceeded


@cache
def erasure_salt(parameter_name: str) -> str:
    """The erasure salt, a SecureString SSM parameter, read once per container."""
    return str(client("ssm").get_parameter(Name=parameter_name, WithDecryption=True)["Parameter"]["Value"])


def _statement_key(profile_id: str, change: ConsentChange) -> dict[str, str]:
    return consent_statement_key(profile_id, change.value()["recorded_at"], change.key, f"{change.granted}#{change.source}")


class PrivacyStore:
    """Consent writes, the erased register and erasure of a profile's items in both tables."""

    def __init__(self, profiles_table: str, ledger_table: str) -> None:
        self.profiles_table_name = profiles_table
        self.ledger_table_name = ledger_table
        self.profiles = dynamodb_table(profiles_table)
        self.ledger = dynamodb_table(ledger_table)
        self.identity = IdentityStore(profiles_table, ledger_table)

    # ------------------------------------------------------------------ identity, as privacy needs it
    def live_profile_ids(self, profile_ids: Iterable[str]) -> dict[str, str | None]:
        return self.identity.live_profile_ids(profile_ids)

    def find_bound(self, identifiers: Iterable[Identifier]) -> dict[Identifier, str]:
        return self.identity.find_bound(identifiers)

    # ------------------------------------------------------------------ consent
    def record_consents_batch(
        self, changes_by_profile: Mapping[str, list[ConsentChange]], now: datetime, plan: ConsentPlan
    ) -> dict[str, list[bool]]:
        """record_consents for a batch's profiles: read together, 100 to a request, then written concurrently."""
        return for_each_profile(
            self.profiles,
            changes_by_profile,
            lambda profile_id, profile: self.record_consents(profile_id, changes_by_profile[profile_id], now, plan, profile),
        )

    def record_consents(
        self,
        profile_id: str,
        changes: list[ConsentChange],
        now: datetime,
        plan: ConsentPlan,
        profile: dict[str, Any] | None = None,
    ) -> list[bool]:
        """Record statements about one profile: each new one joins the history, the newest per key becomes current.

        One transaction per 99 statements (the history puts and one profile update, conditional on the stored
        times and history count read, and on the profile being live: a merged profile's redirect is followed).
        `profile`, when the caller has just read it consistently, saves the first read.
        `plan(stored consent, changes)` says which entries to set (the domain's precedence rule).
        Returns, per change, whether it became the current statement for its key (a repeated change: once).
        """
        unique = list(dict.fromkeys(changes))
        current: dict[ConsentChange, bool] = {}
        for start in range(0, len(unique), STATEMENTS_PER_TRANSACTION):
            chunk = unique[start : start + STATEMENTS_PER_TRANSACTION]
            profile_id, became = self._record_chunk(profile_id, chunk, now, plan, None if start else profile)
            current.update(zip(chunk, became))
        return [current.pop(change, False) for change in changes]

    def _record_chunk(
        self, profile_id: str, changes: list[ConsentChange], now: datetime, plan: ConsentPlan, profile: dict[str, Any] | None
    ) -> tuple[str, list[bool]]:
        new = list(changes)
        for attempt in range(CONSENT_ATTEMPTS):
            if attempt == 0 and profile is not None and "redirect_to" not in profile:
                item: dict[str, Any] | None = profile
            else:
                item = live_item(self.profiles, profile["redirect_to"] if attempt == 0 and profile else profile_id)
            if item is None:
                return profile_id, [False] * len(changes)
            profile_id = item["profile_id"]
            consent = item.get("consent") if isinstance(item.get("consent"), dict) else None
            winners = plan(consent, changes)
            new = [change for change in new if (consent or {}).get(change.key) != change.value()]
            if not new:
                return profile_id, [False] * len(changes)
            writes = [self._statement_put(profile_id, change, now) for change in new]
            writes.append(self._consent_update(item, winners, len(new), now))
            try:
                transact(writes)
            except ConcurrentChange as change:
                if not only_conditions_failed(change):
                    raise
                new = [statement for statement, code in zip(new, change.reasons) if code != "ConditionalCheckFailed"]
                backoff(attempt)
                continue
            return profile_id, [winners.get(change.key) == change.value() for change in changes]
        raise RuntimeError(f"profile {profile_id} kept changing; consent not recorded")

    def _statement_put(self, profile_id: str, change: ConsentChange, now: datetime) -> dict[str, Any]:
        item = {**_statement_key(profile_id, change), **change.statement(), "received_at": now.isoformat()}
        return {
            "Put": {
                "TableName": self.profiles_table_name,
                "Item": wire(item),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def _consent_update(
        self, item: dict[str, Any], winners: dict[str, dict[str, Any]], statements: int, now: datetime
    ) -> dict[str, Any]:
        """The profile's current consent and history count, conditional on what was read (live, same times)."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {":statements": statements, ":now": now.isoformat()}
        conditions = ["attribute_exists(pk)", "attribute_not_exists(redirect_to)"]
        if "consent_statements" in item:
            conditions.append("consent_statements = :read_statements")
            values[":read_statements"] = item["consent_statements"]
        else:
            conditions.append("attribute_not_exists(consent_statements)")
        assignments = ["consent_updated_at = :now"]
        if not isinstance(item.get("consent"), dict):
            conditions.append("attribute_not_exists(consent)")
            assignments.append("consent = :consent")
            values[":consent"] = winners
        for n, (key, entry) in enumerate(winners.items() if isinstance(item.get("consent"), dict) else ()):
            names[f"#k{n}"] = key
            values[f":v{n}"] = entry
            stored = item["consent"].get(key)
            if isinstance(stored, dict) and "recorded_at" in stored:
                conditions.append(f"consent.#k{n}.recorded_at = :t{n}")
                values[f":t{n}"] = stored["recorded_at"]
            else:
                conditions.append(f"attribute_not_exists(consent.#k{n})")
            assignments.append(f"consent.#k{n} = :v{n}")
        update: dict[str, Any] = {
            "TableName": self.profiles_table_name,
            "Key": wire(profile_key(item["profile_id"])),
            "UpdateExpression": "SET " + ", ".join(assignments) + " ADD consent_statements :statements",
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeValues": wire(values),
        }
        if names:
            update["ExpressionAttributeNames"] = names
        return {"Update": update}

    def consent_history(self, profile_id: str) -> list[dict[str, Any]]:
        """The profile's consent statements, oldest first."""
        return query_partition(self.profiles_table_name, profile_pk(profile_id), CONSENT_PREFIX)

    def profile_consistently(self, profile_id: str, follow_redirects: bool = False) -> dict[str, Any] | None:
        """The profile as last written (strongly consistent read), as a send decision needs it; with
        `follow_redirects`, the live profile it was merged into."""
        if follow_redirects:
            return live_item(self.profiles, profile_id)
        return self.profiles.get_item(Key=profile_key(profile_id), ConsistentRead=True).get("Item")

    # ------------------------------------------------------------------ the erased register
    def erased_among(self, digests: Iterable[str]) -> set[str]:
        """Which of these identifier digests were erased (strongly consistent): the register read whole or the
        digests looked up, whichever costs less (see the module docstring)."""
        wanted = set(digests)
        if not wanted:
            return set()
        register = self.erased_register(len(wanted))
        return wanted & register if register is not None else self.erased_by_key(wanted)

    def erased_register(self, lookups: int) -> frozenset[str] | None:
        """The whole register (consistent Query), if it costs no more than looking up `lookups` digests would:
        at most that many items and ceil(lookups / 100) requests; None when it is bigger."""
        limit = lookups * REGISTER_ITEMS_PER_RCU
        if limit <= _register_larger_than.get(self.profiles_table_name, -1):
            return None
        request: dict[str, Any] = {
            "TableName": self.profiles_table_name,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": ERASED_PARTITION}},
            "ProjectionExpression": "sk",
            "ConsistentRead": True,
        }
        digests: set[str] = set()
        for _ in range(math.ceil(lookups / BATCH_GET_LIMIT)):
            page = client("dynamodb").query(**request, Limit=limit - len(digests) + 1)
            digests.update(item["sk"]["S"] for item in page["Items"])
            if len(digests) > limit:
                break
            if "LastEvaluatedKey" not in page:
                return frozenset(digests)
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        table = self.profiles_table_name
        _register_larger_than[table] = max(_register_larger_than.get(table, -1), len(digests) - 1)
        return None

    def erased_by_key(self, digests: Iterable[str]) -> set[str]:
        """Which of these digests are in the register, looked up by key (consistent BatchGetItem, 100 a request)."""
        keys = [erased_key(digest) for digest in digests]
        read = batch_get_items(self.profiles.meta.client, self.profiles_table_name, keys, consistent=True, attributes=("sk",))
        return {item["sk"] for item in read}

    def mark_erased(self, digests: Iterable[str], erasure_id: str, erased_at: str) -> None:
        with self.profiles.batch_writer(overwrite_by_pkeys=["pk", "sk"]) as batch:
            for digest in digests:
                batch.put_item(Item={**erased_key(digest), "erasure_id": erasure_id, "erased_at": erased_at})

    # ------------------------------------------------------------------ a person's items
    def profile_items(self, profile_id: str) -> list[dict[str, Any]]:
        """Every ProfilesTable item under `PROFILE#<id>`: profile, memberships, edges, journey messages."""
        return query_partition(self.profiles_table_name, profile_pk(profile_id))

    def ledger_items(self, profile_id: str) -> list[dict[str, Any]]:
        """Every LedgerTable item of the profile: `PROFILE#<id>` items (orders, events) and its `RECORD#` records."""
        items = query_partition(self.ledger_table_name, profile_pk(profile_id))
        records = query_items(
            TableName=self.ledger_table_name,
            IndexName=BY_PROFILE_INDEX,
            KeyConditionExpression="profile_id = :profile_id",
            ExpressionAttributeValues={":profile_id": {"S": profile_id}},
        )
        try:
            items += list(records)
        except ClientError as error:  # the record ledger's index is not deployed: no RECORD# items exist either
            if error.response["Error"]["Code"] not in ("ValidationException", "ResourceNotFoundException"):
                raise
        return items

    def items_naming(self, profile_ids: list[str]) -> list[dict[str, Any]]:
        """The items outside these profiles' own partitions that name them: the `IDENTITY#...` items bound to them,
        their `SEGMENT#...` memberships, `TIMER#...` live segment timers, `COUPON#<code>` coupon codes and
        `DEFERRED...` deferred messages, and the edges other profiles hold about them (conflicts: linked, not merged).

        One filtered, paginated scan: erasure is rare, and a scan finds every item whatever wrote it.
        """
        ids = {f":p{i}": {"S": profile_id} for i, profile_id in enumerate(profile_ids)}
        members = {f":m{i}": {"S": f"PROFILE#{profile_id}"} for i, profile_id in enumerate(profile_ids)}
        pages = client("dynamodb").get_paginator("scan").paginate(
            TableName=self.profiles_table_name,
            FilterExpression=(
                f"(sk = :identity AND profile_id IN ({', '.join(ids)})) OR "
                f"(begins_with(pk, :segment) AND sk IN ({', '.join(members)})) OR "
                f"(begins_with(pk, :timer) AND profile_id IN ({', '.join(ids)})) OR "
                f"(begins_with(pk, :coupon) AND sk = :coupon_sk AND profile_id IN ({', '.join(ids)})) OR "
                f"(begins_with(pk, :deferred) AND profile_id IN ({', '.join(ids)})) OR "
                f"(begins_with(sk, :edge) AND from_profile IN ({', '.join(ids)}) AND NOT pk IN ({', '.join(members)}))"
            ),
            ExpressionAttributeValues={
                ":identity": {"S": "IDENTITY"}, ":segment": {"S": "SEGMENT#"}, ":timer": {"S": "TIMER#"}, ":edge": {"S": "EDGE#"},
                ":coupon": {"S": "COUPON#"}, ":coupon_sk": {"S": "COUPON"}, ":deferred": {"S": DEFERRED_PREFIX}, **ids, **members
            },
        )
        return [plain(item) for page in pages for item in page["Items"]]

    def delete_profile_items(self, items: Iterable[dict[str, Any]]) -> int:
        return self._delete_items(self.profiles_table_name, items)

    def delete_ledger_items(self, items: Iterable[dict[str, Any]]) -> int:
        return self._delete_items(self.ledger_table_name, items)

    def forget_natural_keys(self, values: list[str]) -> int:
        """Delete the natural-key items (customers, consents) whose key holds one of these identifier values."""
        return forget_identifiers(self.ledger_table_name, values)

    def _delete_items(self, table: str, items: Iterable[dict[str, Any]]) -> int:
        deleted = 0
        with dynamodb_table(table).batch_writer(overwrite_by_pkeys=["pk", "sk"]) as batch:
            for item in items:
                batch.delete_item(Key={"pk": item["pk"], "sk": item["sk"]})
                deleted += 1
        return deleted

    def scrub_edges(self, edges: Iterable[dict[str, Any]]) -> int:
        """Remove the identifiers and snapshots from edges other profiles keep about an erased one."""
        scrubbed = 0
        for edge in edges:
            self.profiles.update_item(
                Key={"pk": edge["pk"], "sk": edge["sk"]},
                UpdateExpression="REMOVE identifiers, linked_by, from_snapshot, attributes_taken",
            )
            scrubbed += 1
        return scrubbed

    # ------------------------------------------------------------------ erasure status
    def put_erasure(self, erasure: dict[str, Any]) -> None:
        self.profiles.put_item(Item={**erasure_key(erasure["erasure_id"]), **erasure})

    def update_erasure(self, erasure_id: str, values: dict[str, Any]) -> None:
        names = {f"#v{i}": name for i, name in enumerate(values)}
        self.profiles.update_item(
            Key=erasure_key(erasure_id),
            UpdateExpression="SET " + ", ".join(f"#v{i} = :v{i}" for i in range(len(values))),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={f":v{i}": value for i, value in enumerate(values.values())},
        )

    def get_erasure(self, erasure_id: str) -> dict[str, Any] | None:
        return self.profiles.get_item(Key=erasure_key(erasure_id), ConsistentRead=True).get("Item")
