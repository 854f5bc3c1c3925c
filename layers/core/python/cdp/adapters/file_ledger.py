"""Which object versions are being or were ingested: a claim with a lease, then the finished row accounting.

Item `FILE#<bucket>/<key>` / `VERSION#<version>`: `status` (`ingesting` or `done`), `owner` and `lease_expires_at`
while ingesting, `report` (JSON) once done. A claim succeeds when there is no item or the previous owner's lease
has run out (it crashed), so two concurrent deliveries never both ingest and a crashed one is taken over.
Range reports of a file split across a state machine are items `FILE#...` / `VERSION#<version>#RANGE#<nnnnn>`.
Which of a version's queued batches have been applied to profiles: item `FILE#...` / `VERSION#<version>#PROFILES`,
number set `applied_batches` (a set, so a redelivered batch adds nothing; its own item, so a claim that replaces or
releases the version's item never loses it).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from cdp.adapters.clients import dynamodb_table
from cdp.ingest.ports import Claim
from cdp.keys import file_key

INGESTING = "ingesting"
DONE = "done"


class LeaseLost(RuntimeError):
    """Another invocation took this file over (our lease ran out): stop without recording anything."""


def _conditional_failed(error: ClientError) -> bool:
    return error.response["Error"]["Code"] == "ConditionalCheckFailedException"


class FileLedger:
    def __init__(self, ledger_table: str) -> None:
        self.table = dynamodb_table(ledger_table)

    def report_of(self, bucket: str, key: str, version: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key=file_key(bucket, key, version), ConsistentRead=True).get("Item")
        return json.loads(item["report"]) if item and item.get("status", DONE) == DONE else None

    def claim(self, bucket: str, key: str, version: str, owner: str, now: datetime, lease: timedelta) -> Claim:
        """Take the version for `owner` until now + lease, unless it is done or another owner's lease still runs."""
        try:
            self.table.put_item(
                Item={
                    **file_key(bucket, key, version),
                    "status": INGESTING,
                    "owner": owner,
                    "lease_expires_at": int((now + lease).timestamp()),
                },
                ConditionExpression="attribute_not_exists(pk) OR (#status = :ingesting AND "
                "(lease_expires_at < :now OR #owner = :owner))",
                ExpressionAttributeNames={"#status": "status", "#owner": "owner"},
                ExpressionAttributeValues={":ingesting": INGESTING, ":now": int(now.timestamp()), ":owner": owner},
            )
        except ClientError as error:
            if not _conditional_failed(error):
                raise
            report = self.report_of(bucket, key, version)
            return Claim("done", report) if report is not None else Claim("busy")
        return Claim("claimed")

    def renew(self, bucket: str, key: str, version: str, owner: str, now: datetime, lease: timedelta) -> None:
        """Extend our lease (called per batch); LeaseLost if another invocation has taken the file over."""
        self._update_own_claim(
            bucket, key, version, owner, "SET lease_expires_at = :expires", {":expires": int((now + lease).timestamp())}
        )

    def finish(self, bucket: str, key: str, version: str, owner: str, report: dict[str, Any]) -> None:
        """Record the finished accounting; LeaseLost if the claim is no longer ours."""
        self._update_own_claim(
            bucket,
            key,
            version,
            owner,
            "SET #status = :done, report = :report REMOVE lease_expires_at",
            {":done": DONE, ":report": json.dumps(report)},
        )

    def _update_own_claim(
        self, bucket: str, key: str, version: str, owner: str, update: str, values: dict[str, Any]
    ) -> None:
        """Update the claim while it is `owner`'s and still ingesting; LeaseLost otherwise."""
        try:
            self.table.update_item(
                Key=file_key(bucket, key, version),
                UpdateExpression=update,
                ConditionExpression="#status = :ingesting AND #owner = :owner",
                ExpressionAttributeNames={"#status": "status", "#owner": "owner"},
                ExpressionAttributeValues={**values, ":ingesting": INGESTING, ":owner": owner},
            )
        except ClientError as error:
            if _conditional_failed(error):
                raise LeaseLost(f"{bucket}/{key}@{version}") from error
            raise

    def release(self, bucket: str, key: str, version: str, owner: str) -> None:
        """Give up our claim after an unexpected failure, so the retry need not wait for the lease to run out."""
        try:
            self.table.delete_item(
                Key=file_key(bucket, key, version),
                ConditionExpression="#status = :ingesting AND #owner = :owner",
                ExpressionAttributeNames={"#status": "status", "#owner": "owner"},
                ExpressionAttributeValues={":ingesting": INGESTING, ":owner": owner},
            )
        except ClientError as error:
            if not _conditional_failed(error):
                raise

    def record_range(self, bucket: str, key: str, version: str, range_index: int, report: dict[str, Any]) -> None:
        """Store one byte range's accounting (overwritten by a retry of the same range)."""
        item_key = file_key(bucket, key, version)
        self.table.put_item(
            Item={"pk": item_key["pk"], "sk": f"{item_key['sk']}#RANGE#{range_index:05d}", "range_report": json.dumps(report)}
        )

    def range_reports(self, bucket: str, key: str, version: str) -> list[dict[str, Any]]:
        """Every recorded range report of a version, in range order."""
        item_key = file_key(bucket, key, version)
        query = {
            "KeyConditionExpression": Key("pk").eq(item_key["pk"]) & Key("sk").begins_with(f"{item_key['sk']}#RANGE#"),
            "ConsistentRead": True,
        }
        reports: list[dict[str, Any]] = []
        while True:
            page = self.table.query(**query)
            reports.extend(json.loads(item["range_report"]) for item in page["Items"])
            if "LastEvaluatedKey" not in page:
                return reports
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def record_profile_batch(self, bucket: str, key: str, version: str, batch: int) -> None:
        """Note that the version's batch number `batch` has been applied to profiles."""
        item_key = file_key(bucket, key, version)
        self.table.update_item(
            Key={"pk": item_key["pk"], "sk": f"{item_key['sk']}#PROFILES"},
            UpdateExpression="ADD applied_batches :batch",
            ExpressionAttributeValues={":batch": {batch}},
        )
