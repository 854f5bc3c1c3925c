"""Delivering an audience export: inline up to the limit, stored and linked above it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cdp.segments.audience import AudienceExport, AudienceLink, deliver_audience

NOW = datetime(2026, 12, 3, 18, 0, 5, 123456, tzinfo=UTC)
EXPORT = AudienceExport(segment="high_value", run_id="run-7", members=3, exported=2, emails=2, phones=1,
                        left_out_erased=1, left_out_without_consent=0,
                        contacts_csv=b"profile_id,email,phone\np1,a@b.c,\n",
                        hashed_csv=b"email_sha256,phone_sha256\n")  # fmt: skip


class StoredFiles:
    def __init__(self) -> None:
        self.stored: dict[str, tuple[bytes, str, timedelta]] = {}

    def publish(self, key: str, body: bytes, content_type: str, lifetime: timedelta) -> str:
        self.stored[key] = (body, content_type, lifetime)
        return f"https://exports.example/{key}?signature=x"


@pytest.mark.parametrize(("chosen", "body"), [("csv", EXPORT.contacts_csv), ("sha256", EXPORT.hashed_csv)])
def test_an_export_up_to_the_limit_is_answered_inline_and_stores_nothing(chosen: str, body: bytes) -> None:
    # Given
    files = StoredFiles()

    # When: the limit is exactly the body's size
    delivered = deliver_audience(EXPORT, chosen, files, len(body), timedelta(minutes=15), NOW)

    # Then
    assert delivered == body and files.stored == {}


def test_an_export_over_the_limit_is_stored_and_linked_until_the_lifetime_ends() -> None:
    # Given
    files = StoredFiles()

    # When: one byte over the limit
    delivered = deliver_audience(EXPORT, "csv", files, len(EXPORT.contacts_csv) - 1, timedelta(minutes=15), NOW)

    # Then
    key = "audiences/high_value/run-7/csv-20261203T180005123456Z.csv"
    assert delivered == AudienceLink(url=f"https://exports.example/{key}?signature=x",
                                     expires_at=NOW + timedelta(minutes=15), key=key,
                                     size_bytes=len(EXPORT.contacts_csv))  # fmt: skip
    assert files.stored == {key: (EXPORT.contacts_csv, "text/csv", timedelta(minutes=15))}
