"""DynamoDB side of coupons, in the profiles table.

Items: `OFFER#<offer>` / `OFFER` (issued and redeemed totals, refusal counts `refused_<reason>`);
`PROFILE#<id>` / `COUPON#<offer>` (the profile's issued and redeemed counts for the offer);
`PROFILE#<id>` / `COUPON#<offer>#<occasion>` (one issuance: its code); `COUPON#<code>` / `COUPON` (the code: offer,
profile, occasion, validity, redemption). An issuance is one transaction: the offer's total and every counted
profile's count conditioned on the values read, the occasion and the code put only if new.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from cdp.adapters.clients import dynamodb_table
from cdp.adapters.dynamodb import (
    batch_get_items,
    profiles_reader,
    query_partition,
    redirect_chains,
    scan_items,
    transact,
    wire,
)
from cdp.coupons.ports import CodeTaken, Coupon, Issuance, IssueConflict, PersonCoupons
from cdp.errors import ConcurrentChange
from cdp.keys import EDGE_PREFIX, Key, profile_id_of, profile_pk

Item = dict[str, Any]


def offer_key(offer: str) -> Key:
    return {"pk": f"OFFER#{offer}", "sk": "OFFER"}


def person_offer_key(profile_id: str, offer: str) -> Key:
    return {"pk": profile_pk(profile_id), "sk": f"COUPON#{offer}"}


def occasion_key(profile_id: str, offer: str, occasion: str) -> Key:
    return {"pk": profile_pk(profile_id), "sk": f"COUPON#{offer}#{occasion}"}


def code_key(code: str) -> Key:
    return {"pk": f"COUPON#{code}", "sk": "COUPON"}


def _count_is(count: int) -> tuple[str, dict[str, Any]]:
    """A condition that the item's `issued` is `count` (absent counts as 0)."""
    if count == 0:
        return "attribute_not_exists(issued) OR issued = :count", {":count": {"N": "0"}}
    return "issued = :count", {":count": {"N": str(count)}}


def _issuance(item: Item) -> Issuance:
    return Issuance(
        offer=item["offer"],
        profile_id=item["profile_id"],
        occasion=item["occasion"],
        code=item["code"],
        issued_at=datetime.fromisoformat(item["issued_at"]),
        expires_at=datetime.fromisoformat(item["expires_at"]),
    )


