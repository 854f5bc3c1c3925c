"""The dependency advisory summary: a vulnerable pin fails, an unchecked pin is reported, never counted clean."""

from __future__ import annotations

from cdp_local.audit import summary


def test_vulnerable_checked_and_unchecked_pins_are_told_apart() -> None:
    # Given pip-audit's JSON for one vulnerable, one clean and one unreachable pin
    report = {
        "dependencies": [
            {"name": "jinja2", "version": "2.10", "vulns": [{"id": "PYSEC-2019-217"}, {"id": "GHSA-462w-v97r-4m45"}]},
            {"name": "pydantic", "version": "2.13.5", "vulns": []},
            {"name": "boto3", "skip_reason": "Dependency not found on PyPI and could not be audited: boto3 (1.44.0)"},
        ],
        "fixes": [],
    }
    # When
    result = summary(report)
    # Then
    assert result["vulnerable"] == {"jinja2": ["PYSEC-2019-217", "GHSA-462w-v97r-4m45"]}
    assert (result["checked"], result["not_checked"], result["not_checked_names"]) == (2, 1, ["boto3"])
