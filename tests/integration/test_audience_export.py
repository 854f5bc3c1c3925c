"""GET /v1/segments/{name}/audience on the local stack: a segment's reachable members as contacts and as SHA-256
hashes; people without marketing consent on a channel and erased people are left out; an audience over the inline
limit comes back as a short-lived link to the stored export."""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from cdp_local.runner import http_api, linked_export, linked_key
from cdp_local.stack import LocalStack

from tests.integration.privacy_flow import CUSTOMERS, ORDERS, drop, profile_of, signed

SEGMENT = "lifecycle_dormant"  # Ann and Bob both last ordered months ago


def _get(stack: LocalStack, path: str) -> tuple[int, str, dict[str, str]]:
    response = http_api(stack).handle("GET", path, signed("GET", path), b"")
    body = response.body if isinstance(response.body, str) else (response.body or b"").decode()
    return response.status, body, {name.lower(): value for name, value in (response.headers or {}).items()}


def test_the_audience_holds_consented_contacts_and_never_an_erased_person(stack: LocalStack) -> None:
    # Given: Ann (email and SMS consent) and Bob (email consent only) segmented by the scheduled run
    drop(stack, "customers/customers.csv", CUSTOMERS)
    drop(stack, "orders/orders.csv.gz", gzip.compress(ORDERS))
    stack.run_schedules()
    stack.wait_for_executions(timeout=60)
    ann, bob = profile_of(stack, "C1"), profile_of(stack, "C2")

    # When
    status, contacts, headers = _get(stack, f"/v1/segments/{SEGMENT}/audience?format=csv")
    _, hashed, _ = _get(stack, f"/v1/segments/{SEGMENT}/audience?format=sha256")

    # Then: both emails, only Ann's phone (Bob refused SMS), hashed as normalised
    assert status == 200 and headers["content-type"] == "text/csv"
    assert sorted(contacts.splitlines()[1:]) == sorted([
        f"{ann['profile_id']},ann.lee@example.com,+447700900123", f"{bob['profile_id']},bob@example.com,"])
    sha = lambda text: hashlib.sha256(text.encode()).hexdigest()  # noqa: E731
    assert sorted(hashed.splitlines()[1:]) == sorted([
        f"{sha('ann.lee@example.com')},{sha('+447700900123')}", f"{sha('bob@example.com')},"])
    assert headers["x-audience-exported"] == "2"

    # When: Ann is erased (the snapshot still lists her until the next run)
    response = http_api(stack).handle("DELETE", f"/v1/profiles/{ann['profile_id']}",
                                      signed("DELETE", f"/v1/profiles/{ann['profile_id']}"), b"")
    assert response.status == 202
    stack.wait_for_executions(timeout=30)
    status, contacts, headers = _get(stack, f"/v1/segments/{SEGMENT}/audience?format=csv")

    # Then: she is left out and counted
    assert status == 200 and contacts.splitlines()[1:] == [f"{bob['profile_id']},bob@example.com,"]
    assert (headers["x-audience-left-out-erased"], headers["x-audience-exported"]) == ("1", "1")
    assert "ann" not in _get(stack, f"/v1/segments/{SEGMENT}/audience?format=sha256")[1]

    # Then: unknown format, unknown segment and unsigned requests are refused
    assert _get(stack, f"/v1/segments/{SEGMENT}/audience?format=xml")[0] == 400
    assert _get(stack, "/v1/segments/no_such_segment/audience")[0] == 404
    assert http_api(stack).handle("GET", f"/v1/segments/{SEGMENT}/audience", {"host": "localhost"}, b"").status == 403


def test_an_audience_over_the_inline_limit_is_stored_and_linked_for_a_short_while(stack: LocalStack) -> None:
    # Given: Ann and Bob segmented, and the function's inline limit lowered under the size of their export
    drop(stack, "customers/customers.csv", CUSTOMERS)
    drop(stack, "orders/orders.csv.gz", gzip.compress(ORDERS))
    stack.run_schedules()
    stack.wait_for_executions(timeout=60)
    _, inline, _ = _get(stack, f"/v1/segments/{SEGMENT}/audience?format=csv")
    functions = stack.client("lambda")
    name = stack.physical_id("ExportAudienceFunction")
    variables = functions.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    variables = {name: str(value) for name, value in variables.items()} | {"AUDIENCE_INLINE_LIMIT_BYTES": "40"}
    functions.update_function_configuration(FunctionName=name, Environment={"Variables": variables})

    # When
    started = datetime.now(UTC)
    status, body, headers = _get(stack, f"/v1/segments/{SEGMENT}/audience?format=csv")

    # Then: 303 to a pre-signed URL valid for the configured 15 minutes, the same CSV stored in the exports bucket
    answer = json.loads(body)
    assert status == 303 and headers["location"] == answer["url"]
    assert answer["exported"] == 2 and answer["bytes"] == len(inline.encode()) > 40
    expires_at = datetime.fromisoformat(answer["expires_at"])
    assert timedelta(minutes=14) < expires_at - started <= timedelta(minutes=15, seconds=5)
    link = urlsplit(answer["url"])
    query = parse_qs(link.query)
    assert query["X-Amz-Expires"] == ["900"] and query["X-Amz-Signature"]
    bucket, key = stack.physical_id("PrivacyExportsBucket"), linked_key(stack, answer["url"])
    assert key.startswith(f"audiences/{SEGMENT}/") and bucket in answer["url"]
    assert stack.client("s3").head_object(Bucket=bucket, Key=key)["ContentType"] == "text/csv"
    assert linked_export(stack, answer["url"]).decode() == inline

    # When: Ann is erased, the next large export leaves her out too
    ann = profile_of(stack, "C1")
    http_api(stack).handle("DELETE", f"/v1/profiles/{ann['profile_id']}",
                           signed("DELETE", f"/v1/profiles/{ann['profile_id']}"), b"")  # fmt: skip
    stack.wait_for_executions(timeout=30)
    status, body, _ = _get(stack, f"/v1/segments/{SEGMENT}/audience?format=sha256")
    answer = json.loads(body)
    hashed = linked_export(stack, answer["url"]).decode()
    assert status == 303 and answer["left_out_erased"] == 1 and len(hashed.splitlines()) == 2
    assert hashlib.sha256(b"ann.lee@example.com").hexdigest() not in hashed
