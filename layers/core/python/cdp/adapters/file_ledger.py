"""Remembers which object versions were ingested, so an S3 re-delivery does nothing twice."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from cdp.adapters.clients import dynamodb_table
from cdp.profiles.keys import file_key


class FileLedger:
    def __init__(self, ledger_table: str) -> None:
        self.table = dynamodb_table(ledger_table)

    def report_of(self, bucket: str, key: str, version: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key=file_key(bucket, key, version)).get("Item")
        return json.loads(item["report"]) if item else None

    def record(self, bucket: str, key: str, version: str, report: dict[str, Any]) -> bool:
        """Store the report of a finished ingestion; False if that version was already recorded."""
        try:
            self.table.put_item(
                Item={**file_key(bucket, key, version), "report": json.dumps(report)},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True
