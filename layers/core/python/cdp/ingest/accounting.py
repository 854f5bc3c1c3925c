"""The row accounting of one file (or one byte range of it): rows_in == rows_accepted + rows_quarantined."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from typing import Any

SUMMED = (
    "rows_in",
    "rows_accepted",
    "rows_quarantined",
    "batches",
    "profile_batches",
    "natural_key_read_requests",
    "natural_key_write_requests",
)


@dataclass
class FileReport:
    """What happened to one object version (or to one range of it, when a large file is split)."""

    key: str
    entity: str | None
    version: str = ""
    file_id: str = ""
    rows_in: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    file_error: str | None = None
    file_error_detail: str | None = None  # e.g. where a truncated gzip stream ends (bytes decompressed)
    unread_from_line: int | None = None  # a whole-file fault stopped reading here; that rest is in files/
    batches: int = 0
    profile_batches: int = 0  # batches of accepted rows queued for profiles (see cdp.ingest.queued_batches)
    natural_key_read_requests: int = 0
    natural_key_write_requests: int = 0
    ranges: int = 1
    large_file_execution: str | None = None
    duplicate_delivery: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> FileReport:
        names = {item.name for item in fields(cls)}
        return cls(**{name: value for name, value in values.items() if name in names})

    def count_quarantined(self, reasons: Counter[str]) -> None:
        total = sum(reasons.values())
        self.rows_in += total
        self.rows_quarantined += total
        self.quarantine_reasons = dict(Counter(self.quarantine_reasons) + reasons)

    def add(self, other: FileReport) -> None:
        """Add another range's figures to this one (the first file error wins)."""
        for name in SUMMED:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.quarantine_reasons = dict(Counter(self.quarantine_reasons) + Counter(other.quarantine_reasons))
        if self.file_error is None and other.file_error is not None:
            self.file_error, self.file_error_detail = other.file_error, other.file_error_detail
            self.unread_from_line = other.unread_from_line

    def check(self) -> None:
        if self.rows_in != self.rows_accepted + self.rows_quarantined:
            raise AssertionError(f"row accounting broken for {self.key}: {self.as_dict()}")
