"""The marketing report page in a real headless Chromium: every chart draws (each SVG has a size and shapes), the
page loads nothing from anywhere (no request, so it opens offline) and logs no error.

The report holds no script; the test adds one to a copy of it, at the top of <head>, that records errors and, once
the page has loaded, writes what it measured into the page, which `chromium --dump-dom` prints.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cdp.measure.html import render
from cdp.measure.report import measure_marketing
from cdp.measure.rules import MeasurementRules

from tests.unit.measure_tables import NOW, shop

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine: apt-get install -y chromium")

PROBE = """<script>
window.__errors = [];
addEventListener("error", (e) => __errors.push(String(e.message || (e.target && (e.target.src || e.target.href)))), true);
const originalError = console.error;
console.error = (...parts) => { __errors.push(parts.join(" ")); originalError(...parts); };
addEventListener("load", () => {
  const svgs = [...document.querySelectorAll("svg")].map((svg) => {
    const box = svg.getBoundingClientRect();
    return {label: svg.getAttribute("aria-label"), width: box.width, height: box.height,
            shapes: svg.querySelectorAll("rect, circle, line, polyline").length};
  });
  const out = document.createElement("pre");
  out.id = "browser-check";
  out.textContent = JSON.stringify({svgs, errors: __errors,
                                    requests: performance.getEntriesByType("resource").map((r) => r.name)});
  document.body.appendChild(out);
});
</script>"""


def _in_browser(page: Path, profile: Path) -> tuple[dict[str, Any], str]:
    """Load the page with the probe in headless Chromium: (what the probe measured, Chromium's log)."""
    probed = page.with_name("probed.html")
    probed.write_text(page.read_text(encoding="utf-8").replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
         f"--user-data-dir={profile}", "--window-size=1200,900", "--virtual-time-budget=10000",
         "--enable-logging=stderr", "--v=0", "--dump-dom", probed.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    found = re.search(r'<pre id="browser-check">(.*?)</pre>', done.stdout, re.S)
    assert found, f"the probe did not run: {done.stderr[-2000:]}"
    return json.loads(html.unescape(found[1])), done.stderr


def test_the_report_draws_every_chart_offline_without_errors(tmp_path: Path) -> None:
    # Given the report of a synthetic shop written as one file
    report = measure_marketing(shop(), MeasurementRules(), NOW)
    page = tmp_path / "report.html"
    page.write_text(render(report), encoding="utf-8")
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', page.read_text()), "the page refers to something outside"
    # When Chromium loads it
    measured, log = _in_browser(page, tmp_path / "profile")
    # Then every section's chart is drawn: funnels (2), uplift, weekly rates, retention, sizes, RFM, satisfaction
    assert [svg["label"] for svg in measured["svgs"]] == [
        "funnel of campaign spring_sale", "funnel of journey welcome",
        "conversion rate lift against the holdout, with 95% intervals", "weekly message rates",
        "retention by monthly signup cohort", "segment sizes over time",
        "RFM migration: profiles from each segment (rows) to each segment (columns)", "NPS and CSAT by month",
    ]
    assert all(svg["width"] > 100 and svg["height"] > 50 and svg["shapes"] > 3 for svg in measured["svgs"]), measured
    # and nothing was requested, nothing failed, nothing logged as an error
    assert measured["requests"] == [] and measured["errors"] == []
    assert not [line for line in log.splitlines() if "CONSOLE" in line and "ERROR" in line.upper()]


def test_an_empty_report_says_what_is_missing_and_still_loads_cleanly(tmp_path: Path) -> None:
    # Given the report of a shop with no data at all
    report = measure_marketing(shop(customers=0), MeasurementRules(), NOW)
    page = tmp_path / "report.html"
    page.write_text(render(report), encoding="utf-8")
    # When Chromium loads it
    measured, _ = _in_browser(page, tmp_path / "profile")
    # Then no chart is drawn empty, and the page explains each missing section
    assert measured["errors"] == [] and measured["requests"] == []
    assert all(svg["width"] > 0 and svg["height"] > 0 for svg in measured["svgs"])
    assert "No messages yet" in page.read_text() and "No holdouts yet" in page.read_text()
