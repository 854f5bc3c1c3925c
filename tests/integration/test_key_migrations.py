"""Upgrading a deployed stack: campaigns and deferred messages stored under the earlier key shapes are moved to the
ones the code reads (`cdp.adapters.key_migrations`, `python -m cdp_local migrate`), once, however often it runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from cdp.adapters.campaign_store import CampaignStore
from cdp.adapters.key_migrations import migrate_key_shapes
from cdp.adapters.send_records import DeferredMessageTable
from cdp.campaigns.definition import parse_campaign
from cdp.keys import deferred_message_key
from cdp.messaging.requests import MessageRequest
from cdp_local.__main__ import main
from cdp_local.stack import LocalStack
from cdp_local.template import REPO_ROOT

DUE = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
WINBACK = json.loads((REPO_ROOT / "campaigns" / "winback.json").read_text())


def _profiles_table(stack: LocalStack) -> str:
    return stack.physical_id("ProfilesTable")


def _old_campaign(stack: LocalStack, name: str, state: str = "active") -> None:
    """A campaign definition as earlier versions stored it: its own partition, found by a Scan."""
    definition = parse_campaign({**WINBACK, "name": name}).model_dump_json(exclude={"state"})
    stack.client("dynamodb").put_item(TableName=_profiles_table(stack), Item={
        "pk": {"S": f"CAMPAIGN#{name}"}, "sk": {"S": "CAMPAIGN"}, "definition": {"S": definition},
        "state": {"S": state}, "created_at": {"S": "2026-11-01T00:00:00+00:00"}, "updated_at": {"S": "2026-11-02T00:00:00+00:00"},
    })  # fmt: skip


def _request(n: int) -> MessageRequest:
    return MessageRequest.model_validate({
        "profile_id": f"p{n}", "origin": "campaign", "origin_name": "winback", "step": "send", "occurrence": "run-1",
        "channel": "email", "template": "campaign_generic", "context": {"headline": "Hi", "body": f"message {n}"},
    })  # fmt: skip


def _old_deferred(stack: LocalStack, request: MessageRequest, until: datetime) -> None:
    """A deferred message as earlier versions stored it: every one in the single `DEFERRED` partition."""
    when = until.isoformat()
    stack.client("dynamodb").put_item(TableName=_profiles_table(stack), Item={
        "pk": {"S": "DEFERRED"}, "sk": {"S": f"{when}#{request.key()}"}, "profile_id": {"S": request.profile_id},
        "request": {"S": request.model_dump_json()}, "until": {"S": when},
    })  # fmt: skip


def _old_items(stack: LocalStack) -> list[Any]:
    items = stack.client("dynamodb").scan(TableName=_profiles_table(stack))["Items"]
    return [item for item in items if item["pk"]["S"] == "DEFERRED" or item["sk"]["S"] == "CAMPAIGN"]


def test_old_campaigns_and_deferred_messages_are_moved_once(stack: LocalStack) -> None:
    # Given a deployed stack's items in the old shapes: two campaigns (one paused, with a run) and 30 deferred messages
    _old_campaign(stack, "winback")
    _old_campaign(stack, "spring_sale", state="paused")
    run = {"pk": {"S": "CAMPAIGN#winback"}, "sk": {"S": "RUN#r1"}, "status": {"S": "done"}}
    stack.client("dynamodb").put_item(TableName=_profiles_table(stack), Item=run)
    requests = [_request(n) for n in range(30)]
    for n, request in enumerate(requests):
        _old_deferred(stack, request, DUE + timedelta(seconds=n))
    campaigns, deferred = (
        CampaignStore(_profiles_table(stack), stack.physical_id("LedgerTable")),
        DeferredMessageTable(_profiles_table(stack)),
    )
    assert list(campaigns.all()) == [] and deferred.due(DUE + timedelta(hours=1), 100) == []  # invisible before
    # When the migration runs, and runs again
    first = migrate_key_shapes(_profiles_table(stack))
    second = migrate_key_shapes(_profiles_table(stack))
    # Then every item was moved once, with its state and attributes, and nothing is left in the old shapes
    assert first == {"campaigns": {"moved": 2, "superseded": 0, "gone": 0},
                     "deferred_messages": {"moved": 30, "superseded": 0, "gone": 0}}  # fmt: skip
    assert second == {"campaigns": {"moved": 0, "superseded": 0, "gone": 0},
                      "deferred_messages": {"moved": 0, "superseded": 0, "gone": 0}}  # fmt: skip
    assert [(c.name, c.state) for c in campaigns.all()] == [("spring_sale", "paused"), ("winback", "active")]
    assert campaigns.get("winback") == parse_campaign({**WINBACK, "state": "active"})
    assert (
        stack.client("dynamodb").get_item(TableName=_profiles_table(stack), Key={"pk": run["pk"], "sk": run["sk"]})[
            "Item"
        ]
        == run
    )
    # And the sweeper finds the deferred messages in their buckets, in due order, and can retire them
    assert deferred.due(DUE + timedelta(hours=1), 100) == [
        (r, DUE + timedelta(seconds=n)) for n, r in enumerate(requests)
    ]
    buckets = {deferred_message_key(DUE.isoformat(), r.profile_id, r.key())["pk"] for r in requests}
    assert len(buckets) > 1 and _old_items(stack) == []
    deferred.done(requests[0], DUE)
    assert len(deferred.due(DUE + timedelta(hours=1), 100)) == 29


def test_an_item_already_present_in_the_new_shape_is_kept(stack: LocalStack) -> None:
    # Given an old campaign, and one of the same name created again after the upgrade; and a message deferred in both
    _old_campaign(stack, "winback", state="paused")
    campaigns = CampaignStore(_profiles_table(stack), stack.physical_id("LedgerTable"))
    campaigns.create(parse_campaign({**WINBACK, "state": "active"}), DUE)
    request = _request(1)
    _old_deferred(stack, request, DUE)
    DeferredMessageTable(_profiles_table(stack)).defer(request, DUE)
    # When the migration runs through the command line
    exit_code = main(["migrate", "--table", _profiles_table(stack)])
    # Then the newer items stay, the old ones are gone
    assert exit_code == 0
    assert [(c.name, c.state) for c in campaigns.all()] == [("winback", "active")]
    assert DeferredMessageTable(_profiles_table(stack)).due(DUE, 10) == [(request, DUE)]
    assert _old_items(stack) == []


def test_a_runs_deferrals_to_one_moment_are_each_kept_and_bucket_items_without_the_person_move(
    stack: LocalStack,
) -> None:
    # Given one campaign run's message deferred for 20 people to the same end of quiet hours, and one message the
    # buckets held before their keys named the person
    deferred, requests = DeferredMessageTable(_profiles_table(stack)), [_request(n) for n in range(20)]
    for request in requests:
        deferred.defer(request, DUE)
    earlier = _request(99)
    stack.client("dynamodb").put_item(TableName=_profiles_table(stack), Item={
        "pk": {"S": "DEFERRED#0"}, "sk": {"S": f"{DUE.isoformat()}#{earlier.key()}"}, "profile_id": {"S": "p99"},
        "request": {"S": earlier.model_dump_json()}, "until": {"S": DUE.isoformat()},
    })  # fmt: skip
    # When the migration runs
    counts = migrate_key_shapes(_profiles_table(stack))
    # Then each person's message is due once, over several buckets, and the earlier one moved beside them
    assert counts["deferred_messages"] == {"moved": 1, "superseded": 0, "gone": 0}
    due = deferred.due(DUE, 100)
    assert sorted(request.profile_id for request, _ in due) == sorted(f"p{n}" for n in (*range(20), 99))
    assert len({deferred_message_key(DUE.isoformat(), r.profile_id, r.key())["pk"] for r in requests}) > 1
