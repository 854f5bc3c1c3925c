"""The latest marketing report for the API (light: no pyarrow)."""

from __future__ import annotations

from typing import Any

from cdp.errors import NotFound
from cdp.measure.ports import ReportStore


class NoReportYet(NotFound):
    """The scheduled measurement has not written a report yet."""


def latest_report(store: ReportStore) -> dict[str, Any]:
    report = store.latest()
    if report is None:
        raise NoReportYet("no report yet: the scheduled measurement writes the first one on its next run")
    return report
