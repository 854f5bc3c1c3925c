"""Recommendations on the local stack: orders dropped as a file land curated; the nightly function recommends from
them and each customer's profile, found through identity, shows its list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from cdp.keys import profile_key
from cdp.profiles.read import public_profile
from cdp_local.stack import LocalStack

from tests.unit.test_recommendations import ORDERS

AT = (datetime.now(UTC) - timedelta(days=5)).replace(microsecond=0).isoformat()


def _orders_file() -> bytes:
    lines = ["order_id,line_id,customer_id,ordered_at,currency,sku,product_name,category,quantity,unit_price,status"]
    for order_id, (customer, items) in ORDERS.items():
        for number, (sku, name, category) in enumerate(items, start=1):
            lines.append(
                f"{order_id},{number},{customer.upper()},{AT},GBP,{sku},{name or ''},{category},1,10.00,completed"
            )
    return ("\n".join(lines) + "\n").encode()


def _profile(stack: LocalStack, customer_id: str) -> dict[str, Any]:
    table = boto3.resource("dynamodb", region_name=stack.region).Table(stack.physical_id("ProfilesTable"))
    identity = table.get_item(Key={"pk": f"IDENTITY#customer_id#{customer_id}", "sk": "IDENTITY"})["Item"]
    return public_profile(table.get_item(Key=profile_key(identity["profile_id"]))["Item"])


def test_the_nightly_function_writes_each_customers_recommendations(stack: LocalStack) -> None:
    # Given the hand-computed orders of the unit test, dropped as a file
    stack.client("s3").put_object(Bucket=stack.physical_id("RawBucket"), Key="orders/baskets.csv", Body=_orders_file())
    stack.deliver_queued_messages()
    # When the nightly function runs
    tick = {"version": "0", "id": "tick", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": AT[:19] + "Z", "region": stack.region, "resources": [], "detail": {}}  # fmt: skip
    run = stack.invoke("ComputeRecommendationsFunction", tick)
    # Then the same lists, with names, sit on the profiles
    assert (run["lines"], run["customers"], run["saved"]) == (13, 4, 4)
    assert _profile(stack, "CAT")["recommendations"] == [{"product_id": "stove", "name": "Stove"},
                                                        {"product_id": "pan"}]  # fmt: skip
    assert [entry["product_id"] for entry in _profile(stack, "DAN")["recommendations"]] == ["tent", "lamp", "pan"]
    assert _profile(stack, "BOB")["recommendations"] == []


def test_a_second_night_rewrites_only_the_lists_that_changed(stack: LocalStack) -> None:
    # Given the first night's lists
    raw = stack.physical_id("RawBucket")
    stack.client("s3").put_object(Bucket=raw, Key="orders/baskets.csv", Body=_orders_file())
    stack.deliver_queued_messages()
    tick = {"version": "0", "id": "tick", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": AT[:19] + "Z", "region": stack.region, "resources": [], "detail": {}}  # fmt: skip
    first = stack.invoke("ComputeRecommendationsFunction", tick)
    dan_before = _profile(stack, "DAN")["recommendations"]
    # When the next night finds the same orders
    second = stack.invoke("ComputeRecommendationsFunction", tick)
    # Then no profile is written again
    assert (first["saved"], first["unchanged"]) == (4, 0)
    assert (second["saved"], second["unchanged"]) == (0, 4)
    # When Dan then buys the tent he was recommended first
    header = _orders_file().decode().splitlines()[0]
    stack.client("s3").put_object(Bucket=raw, Key="orders/dan-tent.csv",
                                  Body=f"{header}\nO8,1,DAN,{AT},GBP,tent,Tent,camping,1,10.00,completed\n".encode())  # fmt: skip
    stack.deliver_queued_messages()
    third = stack.invoke("ComputeRecommendationsFunction", tick)
    # Then his list is written again, without the tent, and no other
    dan_after = _profile(stack, "DAN")["recommendations"]
    assert dan_before[0]["product_id"] == "tent" and "tent" not in [entry["product_id"] for entry in dan_after]
    assert third["saved"] + third["unchanged"] == third["customers"] == 4
    assert third["saved"] == 1  # the tent moved no other list
