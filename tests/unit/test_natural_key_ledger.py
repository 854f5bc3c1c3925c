"""The natural-key ledger against moto: claims without reading first, races, retries, expiry, re-drops, and the
request counts the file report carries."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from cdp.adapters.clients import client
from cdp.adapters.natural_key_ledger import FirstSeen, NaturalKeyLedger

from tests.unit.identity_tables import LEDGER, identity_tables, run_at_once

NOW = datetime(2026, 11, 23, 10, tzinfo=UTC)
RETENTION = timedelta(days=400)
A = FirstSeen("file-a", "orders/a.csv", "va", 0)
B = FirstSeen("file-b", "orders/b.csv", "vb", 0)


@pytest.fixture(autouse=True)
def _tables() -> Iterator[None]:
    with identity_tables():
        yield


@contextmanager
def requests_sent() -> Iterator[Counter[str]]:
    """The DynamoDB operations the shared client sends inside the block, by name."""
    sent: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        sent[model.name] += 1

    client("dynamodb").meta.events.register("before-call.dynamodb", count)
    try:
        yield sent
    finally:
        client("dynamodb").meta.events.unregister("before-call.dynamodb", count)


def _ledger(owner: FirstSeen, at: datetime = NOW) -> NaturalKeyLedger:
    return NaturalKeyLedger(LEDGER, "orders", owner, at, RETENTION)


def _keys(count: int, first: int = 0) -> list[str]:
    return [f"O{n:06d}#1" for n in range(first, first + count)]


def _item(key: str) -> dict[str, Any] | None:
    return boto3.client("dynamodb").get_item(  # type: ignore[no-any-return]
        TableName=LEDGER, Key={"pk": {"S": f"NATURALKEY#orders#{key}"}, "sk": {"S": "NATURALKEY"}}
    ).get("Item")


def test_a_file_of_new_keys_is_claimed_in_one_transaction_per_100_rows_without_reads() -> None:
    # Given: 250 keys nobody has claimed
    ledger = _ledger(A)
    # When
    with requests_sent() as sent:
        duplicates = ledger.claim(_keys(250), list(range(2, 252)))
    # Then: three transactions and the file's own item, no read; the counters say so; each claim is two attributes
    assert duplicates == {}
    assert sent == Counter({"TransactWriteItems": 3, "PutItem": 1})
    assert (ledger.read_requests, ledger.write_requests) == (0, 4)
    item = _item("O000007#1")
    assert item is not None and set(item) == {"pk", "sk", "claim", "expires_at"}
    assert item["claim"] == {"S": "file-a#9"}


def test_keys_another_file_claimed_are_its_duplicates_named_by_its_source() -> None:
    # Given: file A claimed 50 keys, 30 of which are among the 150 file B brings
    assert _ledger(A).claim(_keys(50, first=120), list(range(2, 52))) == {}
    ledger = _ledger(B)
    # When
    with requests_sent() as sent:
        duplicates = ledger.claim(_keys(150), list(range(10, 160)))
    # Then: A's rows (at A's lines, from A's object) are B's duplicates; the first chunk went through at once, the
    # second was cancelled by A's keys and put again without them; one read named A's object
    assert duplicates == {index: FirstSeen("file-a", "orders/a.csv", "va", index - 118) for index in range(120, 150)}
    assert sent == Counter({"PutItem": 1, "TransactWriteItems": 3, "BatchGetItem": 1})
    assert (ledger.read_requests, ledger.write_requests) == (1, 4)
    assert _item("O000130#1")["claim"] == {"S": "file-a#12"}  # type: ignore[index]
    assert _item("O000110#1")["claim"] == {"S": "file-b#120"}  # type: ignore[index]


def test_two_files_claiming_the_same_keys_at_once_each_own_the_keys_the_other_reports_as_duplicates() -> None:
    # Given: two files whose 300 keys overlap on 200
    keys_a, keys_b = _keys(300), _keys(300, first=100)
    # When: both claim at the same moment (transactions atomic, as DynamoDB runs them)
    results, errors = run_at_once(
        lambda: ("a", _ledger(A).claim(keys_a, list(range(300)))),
        lambda: ("b", _ledger(B).claim(keys_b, list(range(300)))),
    )
    # Then: every shared key belongs to exactly one file, and it is the other file's duplicate
    assert errors == []
    found = dict(results)
    lost_by_a = {keys_a[index] for index in found["a"]}
    lost_by_b = {keys_b[index] for index in found["b"]}
    assert lost_by_a.isdisjoint(lost_by_b) and lost_by_a | lost_by_b == set(_keys(200, first=100))
    for key in lost_by_a:
        assert _item(key)["claim"]["S"].startswith("file-b#")  # type: ignore[index]
    for key in lost_by_b:
        assert _item(key)["claim"]["S"].startswith("file-a#")  # type: ignore[index]
    assert {seen.file_id for seen in found["a"].values()} <= {"file-b"}


def test_a_key_claimed_between_a_read_and_the_write_is_a_duplicate_of_the_winner(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given: file B reads first (its previous batch was a re-drop) but saw nothing; A claims O1 before B writes
    ledger = _ledger(B)
    ledger.reads_first = True
    real_read = NaturalKeyLedger._read

    def read_then_lose_the_race(self: NaturalKeyLedger, keys: list[str]) -> dict[str, Any]:
        found = real_read(self, keys)
        assert _ledger(A).claim(["O1#1"], [2]) == {}
        return found

    monkeypatch.setattr(NaturalKeyLedger, "_read", read_then_lose_the_race)
    # When
    duplicates = ledger.claim(["O0#1", "O1#1", "O2#1"], [2, 3, 4])
    # Then: the lost race is reported with the winner; the other keys are B's
    assert duplicates == {1: FirstSeen("file-a", "orders/a.csv", "va", 2)}
    assert _item("O0#1")["claim"] == {"S": "file-b#2"}  # type: ignore[index]


def test_a_retry_of_the_same_file_duplicates_none_of_its_rows_but_a_key_on_another_line_is_in_file() -> None:
    # Given: file A claimed three keys, then crashed
    assert _ledger(A).claim(_keys(3), [2, 3, 4]) == {}
    # When: the retry claims the same rows again, plus one of the keys on a later line
    retry = _ledger(A, NOW + timedelta(minutes=5))
    again = retry.claim(_keys(3), [2, 3, 4])
    later = retry.claim(["O000001#1"], [90])
    # Then: the retried rows are A's own; the later line is a duplicate of A's line 3
    assert again == {}
    assert later == {0: FirstSeen("file-a", "orders/a.csv", "va", 3)}


@pytest.mark.parametrize("reads_first", [False, True])
@pytest.mark.parametrize(("later", "duplicate"), [(timedelta(days=399), True), (timedelta(days=401), False)])
def test_an_expired_claim_counts_as_absent(reads_first: bool, later: timedelta, duplicate: bool) -> None:
    # Given: A claimed O1 (its item not swept by TTL yet)
    assert _ledger(A).claim(["O1#1"], [2]) == {}
    ledger = _ledger(B, NOW + later)
    ledger.reads_first = reads_first
    # When
    found = ledger.claim(["O1#1"], [5])
    # Then: within the retention it is A's duplicate; after it, B's row, now remembered from B
    assert found == ({0: FirstSeen("file-a", "orders/a.csv", "va", 2)} if duplicate else {})
    assert _item("O1#1")["claim"] == {"S": "file-a#2" if duplicate else "file-b#5"}  # type: ignore[index]


def test_a_re_drop_of_a_fully_seen_file_reads_after_its_first_100_keys() -> None:
    # Given: file A's 1,000 keys, claimed in four batches of 250
    batches = [(_keys(250, first=start), list(range(start, start + 250))) for start in range(0, 1000, 250)]
    first = _ledger(A)
    for keys, lines in batches:
        assert first.claim(keys, lines) == {}
    # When: the same rows come back under another file id
    again = _ledger(B)
    with requests_sent() as sent:
        found = [again.claim(keys, lines) for keys, lines in batches]
    # Then: every row is A's duplicate; the first 100 keys cost one cancelled transaction, every other key one read
    # per 100 and no write (2 + 3 + 3 + 3 reads); one read per batch named A's object
    assert [len(duplicates) for duplicates in found] == [250] * 4
    assert found[3][0] == FirstSeen("file-a", "orders/a.csv", "va", 750)
    assert sent == Counter({"PutItem": 1, "TransactWriteItems": 1, "BatchGetItem": 11 + 4})
    assert (again.read_requests, again.write_requests) == (15, 2)


def test_a_mostly_new_batch_after_a_re_drop_goes_back_to_writing_first() -> None:
    # Given: a ledger that read first because its previous batch was all duplicates
    assert _ledger(A).claim(_keys(100), list(range(100))) == {}
    ledger = _ledger(B)
    assert len(ledger.claim(_keys(100), list(range(100)))) == 100 and ledger.reads_first
    # When: its next batch is new keys
    assert ledger.claim(_keys(100, first=500), list(range(100, 200))) == {}
    # Then: the one after is claimed without reading
    with requests_sent() as sent:
        ledger.claim(_keys(100, first=600), list(range(200, 300)))
    assert sent == Counter({"TransactWriteItems": 1})


def test_claims_in_the_layout_before_the_claim_attribute_are_read_alike() -> None:
    # Given: an item as the ledger wrote them before (file_id, source, line), for A's row at line 7
    boto3.client("dynamodb").put_item(TableName=LEDGER, Item={
        "pk": {"S": "NATURALKEY#orders#O1#1"}, "sk": {"S": "NATURALKEY"}, "file_id": {"S": "file-a"},
        "source_key": {"S": "orders/a.csv"}, "source_version": {"S": "va"}, "line": {"N": "7"},
        "expires_at": {"N": str(int((NOW + RETENTION).timestamp()))}})  # fmt: skip
    # When: B brings the key, and A's retry brings the same row
    from_b = _ledger(B).claim(["O1#1"], [3])
    from_a = _ledger(A).claim(["O1#1"], [7])
    # Then: B's row is A's duplicate; A's own row is not a duplicate of itself
    assert from_b == {0: FirstSeen("file-a", "orders/a.csv", "va", 7)}
    assert from_a == {}
