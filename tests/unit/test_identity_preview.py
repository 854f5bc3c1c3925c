"""Merge preview: a candidate rule set's merges and splits over existing data, changing nothing (moto)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cdp import wiring
from cdp.adapters.identity_store import IdentityStore
from cdp.identity.preview import preview_store
from cdp.identity.resolution import resolve_batch
from cdp.identity.rules import DEFAULT_RULES, IdentityRules
from cdp.identity.split import split_profile
from cdp.preview_rules import main

from tests.unit.identity_tables import LEDGER, PROFILES, apply_record, identity_tables, table_snapshot

START = datetime(2026, 11, 20, tzinfo=UTC)
STRICT = IdentityRules(limits={"customer_id": 1, "email": 1})


@pytest.fixture
def store() -> Iterator[IdentityStore]:
    with identity_tables() as identity_store:
        yield identity_store


def _apply(
    store: IdentityStore, key: str, identifiers: list[tuple[str, str]], minute: int, rules: IdentityRules
) -> str:
    """Resolve one event's identifiers and put its ledger record on the profile, as the profiles helper does."""
    at = START + timedelta(minutes=minute)
    profile_id = resolve_batch(store, [identifiers], key, at, rules).profile_ids[0]
    assert profile_id is not None
    apply_record("events", key, profile_id, [f"{t}#{v}" for t, v in identifiers], {"event": "Page"}, at.isoformat())
    return profile_id


def test_preview_counts_merges_and_splits_and_changes_nothing(store: IdentityStore) -> None:
    # Given, under strict rules (one email per profile), two shoppers on a shared kiosk device and a refused link
    kiosk_first = _apply(store, "e1", [("email", "a@x.io"), ("anonymous_id", "kiosk")], 1, STRICT)
    kiosk_second = _apply(store, "e2", [("phone", "+4915111111111"), ("anonymous_id", "kiosk")], 2, STRICT)
    assert kiosk_first == kiosk_second  # the kiosk merged them
    one = _apply(store, "e3", [("email", "c@x.io")], 3, STRICT)
    other = _apply(store, "e4", [("email", "d@x.io"), ("phone", "+4915122222222")], 4, STRICT)
    _apply(store, "e5", [("email", "c@x.io"), ("phone", "+4915122222222")], 5, STRICT)  # two emails: refused
    before = table_snapshot()
    # When the same rules, then rules blocking the kiosk and allowing two emails, are previewed
    same = preview_store(store, STRICT)
    candidate = IdentityRules(
        limits={"customer_id": 1, "email": 2}, blocked_values=DEFAULT_RULES.blocked_values | {"kiosk"}
    )
    changed = preview_store(store, candidate)
    # Then the current rules change nothing, the candidate splits the kiosk profile and merges the refused pair
    assert (same.profiles_now, same.profiles_after, same.merges, same.splits) == (3, 3, 0, 0)
    assert (changed.profiles_now, changed.profiles_after, changed.merges, changed.splits) == (3, 3, 1, 1)
    assert changed.merge_examples == [sorted([one, other])]
    assert changed.split_examples == [kiosk_first]
    assert changed.identifiers_dropped == 1
    # And nothing in either table changed
    assert table_snapshot() == before


def test_profiles_a_split_separated_are_not_previewed_as_merging_again(store: IdentityStore) -> None:
    # Given two people wrongly merged by an event carrying both their identifiers, then split apart
    first = _apply(store, "e1", [("email", "a@x.io")], 1, DEFAULT_RULES)
    second = _apply(store, "e2", [("phone", "+4915111111111")], 2, DEFAULT_RULES)
    _apply(store, "e3", [("email", "a@x.io"), ("phone", "+4915111111111")], 3, DEFAULT_RULES)
    split_profile(store, first, None, "admin", START + timedelta(hours=1))
    # When today's rules are previewed over that evidence
    report = preview_store(store, DEFAULT_RULES)
    # Then the linking event does not merge them again in the preview, as resolution would not
    assert (report.profiles_now, report.profiles_after, report.merges) == (2, 2, 0)
    assert {first, second} == {profile for pair in store.scan_split_pairs() for profile in pair}


def test_the_cli_previews_a_rules_file_and_refuses_a_bad_one(
    store: IdentityStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given one profile, a rules file and a malformed one
    _apply(store, "e1", [("email", "a@x.io")], 1, DEFAULT_RULES)
    monkeypatch.setenv("PROFILES_TABLE", PROFILES)
    monkeypatch.setenv("LEDGER_TABLE", LEDGER)
    wiring.reset_settings()
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps({"limits": {"email": 2}}))
    bad.write_text(json.dumps({"limits": {"email": 0}, "typo": 1}))
    # When the CLI runs on each
    codes = [main([str(good)]), main([str(bad)]), main([])]
    # Then the good file gives a JSON report, the others a usage error
    assert codes == [0, 2, 2]
    report = json.loads(capsys.readouterr().out)
    assert (report["profiles_now"], report["merges"], report["splits"]) == (1, 0, 0)
