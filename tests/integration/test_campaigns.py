"""Campaigns through the template-driven local stack: the IAM-signed API refuses bad definitions by field, a run
splits holdout and variants, a retried start or batch sends nothing twice, a failing message ends in the dead-letter
queue, and a pause mid-run holds the rest until resumed."""

from __future__ import annotations

import io
import json
from collections import Counter
from datetime import UTC, datetime
from email import message_from_bytes
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from cdp import wiring
from cdp.adapters.campaign_store import CampaignStore
from cdp.campaigns import run as run_module
from cdp_local.operation_profile import OperationProfile, profiling_aws_operations
from cdp_local.runner import http_api
from cdp_local.stack import LOCAL_CREDENTIALS, LocalStack
from moto.core.utils import unix_time, unix_time_millis
from moto.sqs import models as sqs_models

from tests.fakes import FakeCampaignSending, FakeMessageEvents

NOW = datetime.now(UTC)
SEGMENT = "rfm:Champions"
HOLD_SECONDS = 20  # a paused campaign's messages come back after this: longer than the local poller's pass over them


def campaign(name: str = "spring_sale", **changes: Any) -> dict[str, Any]:
    return {
        "name": name,
        "audience": {"segment": SEGMENT},
        "template": "spring_sale",
        "channel": "email",
        "schedule": {"cron": "0 10 ? * MON *", "timezone": "Europe/Paris"},
        "variants": [{"name": "a", "percent": 50}, {"name": "b", "percent": 50, "template": "spring_sale_b"}],
        "holdout_percent": 10,
        "send_rate_per_second": 1000,
        **changes,
    }


def write_snapshot(stack: LocalStack, memberships: dict[str, list[str]], run_id: str = "r1") -> None:
    """A membership snapshot in the contract's shape: the run's Parquet file and latest.json naming it."""
    rows = [(segment, profile_id) for segment, members in memberships.items() for profile_id in members]
    table = pa.table({"segment": [row[0] for row in rows], "profile_id": [row[1] for row in rows]})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    key = f"segment_memberships/dt={NOW:%Y-%m-%d}/run={run_id}/part-0.parquet"
    s3, bucket = stack.client("s3"), stack.physical_id("CuratedBucket")
    s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())
    latest = {"run_id": run_id, "key": key, "computed_at": NOW.isoformat(),
              "sizes": {segment: len(members) for segment, members in memberships.items()}}  # fmt: skip
    s3.put_object(Bucket=bucket, Key="segment_memberships/latest.json", Body=json.dumps(latest).encode())


def _signed(method: str, path: str, body: bytes, secret: str = LOCAL_CREDENTIALS[1]) -> dict[str, str]:
    request = AWSRequest(method=method, url=f"http://localhost{path}", data=body,
                         headers={"host": "localhost", "content-type": "application/json"})  # fmt: skip
    SigV4Auth(Credentials(LOCAL_CREDENTIALS[0], secret), "execute-api", "eu-west-1").add_auth(request)
    return dict(request.headers.items())


def call(api: Any, method: str, path: str, document: Any = None) -> tuple[int, Any]:
    body = b"" if document is None else document if isinstance(document, bytes) else json.dumps(document).encode()
    answer = api.handle(method, path, _signed(method, path, body), body)
    return answer.status, json.loads(answer.body or b"null")


@pytest.fixture
def sending(monkeypatch: pytest.MonkeyPatch) -> FakeCampaignSending:
    fake = FakeCampaignSending()
    monkeypatch.setattr(wiring, "campaign_sending", lambda: fake)
    return fake


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> FakeMessageEvents:
    fake = FakeMessageEvents()
    monkeypatch.setattr(wiring, "campaign_message_events", lambda stream: fake)
    return fake


@pytest.fixture
def local() -> Any:
    with LocalStack(parameters={"CampaignHoldSeconds": str(HOLD_SECONDS)}) as stack:
        yield stack


