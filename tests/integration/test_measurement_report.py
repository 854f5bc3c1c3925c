"""The marketing report on the local stack: the scheduled function reads curated Parquet, segment snapshots and the
identity items, writes JSON and HTML under reports/, and GET /v1/reports/latest serves it to IAM-signed callers."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from cdp.adapters.identity_store import IdentityStore
from cdp.identity.resolution import resolve_batch
from cdp.measure.attribution import MESSAGE_SCHEMA
from cdp_local.runner import http_api
from cdp_local.stack import LOCAL_CREDENTIALS, LocalStack
from cdp_local.template import REPO_ROOT

NOW = datetime.now(UTC).replace(microsecond=0)
PATH = "/v1/reports/latest"


def _signed(secret: str = LOCAL_CREDENTIALS[1]) -> dict[str, str]:
    request = AWSRequest(method="GET", url=f"http://localhost{PATH}", headers={"host": "localhost"})
    SigV4Auth(Credentials(LOCAL_CREDENTIALS[0], secret), "execute-api", "eu-west-1").add_auth(request)
    return dict(request.headers.items())


def _put_parquet(stack: LocalStack, key: str, rows: list[dict], schema: pa.Schema) -> None:
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), buffer)
    stack.client("s3").put_object(Bucket=stack.physical_id("CuratedBucket"), Key=key, Body=buffer.getvalue())


def _message(profile_id: str, event: str, at: datetime, variant: str = "a") -> dict:
    return {"message_key": f"campaign#spring#send#r1#{profile_id}", "profile_id": profile_id, "origin": "campaign",
            "origin_name": "spring", "step": "send", "variant": variant, "occurrence": "r1", "channel": "email",
            "purpose": "marketing", "template": "offer", "event": event, "reason": event, "at": at,
            "provider_message_id": None}  # fmt: skip


def test_the_scheduled_report_is_stored_and_served_to_signed_callers(stack: LocalStack) -> None:
    # Given three profiles, two messaged (one clicked, then ordered) and one held out, their curated rows and a
    # segment snapshot; and a stray object that is not Parquet
    store = IdentityStore(stack.physical_id("ProfilesTable"), stack.physical_id("LedgerTable"))
    ids = resolve_batch(store, [[("customer_id", f"C{n}")] for n in range(3)], "b1", NOW - timedelta(days=40)).profile_ids
    sent_at = NOW - timedelta(days=3)
    messages = [_message(ids[0], "assigned", sent_at), _message(ids[0], "sent", sent_at),
                _message(ids[0], "delivered", sent_at + timedelta(minutes=1)),
                _message(ids[0], "clicked", sent_at + timedelta(hours=1)),
                _message(ids[1], "assigned", sent_at), _message(ids[1], "sent", sent_at),
                _message(ids[2], "holdout", sent_at, variant="main")]  # fmt: skip
    _put_parquet(stack, f"messages/dt={sent_at:%Y-%m-%d}/messages-1.parquet", messages, MESSAGE_SCHEMA)
    order_schema = pa.schema([("order_id", pa.string()), ("line_id", pa.string()), ("customer_id", pa.string()),
                              ("ordered_at", pa.timestamp("us", tz="UTC")), ("line_amount", pa.decimal128(18, 4)),
                              ("status", pa.string()), ("currency", pa.string())])  # fmt: skip
    ordered_at = sent_at + timedelta(hours=5)
    _put_parquet(stack, f"orders/dt={ordered_at:%Y-%m-%d}/f-000000.parquet", [
        {"order_id": "O1", "line_id": "1", "customer_id": "C0", "ordered_at": ordered_at, "line_amount": Decimal("42.50"),
         "status": "completed", "currency": "GBP"},
        {"order_id": "O2", "line_id": "1", "customer_id": "unknown", "ordered_at": ordered_at, "line_amount": Decimal("9"),
         "status": "completed", "currency": "GBP"},
    ], order_schema)  # fmt: skip
    _put_parquet(stack, f"segment_memberships/dt={NOW:%Y-%m-%d}/run=r1/part-0.parquet",
                 [{"segment": "rfm_champions", "profile_id": ids[0]}],
                 pa.schema([("segment", pa.string()), ("profile_id", pa.string())]))  # fmt: skip
    bucket = stack.physical_id("CuratedBucket")
    stack.client("s3").put_object(Bucket=bucket, Key="orders/dt=2026-01-01/stray.parquet", Body=b"not parquet")
    api = http_api(stack)
    # When the report is asked for before the first run, unsigned, or signed with a wrong secret
    assert api.handle("GET", PATH, _signed(), b"").status == 404
    assert api.handle("GET", PATH, {"host": "localhost"}, b"").status == 403
    assert api.handle("GET", PATH, _signed("wrong"), b"").status == 403
    # When the schedule fires
    event = json.loads((REPO_ROOT / "events" / "scheduled_measure_marketing.json").read_text())
    written = stack.invoke("MeasureMarketingFunction", event)
    # Then the JSON and the self-contained page are stored under reports/
    page = stack.client("s3").get_object(Bucket=bucket, Key=written["html"])["Body"].read().decode()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "<script" not in page
    assert written["day_json"].startswith("reports/marketing/dt=")
    # and the signed GET answers the latest report: one attributed order, the known one only
    answer = api.handle("GET", PATH, _signed(), b"")
    assert answer.status == 200
    report = json.loads(answer.body)
    assert (report["orders"], report["attributed_orders"]) == (1, 1)
    assert report["headline"]["revenue"] == 42.5 and report["headline"]["counts"]["clicked"] == 1
    assert report["uplift"][0]["messaged"]["recipients"] == 2 and report["uplift"][0]["holdout"]["recipients"] == 1
    assert report["segments"]["sizes"] == [{"run": f"{NOW:%Y-%m-%d}", "sizes": {"rfm_champions": 1}}]
