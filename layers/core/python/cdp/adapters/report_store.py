"""The marketing reports in the curated bucket under `reports/marketing/`: `latest.json` and `latest.html`, and a
copy of each per day (`dt=YYYY-MM-DD/`). Light (no pyarrow): the report API reads through it."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from cdp.adapters.object_store import read_small_object, write_bytes

REPORTS_PREFIX = "reports/marketing/"


class S3ReportStore:
    def __init__(self, bucket: str, prefix: str = REPORTS_PREFIX) -> None:
        self.bucket = bucket
        self.prefix = prefix

    def save(self, report: dict[str, Any], html: str, at: datetime) -> dict[str, str]:
        """The day's copies first, the latest last: a reader of `latest.json` never sees a report half written."""
        body = json.dumps(report, default=str, separators=(",", ":")).encode()
        day = f"{self.prefix}dt={at:%Y-%m-%d}/"
        keys = {"day_html": f"{day}report.html", "day_json": f"{day}report.json",
                "html": f"{self.prefix}latest.html", "json": f"{self.prefix}latest.json"}  # fmt: skip
        for name, key in keys.items():
            if name.endswith("html"):
                write_bytes(self.bucket, key, html.encode(), "text/html; charset=utf-8")
            else:
                write_bytes(self.bucket, key, body, "application/json")
        return keys

    def latest(self) -> dict[str, Any] | None:
        body = read_small_object(self.bucket, f"{self.prefix}latest.json")
        return None if body is None else json.loads(body)  # type: ignore[no-any-return]