class CouponStore:
    """Offers' totals, people's counts, issuances and codes in the profiles table."""

    def __init__(self, profiles_table: str) -> None:
        self.table = dynamodb_table(profiles_table)
        self.table_name = profiles_table

    # ------------------------------------------------------------------ the person
    def person(self, profile_id: str) -> list[str] | None:
        read = profiles_reader(self.table, attributes=("profile_id", "redirect_to"))
        chain = redirect_chains(read, [profile_id])[profile_id]
        if not chain:
            return None
        live = chain[-1]["profile_id"]
        merged: list[str] = []
        pending = [live]
        while pending:
            into = pending.pop()
            for edge in query_partition(self.table_name, profile_pk(into), EDGE_PREFIX):
                if (
                    edge.get("kind") == "merge"
                    and edge.get("to_profile") == into
                    and edge["from_profile"] not in merged
                ):
                    merged.append(edge["from_profile"])
                    pending.append(edge["from_profile"])
        chains = redirect_chains(read, merged)  # a profile split off again is no longer this person
        return [live, *(pid for pid in merged if chains[pid] and chains[pid][-1]["profile_id"] == live)]

    def person_coupons(self, offer: str, profile_ids: list[str]) -> PersonCoupons:
        keys = [person_offer_key(profile_id, offer) for profile_id in profile_ids]
        counters = list(batch_get_items(self.table.meta.client, self.table_name, keys, consistent=True))
        counts = {profile_id_of(counter["pk"]): int(counter.get("issued", 0)) for counter in counters}
        issuances = [
            _issuance(item)
            for profile_id in profile_ids
            for item in query_partition(self.table_name, profile_pk(profile_id), f"COUPON#{offer}#")
        ]
        return PersonCoupons(counts, issuances, sum(int(item.get("redeemed", 0)) for item in counters))

    # ------------------------------------------------------------------ issue
    def issued_total(self, offer: str) -> int:
        item = self.table.get_item(Key=offer_key(offer), ConsistentRead=True).get("Item") or {}
        return int(item.get("issued", 0))

    def issue(self, issuance: Issuance, issued_total: int, counts: dict[str, int]) -> None:
        offer, person = issuance.offer, issuance.profile_id
        total_condition, total_values = _count_is(issued_total)
        writes: list[Item] = [
            {"Update": {"TableName": self.table_name, "Key": wire(offer_key(offer)),
                        "UpdateExpression": "SET issued = :next", "ConditionExpression": total_condition,
                        "ExpressionAttributeValues": {**total_values, ":next": {"N": str(issued_total + 1)}}}},
        ]  # fmt: skip
        for profile_id, count in counts.items():
            condition, values = _count_is(count)
            key = wire(person_offer_key(profile_id, offer))
            if profile_id == person:
                writes.append({"Update": {"TableName": self.table_name, "Key": key,
                                          "UpdateExpression": "SET issued = :next", "ConditionExpression": condition,
                                          "ExpressionAttributeValues": {**values, ":next": {"N": str(count + 1)}}}})  # fmt: skip
            else:
                writes.append({"ConditionCheck": {"TableName": self.table_name, "Key": key,
                                                  "ConditionExpression": condition,
                                                  "ExpressionAttributeValues": values}})  # fmt: skip
        record = {
            "offer": offer, "profile_id": person, "occasion": issuance.occasion, "code": issuance.code,
            "issued_at": issuance.issued_at.isoformat(), "expires_at": issuance.expires_at.isoformat(),
        }  # fmt: skip
        for key in (occasion_key(person, offer, issuance.occasion), code_key(issuance.code)):
            writes.append({"Put": {"TableName": self.table_name, "Item": wire({**key, **record}),
                                   "ConditionExpression": "attribute_not_exists(pk)"}})  # fmt: skip
        try:
            transact(writes)
        except ConcurrentChange as change:
            failed = [code == "ConditionalCheckFailed" for code in change.reasons]
            if failed and failed[-1] and not any(failed[:-1]):
                raise CodeTaken(issuance.code) from change
            raise IssueConflict(str(change)) from change

    def count_refusal(self, offer: str, reason: str) -> None:
        self.table.update_item(
            Key=offer_key(offer),
            UpdateExpression="ADD #reason :one",
            ExpressionAttributeNames={"#reason": f"refused_{reason}"},
            ExpressionAttributeValues={":one": 1},
        )

    # ------------------------------------------------------------------ redeem
    def coupon(self, code: str) -> Coupon | None:
        item = self.table.get_item(Key=code_key(code), ConsistentRead=True).get("Item")
        return Coupon(_issuance(item), item.get("redeemed_order")) if item else None

    def redeem(self, issuance: Issuance, order_id: str, at: datetime) -> bool:
        one = {":one": {"N": "1"}}
        writes: list[Item] = [
            {"Update": {"TableName": self.table_name, "Key": wire(code_key(issuance.code)),
                        "UpdateExpression": "SET redeemed_order = :order, redeemed_at = :at",
                        "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(redeemed_order)",
                        "ExpressionAttributeValues": {":order": {"S": order_id}, ":at": {"S": at.isoformat()}}}},
            {"Update": {"TableName": self.table_name, "Key": wire(offer_key(issuance.offer)),
                        "UpdateExpression": "ADD redeemed :one", "ExpressionAttributeValues": one}},
            {"Update": {"TableName": self.table_name, "Key": wire(person_offer_key(issuance.profile_id, issuance.offer)),
                        "UpdateExpression": "ADD redeemed :one", "ExpressionAttributeValues": one}},
        ]  # fmt: skip
        try:
            transact(writes)
        except ConcurrentChange:
            stored = self.coupon(issuance.code)
            return stored is not None and stored.redeemed_order == order_id
        return True

    # ------------------------------------------------------------------ report
    def offer_totals(self) -> dict[str, dict[str, int]]:
        """Each offer's issued and redeemed totals and refusal counts by reason (a Scan: for reports)."""
        return offer_totals(
            scan_items(
                TableName=self.table_name,
                FilterExpression="sk = :offer AND begins_with(pk, :prefix)",
                ExpressionAttributeValues={":offer": {"S": "OFFER"}, ":prefix": {"S": "OFFER#"}},
            )
        )


def offer_totals(items: Iterable[Item]) -> dict[str, dict[str, int]]:
    """Each offer's counters, from the `OFFER#<offer>` / `OFFER` items among `items` (plain values)."""
    return {
        item["pk"].removeprefix("OFFER#"): {name: int(value) for name, value in item.items() if name not in ("pk", "sk")}
        for item in items
        if item["sk"] == "OFFER" and item["pk"].startswith("OFFER#")
    }
