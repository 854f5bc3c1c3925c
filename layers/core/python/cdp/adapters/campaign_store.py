"""Campaigns in DynamoDB: definitions in ProfilesTable (`CAMPAIGNS` / `CAMPAIGN#<name>`: one partition, listed by a
paginated Query) and their runs (`CAMPAIGN#<name>` / `RUN#<id>`), the runs' chunk markers and the per-second send
budgets in LedgerTable (expiring through its `expires_at` TTL)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from cdp.adapters.clients import dynamodb_table
from cdp.adapters.dynamodb import query_items, query_partition
from cdp.campaigns.ports import Campaign, RunPlan, State
from cdp.errors import Conflict, NotFound
from cdp.keys import (
    CAMPAIGN_PREFIX,
    CAMPAIGNS_PARTITION,
    campaign_chunk_key,
    campaign_key,
    campaign_rate_key,
    campaign_run_key,
)

CHUNK_MARKER_LIFETIME = timedelta(days=30)  # a start retried later than this would queue the run again
RATE_ITEM_LIFETIME = timedelta(hours=1)


def _failed_condition(error: ClientError) -> bool:
    return bool(error.response["Error"]["Code"] == "ConditionalCheckFailedException")


def _plain(value: Any) -> Any:
    """DynamoDB's Decimals as ints (counters) for JSON answers."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