class SqsClock:
    """moto's SQS clock, moved on by hand: a held message's delay passes without the test waiting for it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.skipped_seconds = 0.0
        monkeypatch.setattr(sqs_models, "unix_time", lambda: unix_time() + self.skipped_seconds)
        monkeypatch.setattr(sqs_models, "unix_time_millis", lambda: unix_time_millis() + self.skipped_seconds * 1000)

    def let_the_hold_pass(self) -> None:
        self.skipped_seconds += HOLD_SECONDS + 0.5


def _store(stack: LocalStack) -> CampaignStore:
    return CampaignStore(stack.physical_id("ProfilesTable"), stack.physical_id("LedgerTable"))


def _dead_letters(stack: LocalStack) -> list[dict[str, Any]]:
    url = stack.physical_id("CampaignSendsDeadLetterQueue")
    return stack.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])


def test_a_run_splits_holdout_and_variants_and_a_retried_start_sends_nothing_twice(
    local: LocalStack, sending: FakeCampaignSending, events: FakeMessageEvents, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: 500 champions in the snapshot (chunks of 50), and a campaign to them with a 10% holdout, 50/50 split
    monkeypatch.setattr(run_module, "CHUNK_SIZE", 50)
    profiles = [f"p{number:05d}" for number in range(500)]
    write_snapshot(local, {SEGMENT: profiles, "lifecycle:active": profiles[:10]})
    api = http_api(local)
    assert call(api, "POST", "/v1/campaigns", campaign())[0] == 201
    # When: its schedule fires
    [answer] = local.fire_scheduler_schedules(NOW)
    # Then: everyone was assigned once; about 10% held out, the rest split about evenly; every other one sent once
    assert answer["audience"] == 500 and answer["chunks"] == 10 and answer["chunks_queued"] == 10
    groups = Counter(row["variant"] for row in events.rows)
    assert sum(groups.values()) == 500 and 23 <= groups["holdout"] <= 77  # binomial(500, 0.1): 4 sigma
    assert abs(groups["a"] - groups["b"]) < 85
    assert Counter(row["event"] for row in events.rows) == {"holdout": groups["holdout"], "assigned": 500 - groups["holdout"]}
    assert Counter(sending.sent.values()) == {"a": groups["a"], "b": groups["b"]}
    held_out = {row["profile_id"] for row in events.rows if row["variant"] == "holdout"}
    assert not held_out & {profile for profile, _key in sending.sent}
    run = _store(local).run("spring_sale", answer["run_id"])
    assert run is not None and run["outcomes"] == {"a:sent": groups["a"], "b:sent": groups["b"]}
    assert run["rate_per_second"] == 200  # capped by the SES account's maximum send rate
    # When: the start is retried whole, and again after losing a chunk marker (a crash before marking it)
    start = {"campaign": "spring_sale", "scheduled_at": answer["run_id"]}
    start["scheduled_at"] = datetime.strptime(answer["run_id"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).isoformat()
    again = local.invoke("StartCampaignRunFunction", start)
    local.client("dynamodb").delete_item(
        TableName=local.physical_id("LedgerTable"),
        Key={"pk": {"S": f"CAMPAIGNRUN#spring_sale#{answer['run_id']}"}, "sk": {"S": "CHUNK#0000001"}},
    )
    after_crash = local.invoke("StartCampaignRunFunction", start)
    # Then: the first queued nothing; the second queued that one chunk, whose sends were all already sent
    assert again["chunks_queued"] == 0 and after_crash["chunks_queued"] == 1
    assert len(sending.sent) == 500 - groups["holdout"]
    outcomes = _store(local).run("spring_sale", answer["run_id"])["outcomes"]  # type: ignore[index]
    assert outcomes["a:sent"] + outcomes["b:sent"] == len(sending.sent)
    assert outcomes["a:skipped:already_sent"] + outcomes["b:skipped:already_sent"] > 35
    # And: the API shows the run with its counters
    status, shown = call(api, "GET", "/v1/campaigns/spring_sale")
    assert status == 200 and shown["runs"][0]["planned"]["audience"] == 500


def test_a_failing_message_is_retried_then_dead_lettered_and_the_rest_of_its_batch_is_sent(
    local: LocalStack, sending: FakeCampaignSending, events: FakeMessageEvents
) -> None:
    # Given: a campaign without holdout to 25 profiles, one of which the provider always fails, one deferred
    profiles = [f"p{number:02d}" for number in range(25)]
    write_snapshot(local, {SEGMENT: profiles})
    sending.failing, sending.deferring = {"p07"}, {"p11"}
    assert call(http_api(local), "POST", "/v1/campaigns", campaign(holdout_percent=0))[0] == 201
    # When: it runs, and a malformed message arrives on the queue too
    local.client("sqs").send_message(QueueUrl=local.physical_id("CampaignSendsQueue"), MessageBody='{"request": 1}')
    local.fire_scheduler_schedules(NOW)
    # Then: p07 was tried five times (maxReceiveCount) and is dead-lettered with the malformed one, bodies intact
    assert sending.attempts.count("p07") == 5
    dead = _dead_letters(local)
    assert len(dead) == 2
    assert {json.loads(message["Body"])["request"] if "profile_id" not in message["Body"] else
            json.loads(message["Body"])["request"]["profile_id"] for message in dead} == {1, "p07"}  # fmt: skip
    # And: the others of its batch were sent once, p11 was handed to the deferral store
    assert {profile for profile, _key in sending.sent} == set(profiles) - {"p07", "p11"}
    assert [profile for profile, _until in sending.deferred] == ["p11"]


def test_a_pause_mid_run_holds_the_rest_until_resumed_and_cancel_skips_them(
    local: LocalStack, sending: FakeCampaignSending, events: FakeMessageEvents, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: two campaigns to 40 profiles; the first is paused after its 12th send
    profiles = [f"p{number:03d}" for number in range(40)]
    write_snapshot(local, {SEGMENT: profiles})
    api = http_api(local)
    store = _store(local)
    sqs_clock = SqsClock(monkeypatch)
    for name in ("spring_sale", "winter_sale"):
        assert call(api, "POST", "/v1/campaigns", campaign(name, holdout_percent=0, variants=[{"name": "a", "percent": 100}]))[0] == 201
    assert call(api, "POST", "/v1/campaigns/winter_sale/pause")[0] == 200  # paused before it fires: it does not run

    def pause_at_30(sent: int) -> None:
        if sent == 12:
            store.set_state("spring_sale", "paused", ["active"], datetime.now(UTC))

    sending.after_each_send = pause_at_30
    # When: the schedules fire
    answers = local.fire_scheduler_schedules(NOW)
    # Then: the first stopped within the batch being sent (its state is read once per invocation here)
    assert [answer["campaign"] for answer in answers] == ["spring_sale"]
    sent_while_running = len(sending.sent)
    assert 12 <= sent_while_running < 22
    assert call(api, "GET", "/v1/campaigns/spring_sale")[1]["state"] == "paused"
    # When: it is resumed through the API and the held messages come back
    assert call(api, "POST", "/v1/campaigns/spring_sale/resume")[0] == 200
    sqs_clock.let_the_hold_pass()
    local.deliver_queued_messages()
    # Then: everyone got it exactly once, nothing was dead-lettered
    assert sorted(profile for profile, _key in sending.sent) == profiles
    assert len(sending.attempts) == 40 and not _dead_letters(local)
    # When: the winter sale is resumed, started, paused, and cancelled while its messages are held
    assert call(api, "POST", "/v1/campaigns/winter_sale/resume")[0] == 200
    sending.after_each_send = lambda sent: sent == 41 and store.set_state("winter_sale", "paused", ["active"], datetime.now(UTC))
    local.invoke("StartCampaignRunFunction", {"campaign": "winter_sale", "scheduled_at": NOW.isoformat()})
    assert call(api, "POST", "/v1/campaigns/winter_sale/cancel")[0] == 200
    sqs_clock.let_the_hold_pass()
    local.deliver_queued_messages()
    # Then: the held ones were skipped as cancelled, and its schedule is gone
    [run] = call(api, "GET", "/v1/campaigns/winter_sale")[1]["runs"]
    assert run["outcomes"]["a:sent"] < 51 and run["outcomes"]["a:sent"] + run["outcomes"]["a:skipped:campaign_cancelled"] == 40
    names = [s["Name"] for s in local.client("scheduler").list_schedules(GroupName="cdp-local-campaigns")["Schedules"]]
    assert names == ["spring_sale"]


def test_bad_definitions_and_moves_are_refused_with_the_field_named(local: LocalStack) -> None:
    write_snapshot(local, {SEGMENT: ["p1"]})
    api = http_api(local)
    refused = {
        "name": campaign(name="Bad Name"),
        "variants": campaign(variants=[{"name": "a", "percent": 60}, {"name": "b", "percent": 30}]),
        "holdout_percent": campaign(holdout_percent=80),
        "schedule.cron": campaign(schedule={"cron": "every monday"}),
        "schedule.timezone": campaign(schedule={"rate": "1 day", "timezone": "Mars/Olympus"}),
        "schedule.at": campaign(schedule={"at": "2020-01-01T10:00:00"}),
        "audience.segment": campaign(audience={"segment": "rfm:Nobody"}),
        "audience.rule.any.1": campaign(audience={"rule": {"any": [{"segment": SEGMENT}, {"field": "email", "op": "exists"}]}}),
        "channel": campaign(channel="fax"),
        "variants.0.name": campaign(variants=[{"name": "holdout", "percent": 100}]),
        "send_rate_per_second": campaign(send_rate_per_second=0),
        "": [1, 2],
    }
    for field, document in refused.items():
        status, answer = call(api, "POST", "/v1/campaigns", document)
        assert status == 400, (field, answer)
        assert any(problem["field"] == field for problem in answer["fields"]), (field, answer)
    assert call(api, "POST", "/v1/campaigns", b"{not json")[0] == 400
    assert call(api, "POST", "/v1/campaigns", b" " * 70_000)[0] == 413
    assert call(api, "POST", "/v1/campaigns", campaign())[0] == 201
    assert call(api, "POST", "/v1/campaigns", campaign())[0] == 409
    assert call(api, "POST", "/v1/campaigns/spring_sale/resume")[0] == 409
    assert call(api, "POST", "/v1/campaigns/nobody/pause")[0] == 404
    assert call(api, "GET", "/v1/campaigns/nobody")[0] == 404
    assert [c["name"] for c in call(api, "GET", "/v1/campaigns")[1]["campaigns"]] == ["spring_sale"]


def test_the_campaign_list_is_read_a_page_at_a_time_by_a_query_on_its_key(local: LocalStack) -> None:
    # Given: five campaigns
    api = http_api(local)
    names = ["autumn", "black_friday", "spring_sale", "summer", "winter"]
    for name in reversed(names):
        assert call(api, "POST", "/v1/campaigns", campaign(name))[0] == 201
    # When: the list is read two at a time, following `next`
    listed, path, profile = [], "/v1/campaigns?limit=2", OperationProfile()
    with profiling_aws_operations(profile):
        while path:
            status, page = call(api, "GET", path)
            assert status == 200 and len(page["campaigns"]) <= 2
            listed += [entry["name"] for entry in page["campaigns"]]
            path = page["next"] and f"/v1/campaigns?limit=2&next={page['next']}"
    # Then: every campaign once, in name order, and no request scanned the table
    assert listed == names
    assert "dynamodb.Scan" not in profile.tallies and profile.tallies["dynamodb.Query"].count >= 3
    # Then: a malformed limit or token is a 400 naming it, never a 5xx
    for query, field in (("limit=0", "limit"), ("limit=101", "limit"), ("limit=abc", "limit"), ("limit=%C2%B2", "limit"),
                         ("limit=" + "9" * 5000, "limit"), ("next=%21%21", "next"), ("next=" + "a" * 300, "next")):
        status, answer = call(api, "GET", f"/v1/campaigns?{query}")
        assert status == 400 and answer["fields"][0]["field"] == field, (query, answer)


def test_the_campaign_api_needs_an_iam_signature(local: LocalStack) -> None:
    api = http_api(local)
    body = json.dumps(campaign()).encode()
    assert api.handle("POST", "/v1/campaigns", {"host": "localhost"}, body).status == 403
    assert api.handle("POST", "/v1/campaigns", _signed("POST", "/v1/campaigns", body, secret="wrong"), body).status == 403
    assert api.handle("GET", "/v1/campaigns", {"host": "localhost"}, b"").status == 403
    assert list(_store(local).all()) == []


def test_a_campaign_through_the_sending_service_emails_each_consenting_person_once(local: LocalStack) -> None:
    # Given: six champions: four who agreed to marketing email, one who did not, one without an address
    from cdp.adapters.privacy_store import PrivacyStore
    from cdp.messaging.assignment import assign
    from cdp_local.runner import campaigns_report
    from moto.ses.models import ses_backends

    consent = {"email:marketing": {"granted": True, "recorded_at": "2026-01-01T00:00:00+00:00"}}
    people = {f"c{n}": {"email": f"c{n}@example.com", "consent": consent} for n in range(4)}
    people["refuser"] = {"email": "refuser@example.com", "consent": {"email:marketing": {"granted": False}}}
    people["no_address"] = {"consent": consent}
    profiles = PrivacyStore(local.physical_id("ProfilesTable"), local.physical_id("LedgerTable")).profiles
    for profile_id, attributes in people.items():
        profiles.put_item(Item={"pk": f"PROFILE#{profile_id}", "sk": "PROFILE", "profile_id": profile_id,
                                "first_name": "Ann", "timezone": "Europe/London", "language": "en", **attributes})  # fmt: skip
    write_snapshot(local, {SEGMENT: sorted(people)})
    afternoon = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
    local.clock_offset = afternoon - datetime.now(UTC)  # no quiet hours in London
    definition = campaign(
        template="winback_offer", holdout_percent=20,
        variants=[{"name": "a", "percent": 50, "context": {"coupon_code": "COMEBACK15"}},
                  {"name": "b", "percent": 50, "template": "winback_offer_bigger", "context": {"coupon_code": "COMEBACK25"}}],
    )  # fmt: skip
    assert call(http_api(local), "POST", "/v1/campaigns", definition)[0] == 201
    groups = {profile_id: assign(profile_id, "spring_sale", 20, {"a": 50, "b": 50}) for profile_id in people}
    # When: it fires, and its start is retried
    [answer] = local.fire_scheduler_schedules(afternoon)
    again = local.invoke("StartCampaignRunFunction", {"campaign": "spring_sale", "scheduled_at": afternoon.replace(second=0).isoformat()})
    # Then: every consenting, addressed person outside the holdout got one email with their variant's coupon
    messaged = {p for p, group in groups.items() if group != "holdout"}
    expected = {f"{p}@example.com" for p in messaged if p.startswith("c")}
    sent = ses_backends["123456789012"][local.region].sent_messages
    raw = [m.raw_data.encode() if isinstance(m.raw_data, str) else m.raw_data for m in sent]
    assert sorted(message_from_bytes(data)["To"] for data in raw) == sorted(expected)
    assert again["chunks_queued"] == 0 and answer["audience"] == 6
    report = campaigns_report(local)["spring_sale"]
    assert report["audience"] == 6 and report["holdout"] == sum(g == "holdout" for g in groups.values())
    assert report["sent"] == len(expected)
    skipped = {"no_consent": int("refuser" in messaged), "no_address": int("no_address" in messaged)}
    assert report["skipped"] == {reason: n for reason, n in skipped.items() if n}
    assert {name: v["sent"] for name, v in report["variants"].items()} == {
        name: sum(groups[p] == name for p in messaged if p.startswith("c")) for name in ("a", "b")
    }
