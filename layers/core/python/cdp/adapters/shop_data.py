"""What is stored per Shopify shop, for its privacy webhooks: data-request exports and their records, the shop's
replay-register items and its webhook secret.

- Exports: `s3://<exports bucket>/shopify/<shop>/data_requests/<data request id>.json` (SSE-S3, expired by the
  bucket's lifecycle after 30 days; an erasure of the person deletes theirs at once, see cdp.privacy.erase_objects).
- Records (ProfilesTable, no PII): `SHOP#<shop>` / `DATAREQUEST#<data request id>` with the export's bucket and
  key, how many profiles it holds and when it was written, so the operator can find what to hand to the shop owner.
- `remove_shop` deletes all of the shop's exports (every version) and records, its `MESSAGEID#shopify:<shop>#...` items (one
  filtered scan of the ledger: shop/redact is rare) and the SSM parameter holding its secret.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from cdp.adapters.clients import client, dynamodb_table
from cdp.adapters.object_store import delete_versions, object_versions, write_bytes
from cdp.adapters.sources import forget_shop_secrets
from cdp.keys import shop_pk

DATA_REQUEST_PREFIX = "DATAREQUEST#"


def export_prefix(shop: str) -> str:
    return f"shopify/{shop}/"


@dataclass(frozen=True)
class ShopRemoval:
    """What `remove_shop` deleted."""

    exports: int
    data_request_records: int
    register_items: int
    secret: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "exports": self.exports,
            "data_request_records": self.data_request_records,
            "register_items": self.register_items,
            "secret": self.secret,
        }


class ShopData:
    def __init__(self, profiles_table: str, ledger_table: str, exports_bucket: str, secret_prefix: str) -> None:
        self.profiles = dynamodb_table(profiles_table)
        self.ledger_table_name = ledger_table
        self.exports_bucket = exports_bucket
        self.secret_prefix = secret_prefix

    def store_data_request(self, shop: str, data_request_id: str, document: dict[str, Any], created_at: str) -> str:
        """Write the export and its record (overwritten by a repeated request); returns the export's key."""
        key = f"{export_prefix(shop)}data_requests/{data_request_id}.json"
        body = json.dumps(document, ensure_ascii=False, sort_keys=True).encode("utf-8")
        write_bytes(self.exports_bucket, key, body, "application/json")
        self.profiles.put_item(
            Item={
                "pk": shop_pk(shop),
                "sk": f"{DATA_REQUEST_PREFIX}{data_request_id}",
                "bucket": self.exports_bucket,
                "key": key,
                "profiles": len(document["profiles"]),
                "created_at": created_at,
            }
        )
        return key

    def remove_shop(self, shop: str) -> ShopRemoval:
        return ShopRemoval(
            exports=self._delete_exports(shop),
            data_request_records=self._delete_records(shop),
            register_items=self._delete_register_items(shop),
            secret=self._delete_secret(shop),
        )

    def _delete_exports(self, shop: str) -> int:
        """Every version of the shop's exports, permanently; returns how many objects (not versions) there were."""
        versions = [(v["Key"], v["VersionId"]) for v in object_versions(self.exports_bucket, export_prefix(shop))]
        delete_versions(self.exports_bucket, versions)
        return len({key for key, _ in versions})

    def _delete_records(self, shop: str) -> int:
        query = {"KeyConditionExpression": Key("pk").eq(shop_pk(shop)), "ProjectionExpression": "pk, sk"}
        deleted = 0
        with self.profiles.batch_writer() as batch:
            while True:
                page = self.profiles.query(**query)
                for item in page["Items"]:
                    batch.delete_item(Key={"pk": item["pk"], "sk": item["sk"]})
                deleted += len(page["Items"])
                if "LastEvaluatedKey" not in page:
                    return deleted
                query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _delete_register_items(self, shop: str) -> int:
        pages = client("dynamodb").get_paginator("scan").paginate(
            TableName=self.ledger_table_name,
            FilterExpression="begins_with(pk, :prefix)",
            ExpressionAttributeValues={":prefix": {"S": f"MESSAGEID#shopify:{shop}#"}},
            ProjectionExpression="pk, sk",
        )
        keys = [{"pk": item["pk"]["S"], "sk": item["sk"]["S"]} for page in pages for item in page["Items"]]
        with dynamodb_table(self.ledger_table_name).batch_writer() as batch:
            for key in keys:
                batch.delete_item(Key=key)
        return len(keys)

    def _delete_secret(self, shop: str) -> bool:
        try:
            client("ssm").delete_parameter(Name=f"{self.secret_prefix}{shop}")
        except ClientError as error:
            if error.response["Error"]["Code"] == "ParameterNotFound":
                return False
            raise
        finally:
            forget_shop_secrets()
        return True
