"""`make run` fails visibly when accepted work is lost: a batch in a dead-letter queue is in the report and makes
the run exit non-zero, while an oversized value is quarantined when its row is cleaned, never lost later."""

from __future__ import annotations

import json
from pathlib import Path
from unittest import mock

import pytest
from botocore.exceptions import ClientError
from cdp_local.__main__ import main

CUSTOMERS = "customer_id,email,first_name\nC1,c1@example.com,Ann\nC2,c2@example.com,{name}\nC3,c3@example.com,Bo\n"
ITEM_TOO_LARGE = ClientError(
    {"Error": {"Code": "ValidationException", "Message": "Item size has exceeded the maximum allowed size"}},
    "TransactWriteItems",
)


def _run(tmp_path: Path, customers: str) -> tuple[int, dict]:
    data = tmp_path / "data"
    (data / "customers").mkdir(parents=True)
    (data / "customers" / "customers.csv").write_text(customers, encoding="utf-8")
    report_path = tmp_path / "report.json"
    code = main(["run", "--data", str(data), "--report", str(report_path)])
    return code, json.loads(report_path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("size", [5 * 1024 * 1024])
def test_a_5_mb_field_is_quarantined_at_cleaning_and_the_run_succeeds(tmp_path: Path, size: int) -> None:
    # Given / When: a customers file whose second row has a 5 MB first name
    code, report = _run(tmp_path, CUSTOMERS.format(name="x" * size))
    # Then: that row is quarantined with its reason, the others reach profiles, nothing is dead-lettered
    [file] = report["files"]
    assert (file["rows_in"], file["rows_accepted"]) == (3, 2)
    assert file["quarantine_reasons"] == {"out_of_range:first_name": 1}
    assert file["profile_batches_applied"] == file["profile_batches"] > 0
    assert report["profiles"] == 2
    assert (report["dead_letters"], report["async_failures"], code) == ([], [], 0)


def test_a_batch_that_keeps_failing_to_apply_is_reported_and_fails_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given: applying profile batches fails as DynamoDB refuses an item
    with mock.patch("cdp.ingest.queued_batches.apply_entity_records", side_effect=ITEM_TOO_LARGE):
        # When
        code, report = _run(tmp_path, CUSTOMERS.format(name="Cy"))
    # Then: the batch reached the dead-letter queue after its retries, the report names it by its file and batch
    # number, the summary says so, and the run exits 1
    [file] = report["files"]
    assert (file["rows_accepted"], file["profile_batches"], file["profile_batches_applied"]) == (3, 1, 0)
    assert file["profile_batches_dead_lettered"] == [0]
    [dead] = report["dead_letters"]
    assert (dead["queue"], dead["messages"]) == ("ProfileBatchesDeadLetterQueue", 1)
    assert json.loads(dead["samples"][0])["source"]["key"] == "customers/customers.csv"
    assert [(batches["key"], batches["batches"]) for batches in dead["profile_batches"]] == [
        ("customers/customers.csv", [0])
    ]
    assert "FAILED:      customers/customers.csv: profile batch(es) 0 dead-lettered" in capsys.readouterr().out
    assert code == 1
