"""Segment and tag definition documents stored through the API, in the profiles table: one partition
`SEGMENTDEFS`, sort key the document's name, the validated document as JSON text (read with one Query)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from cdp.adapters.clients import dynamodb_table
from cdp.adapters.dynamodb import query_items
from cdp.errors import ConcurrentChange

PARTITION = "SEGMENTDEFS"


class SegmentDefinitions:
    def __init__(self, profiles_table: str) -> None:
        self.table_name = profiles_table
        self.table = dynamodb_table(profiles_table)

    def _items(self) -> list[dict[str, Any]]:
        return list(query_items(TableName=self.table_name, KeyConditionExpression="pk = :pk",
                                ExpressionAttributeValues={":pk": {"S": PARTITION}}, ConsistentRead=True))

    def stored_documents(self) -> list[dict[str, Any]]:
        return [json.loads(item["document"]) for item in self._items()]

    def list(self) -> list[dict[str, Any]]:
        return [{"name": item["sk"], "created_at": item.get("created_at"), **json.loads(item["document"])}
                for item in self._items()]  # fmt: skip

    def get(self, name: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"pk": PARTITION, "sk": name}, ConsistentRead=True).get("Item")
        return json.loads(item["document"]) if item else None

    def create(self, name: str, document: dict[str, Any], at: datetime) -> None:
        """Store a new document; ConcurrentChange if one of that name exists."""
        try:
            self.table.put_item(
                Item={"pk": PARTITION, "sk": name, "document": json.dumps(document), "created_at": at.isoformat()},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ConcurrentChange(f"a segment definition named {name!r} exists") from None
            raise

    def delete(self, name: str) -> bool:
        response = self.table.delete_item(Key={"pk": PARTITION, "sk": name}, ReturnValues="ALL_OLD")
        return "Attributes" in response
