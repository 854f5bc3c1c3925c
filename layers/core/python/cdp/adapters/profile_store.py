"""DynamoDB access for profiles and the record ledger: each source record applied exactly once, atomically.

`apply_ledger_items` is the design (see README: Table design). `find_bound_profiles`, `bind_identifiers`,
`create_profile`, `update_attributes` and `apply_orders` serve the pre-ledger callers still on main
(cdp.ingest.pipeline, cdp.tracking.apply) until they switch to cdp.profiles.apply.apply_records.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

from cdp.adapters.clients import client, dynamodb_table
from cdp.identity.resolve import Identifier
from cdp.observability import logger
from cdp.privacy.consent import ConsentChange, consent_key
from cdp.profiles.changes import CustomerChange, OrderChange, OrderTotals, total_orders
from cdp.profiles.keys import identity_key, order_ledger_key, profile_key

BATCH_GET_LIMIT = 100
TRANSACTION_LIMIT = 100
APPLY_ATTEMPTS = 25
_serializer = TypeSerializer()


def _serialise(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in item.items()}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


class ProfileStore:
    """Profiles, identities and the ledger of applied orders."""

    def __init__(self, profiles_table: str, ledger_table: str) -> None:
        self.profiles_table_name = profiles_table
        self.ledger_table_name = ledger_table
        self.profiles = dynamodb_table(profiles_table)

    # ------------------------------------------------------------------ identities
    def find_bound_profiles(self, identifiers: Iterable[Identifier]) -> dict[Identifier, str]:
        """Which of these identifiers are already bound, and to which profile (batched reads)."""
        wanted = list(dict.fromkeys(identifiers))
        bound: dict[Identifier, str] = {}
        for start in range(0, len(wanted), BATCH_GET_LIMIT):
            keys = [identity_key(*identifier) for identifier in wanted[start : start + BATCH_GET_LIMIT]]
            request: dict[str, Any] = {self.profiles_table_name: {"Keys": keys}}
            while request:
                response = self.profiles.meta.client.batch_get_item(RequestItems=request)
                for item in response["Responses"].get(self.profiles_table_name, []):
                    _, identifier_type, value = item["pk"].split("#", 2)
                    bound[(identifier_type, value)] = item["profile_id"]
                request = response.get("UnprocessedKeys") or {}
        return bound

    def bind_identifiers(self, profile_id: str, identifiers: Iterable[Identifier]) -> list[Identifier]:
        """Bind free identifiers to the profile; returns those already bound elsewhere (conflicts, logged)."""
        conflicts: list[Identifier] = []
        for identifier in identifiers:
            try:
                self.profiles.put_item(
                    Item={**identity_key(*identifier), "profile_id": profile_id},
                    ConditionExpression="attribute_not_exists(pk) OR profile_id = :profile_id",
                    ExpressionAttributeValues={":profile_id": profile_id},
                )
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                conflicts.append(identifier)
        if conflicts:
            logger.warning(
                "identifier bound to another profile", extra={"profile_id": profile_id, "count": len(conflicts)}
            )
        return conflicts

    def create_profile(self, identifiers: list[Identifier], change: CustomerChange | None, now: datetime) -> str | None:
        """Create a profile and bind its identifiers in one transaction; None if another writer bound one first."""
        profile_id = uuid.uuid4().hex
        profile: dict[str, Any] = {
            **profile_key(profile_id),
            "profile_id": profile_id,
            "created_at": now.isoformat(),
            "updated_at": now.isoformat(),
            "orders_count": 0,
            "refunds_count": 0,
            "units": 0,
            "revenue": 0,
            "categories": {},
            "consent": {},
        }
        if change is not None:
            profile.update(self._attribute_values(change))
            profile["consent"] = self._consent_values(change)
        writes = [
            {
                "Put": {
                    "TableName": self.profiles_table_name,
                    "Item": _serialise(profile),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        ]
        writes += [
            {
                "Put": {
                    "TableName": self.profiles_table_name,
                    "Item": _serialise({**identity_key(*identifier), "profile_id": profile_id}),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for identifier in identifiers
        ]
        try:
            client("dynamodb").transact_write_items(TransactItems=writes)
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            return None
        return profile_id

    # ------------------------------------------------------------------ attributes and consent
    @staticmethod
    def _attribute_values(change: CustomerChange) -> dict[str, Any]:
        values = {name: value for name, value in change.attributes.items() if value is not None}
        if change.signed_up_at:
            values["signed_up_at"] = change.signed_up_at.isoformat()
        return values

    @staticmethod
    def _consent_values(change: CustomerChange) -> dict[str, Any]:
        """`<channel>:marketing` entries (privacy helper's layout) for the channels this record states."""
        return {
            consent_key(channel, "marketing"): ConsentChange(
                channel, "marketing", granted, change.observed_at, change.consent_source
            ).value()
            for channel, granted in change.consents.items()
        }

    def update_attributes(self, profile_id: str, change: CustomerChange) -> None:
        """Overwrite the attributes and consents this record states; one write."""
        values = self._attribute_values(change)
        names = {f"#a{i}": name for i, name in enumerate(values)}
        assignments = [f"#a{i} = :a{i}" for i in range(len(values))]
        expression_values = {f":a{i}": value for i, value in enumerate(values.values())}
        for i, (channel, consent) in enumerate(self._consent_values(change).items()):
            names[f"#c{i}"] = channel
            assignments.append(f"consent.#c{i} = :c{i}")
            expression_values[f":c{i}"] = consent
        expression_values[":now"] = change.observed_at.isoformat()
        request: dict[str, Any] = {
            "Key": profile_key(profile_id),
            "UpdateExpression": "SET " + ", ".join([*assignments, "updated_at = :now"]),
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeValues": expression_values,
        }
        if names:
            request["ExpressionAttributeNames"] = names
        self.profiles.update_item(**request)

    # ------------------------------------------------------------------ orders, exactly once
    def apply_orders(self, profile_id: str, orders: list[OrderChange]) -> int:
        """Record each order in the ledger and add it to the profile's aggregates, all or nothing per chunk.

        An order already in the ledger (re-delivered file, replayed event) is dropped and the chunk retried,
        so every order counts exactly once however often it arrives. Returns how many orders were new.
        """
        applied = 0
        for start in range(0, len(orders), TRANSACTION_LIMIT - 1):
            applied += self._apply_order_chunk(profile_id, orders[start : start + TRANSACTION_LIMIT - 1])
        return applied

    def _apply_order_chunk(self, profile_id: str, orders: list[OrderChange]) -> int:
        advance_last_order = True
        while orders:
            writes = [self._ledger_put(profile_id, order) for order in orders]
            writes.append(self._aggregate_update(profile_id, total_orders(orders), advance_last_order))
            try:
                client("dynamodb").transact_write_items(TransactItems=writes)
                return len(orders)
            except ClientError as error:
                if error.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                reasons = [reason.get("Code") for reason in error.response.get("CancellationReasons", [])]
                if not any(code == "ConditionalCheckFailed" for code in reasons):
                    raise
                already_applied = {i for i, code in enumerate(reasons[:-1]) if code == "ConditionalCheckFailed"}
                orders = [order for i, order in enumerate(orders) if i not in already_applied]
                if reasons[-1] == "ConditionalCheckFailed":
                    advance_last_order = False
        return 0

    def _ledger_put(self, profile_id: str, order: OrderChange) -> dict[str, Any]:
        item = {
            **order_ledger_key(profile_id, order.order_id),
            "order_id": order.order_id,
            "ordered_at": order.ordered_at.isoformat(),
            "currency": order.currency,
            "amount": order.amount,
            "items": order.items,
            "status": order.status,
            "source": order.source,
        }
        if order.category:
            item["category"] = order.category
        return {
            "Put": {
                "TableName": self.ledger_table_name,
                "Item": _serialise(item),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def _aggregate_update(self, profile_id: str, totals: OrderTotals, advance_last_order: bool) -> dict[str, Any]:
        """Add the totals to the profile (created with an empty categories map, so nested ADDs apply)."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {
            ":orders": totals.orders,
            ":refunds": totals.refunds,
            ":units": totals.units,
            ":revenue": totals.revenue,
        }
        additions = ["orders_count :orders", "refunds_count :refunds", "units :units", "revenue :revenue"]
        for i, (category, count) in enumerate(totals.categories.items()):
            names[f"#category{i}"] = category
            values[f":category{i}"] = count
            additions.append(f"categories.#category{i} :category{i}")
        assignments = []
        update: dict[str, Any] = {"TableName": self.profiles_table_name, "Key": _serialise(profile_key(profile_id))}
        if totals.first_order_at:
            values[":first"] = _iso(totals.first_order_at)
            assignments.append("first_order_at = if_not_exists(first_order_at, :first)")
        if totals.last_order_at and advance_last_order:
            values[":last"] = _iso(totals.last_order_at)
            assignments.append("last_order_at = :last")
            update["ConditionExpression"] = "attribute_not_exists(last_order_at) OR last_order_at < :last"
        expression = ("SET " + ", ".join(assignments) + " " if assignments else "") + "ADD " + ", ".join(additions)
        update.update(UpdateExpression=expression, ExpressionAttributeValues=_serialise(values))
        if names:
            update["ExpressionAttributeNames"] = names
        return {"Update": update}

    # ------------------------------------------------------------------ ledger records, exactly once
    def apply_ledger_items(
        self,
        profile_id: str,
        items: list[dict[str, Any]],
        changes: Callable[[dict[str, Any], list[dict[str, Any]]], dict[str, Any]],
        now: datetime,
    ) -> list[dict[str, Any]]:
        """Write new ledger items and the profile changes they make, one transaction per 99 items.

        Each ledger put is conditional (`attribute_not_exists(pk)`); the profile update is conditional on the
        aggregate and identity versions read. When the transaction is cancelled, the records already in the ledger
        are dropped, the profile re-read (following a merge redirect) and the rest retried, so every record counts
        once however often and however concurrently it arrives. Returns the items this call applied.
        """
        applied: list[dict[str, Any]] = []
        for start in range(0, len(items), TRANSACTION_LIMIT - 1):
            applied += self._apply_ledger_chunk(profile_id, items[start : start + TRANSACTION_LIMIT - 1], changes, now)
        return applied

    def _apply_ledger_chunk(
        self,
        profile_id: str,
        items: list[dict[str, Any]],
        changes: Callable[[dict[str, Any], list[dict[str, Any]]], dict[str, Any]],
        now: datetime,
    ) -> list[dict[str, Any]]:
        for attempt in range(APPLY_ATTEMPTS):
            profile = self.profiles.get_item(Key=profile_key(profile_id), ConsistentRead=True).get("Item")
            if profile is None:
                raise LookupError(f"profile {profile_id} does not exist")
            if "redirect_to" in profile:
                profile_id = profile["redirect_to"]
                continue
            items = [{**item, "profile_id": profile_id} for item in items]
            writes = [
                {
                    "Put": {
                        "TableName": self.ledger_table_name,
                        "Item": _serialise(item),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
                for item in items
            ]
            writes.append(self._versioned_profile_update(profile, changes(profile, items), now))
            try:
                client("dynamodb").transact_write_items(TransactItems=writes)
                return items
            except ClientError as error:
                if error.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                reasons = [reason.get("Code") for reason in error.response.get("CancellationReasons", [])]
                if reasons and not all(code in ("None", "ConditionalCheckFailed", None) for code in reasons):
                    raise
                items = [item for item, code in zip(items, reasons) if code != "ConditionalCheckFailed"]
                if not items:
                    return []
                time.sleep(random.uniform(0, 0.01 * min(attempt + 1, 10)))
        raise RuntimeError(f"profile {profile_id} kept changing; records not applied")

    def _versioned_profile_update(
        self, profile: dict[str, Any], values: dict[str, Any], now: datetime
    ) -> dict[str, Any]:
        """SET the changed attributes, bump `aggregates_version`, only if both versions are still those read."""
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
        assignments = [f"#v{i} = :v{i}" for i in range(len(values))]
        update: dict[str, Any] = {
            "TableName": self.profiles_table_name,
            "Key": _serialise(profile_key(profile["profile_id"])),
            "UpdateExpression": "SET "
            + ", ".join([*assignments, "updated_at = :now"])
            + " ADD aggregates_version :one",
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeValues": _serialise(expression_values),
        }
        if names:
            update["ExpressionAttributeNames"] = names
        return {"Update": update}

    # ------------------------------------------------------------------ reads
    def get_profile(self, profile_id: str) -> dict[str, Any] | None:
        return self.profiles.get_item(Key=profile_key(profile_id)).get("Item")