class CampaignStore:
    def __init__(self, profiles_table: str, ledger_table: str) -> None:
        self.profiles_table = profiles_table
        self.table = dynamodb_table(profiles_table)
        self.ledger = dynamodb_table(ledger_table)

    # ------------------------------------------------------------------ definitions
    def create(self, campaign: Campaign, at: datetime) -> None:
        try:
            self.table.put_item(
                Item={**campaign_key(campaign.name), "definition": campaign.model_dump_json(exclude={"state"}),
                      "state": campaign.state, "created_at": at.isoformat(), "updated_at": at.isoformat()},
                ConditionExpression="attribute_not_exists(pk)",
            )  # fmt: skip
        except ClientError as error:
            if _failed_condition(error):
                raise Conflict(f"campaign {campaign.name!r} exists", [{"field": "name", "message": "taken"}]) from error
            raise

    @staticmethod
    def _campaign(item: Mapping[str, Any]) -> Campaign:
        return Campaign.model_validate({**json.loads(item["definition"]), "state": item["state"]})

    def get(self, name: str) -> Campaign | None:
        item = self.table.get_item(Key=campaign_key(name), ConsistentRead=True).get("Item")
        return self._campaign(item) if item else None

    def all(self) -> Iterator[Campaign]:
        """Every campaign, in name order (a Query of the campaigns' partition, page after page)."""
        items = query_items(
            TableName=self.profiles_table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": CAMPAIGNS_PARTITION}, ":prefix": {"S": CAMPAIGN_PREFIX}},
        )
        return map(self._campaign, items)

    def page(self, limit: int, after: str | None) -> tuple[list[Campaign], str | None]:
        """Up to `limit` campaigns in name order, from the one after the campaign named `after`; and the name to
        continue after, None on the last page."""
        request: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": CAMPAIGNS_PARTITION, ":prefix": CAMPAIGN_PREFIX},
            "Limit": limit,
        }
        if after is not None:
            request["ExclusiveStartKey"] = campaign_key(after)
        page = self.table.query(**request)
        last = page.get("LastEvaluatedKey")
        return [self._campaign(item) for item in page["Items"]], str(last["sk"]).removeprefix(CAMPAIGN_PREFIX) if last else None

    def state(self, name: str) -> State | None:
        item = self.table.get_item(Key=campaign_key(name), ProjectionExpression="#s",
                                   ExpressionAttributeNames={"#s": "state"}).get("Item")  # fmt: skip
        return item["state"] if item else None

    def set_state(self, name: str, state: State, allowed_from: Sequence[State], at: datetime) -> Campaign:
        values = {f":from{index}": value for index, value in enumerate(allowed_from)}
        try:
            item = self.table.update_item(
                Key=campaign_key(name),
                UpdateExpression="SET #s = :state, updated_at = :at",
                ConditionExpression=f"attribute_exists(pk) AND #s IN ({', '.join(values)})",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues={":state": state, ":at": at.isoformat(), **values},
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as error:
            if not _failed_condition(error):
                raise
            current = self.state(name)
            if current is None:
                raise NotFound(f"no campaign {name!r}") from error
            raise Conflict(f"campaign {name!r} is {current}; only a campaign {' or '.join(allowed_from)} can be "
                           f"made {state}", state=current) from error  # fmt: skip
        return self._campaign(item)

    # ------------------------------------------------------------------ runs
    def begin_run(self, name: str, plan: RunPlan) -> RunPlan:
        key = campaign_run_key(name, plan.run_id)
        try:
            self.table.put_item(
                Item={**key, **plan.as_item(), "status": "started", "outcomes": {}},
                ConditionExpression="attribute_not_exists(pk)",
            )
            return plan
        except ClientError as error:
            if not _failed_condition(error):
                raise
        return RunPlan.from_item(self.table.get_item(Key=key, ConsistentRead=True)["Item"])

    def run(self, name: str, run_id: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key=campaign_run_key(name, run_id), ConsistentRead=True).get("Item")
        return _plain({k: v for k, v in item.items() if k not in ("pk", "sk")}) if item else None

    def runs(self, name: str) -> list[dict[str, Any]]:
        items = query_partition(self.profiles_table, campaign_run_key(name, "")["pk"], "RUN#")
        return [_plain({k: v for k, v in item.items() if k not in ("pk", "sk")}) for item in items]

    def chunks_done(self, name: str, run_id: str) -> set[int]:
        pk = campaign_chunk_key(name, run_id, 0)["pk"]
        items = query_partition(self.ledger.name, pk, "CHUNK#")
        return {int(str(item["sk"]).removeprefix("CHUNK#")) for item in items}

    def mark_chunk(self, name: str, run_id: str, chunk: int, at: datetime) -> None:
        self.ledger.put_item(Item={**campaign_chunk_key(name, run_id, chunk), "at": at.isoformat(),
                                   "expires_at": int((at + CHUNK_MARKER_LIFETIME).timestamp())})  # fmt: skip

    def finish_run(self, name: str, run_id: str, counts: Mapping[str, int], at: datetime) -> None:
        self.table.update_item(
            Key=campaign_run_key(name, run_id),
            UpdateExpression="SET #s = :status, planned = :counts, enqueued_at = :at",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":status": "enqueued", ":counts": dict(counts), ":at": at.isoformat()},
        )

    def add_outcomes(self, name: str, run_id: str, counts: Mapping[str, int]) -> None:
        names = {f"#k{index}": key for index, key in enumerate(counts)}
        values = {f":v{index}": count for index, count in enumerate(counts.values())}
        self.table.update_item(
            Key=campaign_run_key(name, run_id),
            UpdateExpression="SET " + ", ".join(
                f"outcomes.#k{index} = if_not_exists(outcomes.#k{index}, :zero) + :v{index}" for index in range(len(counts))
            ),
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={**values, ":zero": 0},
        )  # fmt: skip

    # ------------------------------------------------------------------ send budget
    def take(self, name: str, second: int, wanted: int, limit: int) -> int:
        """Add `wanted` to the second's count; granted is what still fitted under `limit` before this request."""
        used = self.ledger.update_item(
            Key=campaign_rate_key(name, second),
            UpdateExpression="ADD used :wanted SET expires_at = :expires",
            ExpressionAttributeValues={":wanted": wanted, ":expires": second + int(RATE_ITEM_LIFETIME.total_seconds())},
            ReturnValues="UPDATED_NEW",
        )["Attributes"]["used"]
        return max(0, min(wanted, limit - (int(used) - wanted)))
