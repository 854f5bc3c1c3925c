"""The identity routes on the local stack: GET follows merge redirects, lookups by identifier, split refusals."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from cdp.adapters.identity_store import IdentityStore
from cdp.adapters.profile_store import ProfileStore
from cdp.identity.resolution import resolve_batch
from cdp.records.apply import apply_records
from cdp_local.stack import LocalStack
from cdp_local.template import REPO_ROOT

EVENTS = REPO_ROOT / "events"
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
CART = json.dumps({"sku": "SKU-1", "quantity": 1})


def _event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def _get(stack: LocalStack, profile_id: str) -> dict[str, Any]:
    event = _event("http_get_profile.json")
    event["pathParameters"] = {"id": profile_id}
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/v1/profiles/{profile_id}"
    return stack.invoke("GetProfileFunction", event)


def _lookup(stack: LocalStack, query: dict[str, str]) -> dict[str, Any]:
    event = _event("http_lookup_profile.json")
    event["queryStringParameters"] = query
    return stack.invoke("GetProfileFunction", event)


def _lookup_by_body(stack: LocalStack, body: str) -> dict[str, Any]:
    event = _event("http_lookup_profile_by_body.json")
    event["body"] = body
    return stack.invoke("GetProfileFunction", event)


def _split(stack: LocalStack, profile_id: str, body: str) -> dict[str, Any]:
    event = copy.deepcopy(_event("http_split_profile.json"))
    event["pathParameters"] = {"id": profile_id}
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/v1/profiles/{profile_id}/split"
    event["body"] = body
    return stack.invoke("SplitProfileFunction", event)


def _store(stack: LocalStack) -> IdentityStore:
    return IdentityStore(stack.physical_id("ProfilesTable"), stack.physical_id("LedgerTable"))


def test_reads_follow_redirects_and_lookups_find_the_survivor(stack: LocalStack) -> None:
    # Given a profile redirected to a survivor (as a merge leaves it) whose email is still bound to it
    store = _store(stack)
    survivor = resolve_batch(store, [[("anonymous_id", "anon-1")]], "e1", NOW - timedelta(days=1)).profile_ids[0]
    loser = resolve_batch(store, [[("email", "jane@example.com")]], "m1", NOW).profile_ids[0]
    assert survivor is not None and loser is not None
    store.profiles.update_item(
        Key={"pk": f"PROFILE#{loser}", "sk": "PROFILE"},
        UpdateExpression="SET redirect_to = :to, merged_at = :at",
        ExpressionAttributeValues={":to": survivor, ":at": NOW.isoformat()},
    )
    # When the merged-away id is read, and the email and anonymous id are looked up
    by_old_id = _get(stack, loser)
    by_email = _lookup(stack, {"email": " Jane@Example.com "})
    by_anonymous_id = _lookup(stack, {"anonymous_id": "anon-1"})
    by_sample = stack.invoke("GetProfileFunction", _event("http_lookup_profile.json"))
    # Then each answers the survivor, with the identifiers it holds
    for response in (by_old_id, by_email, by_anonymous_id, by_sample):
        assert response["statusCode"] == 200
        identity = json.loads(response["body"])["identity"]
        assert identity["profile_id"] == survivor
        assert identity["identifiers"] == [{"type": "anonymous_id", "value": "anon-1"}]


def test_unknown_answers_404_and_malformed_400(stack: LocalStack) -> None:
    # When unknown and malformed reads are made, Then they are answered 404 and 400
    assert _get(stack, "0f8fad5bd9cb469fa16570867728950e")["statusCode"] == 404
    assert _get(stack, "x" * 65)["statusCode"] == 400
    assert _lookup(stack, {"email": "nobody@example.com"})["statusCode"] == 404
    for query in (
        {},
        {"email": "a@b.io", "phone": "+4911"},
        {"shoe_size": "42"},
        {"email": "test@test.com"},
        {"phone": "0000"},
    ):
        assert _lookup(stack, query)["statusCode"] == 400, query


def test_lookup_by_body_finds_the_same_profile_and_refuses_malformed_bodies(stack: LocalStack) -> None:
    # Given a profile holding an email
    profile_id = resolve_batch(_store(stack), [[("email", "jane@example.com")]], "m1", NOW).profile_ids[0]
    # When it is looked up with the identifier in the body, in another written form, and by the sample event
    by_body = _lookup_by_body(stack, json.dumps({"email": " JANE@example.com"}))
    by_sample = stack.invoke("GetProfileFunction", _event("http_lookup_profile_by_body.json"))
    unknown = _lookup_by_body(stack, json.dumps({"email": "nobody@example.com"}))
    malformed = [
        _lookup_by_body(stack, body)
        for body in ("", "{", "[]", '{"email": 7}', "{}", '{"email": "a@b.io", "phone": "+4911"}', '{"shoe_size": "42"}',
                     "[" * 10_000, '{"email": "' + "x" * 100_000 + '"}')
    ]  # fmt: skip
    # Then the body lookup answers like the query lookup: the profile, 404 for nobody, 400 for each malformed body
    for response in (by_body, by_sample):
        assert response["statusCode"] == 200
        assert json.loads(response["body"])["identity"]["profile_id"] == profile_id
    assert unknown["statusCode"] == 404
    assert [response["statusCode"] for response in malformed] == [400] * len(malformed)


def test_split_refusals_and_malformed_bodies(stack: LocalStack) -> None:
    # Given a profile that never merged
    profile_id = resolve_batch(_store(stack), [[("email", "a@b.io")]], "m1", NOW).profile_ids[0]
    assert profile_id is not None
    # When splits are asked: the sample (unknown profile), nothing to undo, and malformed bodies
    sample = stack.invoke("SplitProfileFunction", _event("http_split_profile.json"))
    nothing = _split(stack, profile_id, "")
    malformed = [_split(stack, profile_id, body) for body in ("{", '{"edge_id": 7}', '{"edge": "x"}', "x" * 5000)]
    # Then: 404, 409, and 400 for each malformed body, changing nothing
    assert sample["statusCode"] == 404
    assert nothing["statusCode"] == 409
    assert [response["statusCode"] for response in malformed] == [400, 400, 400, 400]
    assert _store(stack).edges(profile_id) == []


def _events(stack: LocalStack, rows: list[dict[str, Any]], at: datetime) -> None:
    store = ProfileStore(stack.physical_id("ProfilesTable"), stack.physical_id("LedgerTable"))
    rows = [{"occurred_at": at, "email": None, "customer_id": None, "anonymous_id": None, **row} for row in rows]
    apply_records(store, "events", rows, "web", at, timedelta(days=30))


def test_browsing_attaches_on_login_and_a_split_after_more_activity_separates_it_again(stack: LocalStack) -> None:
    # Given an anonymous visitor who browsed and added to the cart, and a known customer
    _events(stack, [{"event_id": "e1", "event": "Product Viewed", "anonymous_id": "anon-1"}], NOW)
    _events(
        stack,
        [{"event_id": "e2", "event": "Product Added", "anonymous_id": "anon-1", "properties": CART}],
        NOW + timedelta(minutes=1),
    )
    _events(stack, [{"event_id": "e3", "event": "Page Viewed", "customer_id": "C1"}], NOW + timedelta(minutes=2))
    store = _store(stack)
    anonymous = store.owner_of(("anonymous_id", "anon-1"))
    customer = store.owner_of(("customer_id", "C1"))
    assert anonymous is not None and customer is not None and anonymous != customer
    # When the visitor logs in (an event carrying both ids), then browses on, and the customer shops on
    login = [{"event_id": "e4", "event": "Signed In", "customer_id": "C1", "anonymous_id": "anon-1"}]
    _events(stack, login, NOW + timedelta(minutes=3))
    merged = json.loads(_get(stack, anonymous)["body"])
    _events(
        stack, [{"event_id": "e5", "event": "Product Viewed", "anonymous_id": "anon-1"}], NOW + timedelta(minutes=4)
    )
    _events(stack, [{"event_id": "e6", "event": "Page Viewed", "customer_id": "C1"}], NOW + timedelta(minutes=5))
    # Then the anonymous history and cart joined the customer's profile, found by the old id too
    assert merged["identity"]["profile_id"] == customer
    assert merged["behaviour"]["events_count"] == 4
    assert merged["behaviour"]["cart_items_count"] == 1
    # When the merge is split over the API
    response = _split(stack, customer, "")
    # Then the anonymous side is back with its own and its later records, and each side's aggregates are its own
    assert response["statusCode"] == 200, response
    assert json.loads(response["body"])["restored_profile_id"] == anonymous
    restored, survivor = (json.loads(_get(stack, profile_id)["body"]) for profile_id in (anonymous, customer))
    assert restored["identity"]["profile_id"] == anonymous
    assert (restored["behaviour"]["events_count"], restored["behaviour"]["cart_items_count"]) == (3, 1)
    assert (survivor["behaviour"]["events_count"], survivor["behaviour"]["cart_items_count"]) == (3, 0)
