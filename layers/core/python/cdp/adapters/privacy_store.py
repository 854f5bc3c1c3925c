"""DynamoDB and SSM access for privacy: conditional consent writes, erasure of a person's items, erased markers.

Items written here (ProfilesTable): `ERASED#<sha256(salt + "<type>#<value>")>` / `ERASED` (an erased identifier,
no PII) and `ERASURE#<id>` / `ERASURE` (an erasure's status and counts, no PII).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import cache
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from cdp.adapters.clients import client, dynamodb_table
from cdp.privacy.consent import ConsentChange

BATCH_GET_LIMIT = 100
BY_PROFILE_INDEX = "ByProfile"
_deserializer = TypeDeserializer()


@cache
def erasure_salt(parameter_name: str) -> str:
    """The erasure salt, a SecureString SSM parameter, read once per container."""
    return str(client("ssm").get_parameter(Name=parameter_name, WithDecryption=True)["Parameter"]["Value"])


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


class PrivacyStore:
    """Consent writes, the erased register and erasure of a profile's items in both tables."""

    def __init__(self, profiles_table: str, ledger_table: str) -> None:
        self.profiles_table_name = profiles_table
        self.ledger_table_name = ledger_table
        self.profiles = dynamodb_table(profiles_table)
        self.ledger = dynamodb_table(ledger_table)

    # ------------------------------------------------------------------ consent
    def record_consent(self, profile_id: str, change: ConsentChange) -> bool:
        """Store the statement unless the profile holds a newer (or equal) one for its key; True when stored."""
        try:
            self.profiles.update_item(
                Key={"pk": f"PROFILE#{profile_id}", "sk": "PROFILE"},
                UpdateExpression="SET consent.#key = :value",
                ConditionExpression=(
                    "attribute_exists(pk) AND attribute_not_exists(redirect_to) AND "
                    "(attribute_not_exists(consent.#key.recorded_at) OR consent.#key.recorded_at < :recorded_at)"
                ),
                ExpressionAttributeNames={"#key": change.key},
                ExpressionAttributeValues={
                    ":value": change.value(),
                    ":recorded_at": change.value()["recorded_at"],
                },
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            if error.response["Error"]["Code"] == "ValidationException":  # a profile without a consent map yet
                return self._start_consent_map(profile_id, change)
            raise
        return True

    def _start_consent_map(self, profile_id: str, change: ConsentChange) -> bool:
        try:
            self.profiles.update_item(
                Key={"pk": f"PROFILE#{profile_id}", "sk": "PROFILE"},
                UpdateExpression="SET consent = :consent",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(consent) AND attribute_not_exists(redirect_to)",
                ExpressionAttributeValues={":consent": {change.key: change.value()}},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def profile_consistently(self, profile_id: str) -> dict[str, Any] | None:
        """The profile as last written (strongly consistent read), as a send decision needs it."""
        return self.profiles.get_item(Key={"pk": f"PROFILE#{profile_id}", "sk": "PROFILE"}, ConsistentRead=True).get(
            "Item"
        )

    # ------------------------------------------------------------------ the erased register
    def erased_among(self, digests: Iterable[str]) -> set[str]:
        """Which of these identifier digests were erased (batched reads)."""
        keys = [{"pk": f"ERASED#{digest}", "sk": "ERASED"} for digest in dict.fromkeys(digests)]
        found: set[str] = set()
        for start in range(0, len(keys), BATCH_GET_LIMIT):
            request: dict[str, Any] = {self.profiles_table_name: {"Keys": keys[start : start + BATCH_GET_LIMIT]}}
            while request:
                response = self.profiles.meta.client.batch_get_item(RequestItems=request)
                found.update(item["pk"][len("ERASED#") :] for item in response["Responses"][self.profiles_table_name])
                request = response.get("UnprocessedKeys") or {}
        return found

    def mark_erased(self, digests: Iterable[str], erasure_id: str, erased_at: str) -> None:
        with self.profiles.batch_writer(overwrite_by_pkeys=["pk", "sk"]) as batch:
            for digest in digests:
                batch.put_item(
                    Item={"pk": f"ERASED#{digest}", "sk": "ERASED", "erasure_id": erasure_id, "erased_at": erased_at}
                )

    # ------------------------------------------------------------------ a person's items
    def _query(self, table: str, pk: str) -> Iterator[dict[str, Any]]:
        pages = client("dynamodb").get_paginator("query").paginate(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
            ConsistentRead=True,
        )
        for page in pages:
            yield from map(_plain, page["Items"])

    def profile_items(self, profile_id: str) -> list[dict[str, Any]]:
        """Every ProfilesTable item under `PROFILE#<id>`: profile, memberships, edges, journey messages."""
        return list(self._query(self.profiles_table_name, f"PROFILE#{profile_id}"))

    def ledger_items(self, profile_id: str) -> list[dict[str, Any]]:
        """Every LedgerTable item of the profile: `PROFILE#<id>` items (orders, events) and its `RECORD#` records."""
        items = list(self._query(self.ledger_table_name, f"PROFILE#{profile_id}"))
        pages = client("dynamodb").get_paginator("query").paginate(
            TableName=self.ledger_table_name,
            IndexName=BY_PROFILE_INDEX,
            KeyConditionExpression="profile_id = :profile_id",
            ExpressionAttributeValues={":profile_id": {"S": profile_id}},
        )
        try:
            items += [_plain(item) for page in pages for item in page["Items"]]
        except ClientError as error:  # the record ledger's index is not deployed: no RECORD# items exist either
            if error.response["Error"]["Code"] not in ("ValidationException", "ResourceNotFoundException"):
                raise
        return items

    def identities_and_memberships(self, profile_ids: list[str]) -> list[dict[str, Any]]:
        """The `IDENTITY#...` items bound to these profiles, their `SEGMENT#...` memberships, and the edges other
        profiles hold about them (conflicts: linked, not merged).

        One filtered, paginated scan: erasure is rare, and a scan finds every item whatever wrote it.
        """
        ids = {f":p{i}": {"S": profile_id} for i, profile_id in enumerate(profile_ids)}
        members = {f":m{i}": {"S": f"PROFILE#{profile_id}"} for i, profile_id in enumerate(profile_ids)}
        pages = client("dynamodb").get_paginator("scan").paginate(
            TableName=self.profiles_table_name,
            FilterExpression=(
                f"(sk = :identity AND profile_id IN ({', '.join(ids)})) OR "
                f"(begins_with(pk, :segment) AND sk IN ({', '.join(members)})) OR "
                f"(begins_with(sk, :edge) AND from_profile IN ({', '.join(ids)}) AND NOT pk IN ({', '.join(members)}))"
            ),
            ExpressionAttributeValues={
                ":identity": {"S": "IDENTITY"}, ":segment": {"S": "SEGMENT#"}, ":edge": {"S": "EDGE#"}, **ids, **members
            },
        )
        return [_plain(item) for page in pages for item in page["Items"]]

    def delete_items(self, table: str, items: Iterable[dict[str, Any]]) -> int:
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
        self.profiles.put_item(Item={"pk": f"ERASURE#{erasure['erasure_id']}", "sk": "ERASURE", **erasure})

    def update_erasure(self, erasure_id: str, values: dict[str, Any]) -> None:
        names = {f"#v{i}": name for i, name in enumerate(values)}
        self.profiles.update_item(
            Key={"pk": f"ERASURE#{erasure_id}", "sk": "ERASURE"},
            UpdateExpression="SET " + ", ".join(f"#v{i} = :v{i}" for i in range(len(values))),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={f":v{i}": value for i, value in enumerate(values.values())},
        )

    def get_erasure(self, erasure_id: str) -> dict[str, Any] | None:
        return self.profiles.get_item(Key={"pk": f"ERASURE#{erasure_id}", "sk": "ERASURE"}, ConsistentRead=True).get(
            "Item"
        )
