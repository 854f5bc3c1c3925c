"""Static security checks in `make test`: bandit over the code that ships to Lambda and over the local tools, each
allowlisted finding with its reason, and checkov over the template (suppressions live in the template, each with
its reason)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cdp_local.template import REPO_ROOT

pytestmark = pytest.mark.build

BANDIT = Path(sys.executable).parent / "bandit"
# bandit test id -> why it does not apply; anything else bandit reports fails the test.
SHIPPED_ALLOWED = {
    "B101": "asserts state internal invariants, never checks of input; Lambda does not run Python with -O",
    "B311": "random only spreads retry back-off (jitter); nothing secret is drawn from it",
}
LOCAL_ALLOWED = {
    **SHIPPED_ALLOWED,
    "B105": "the demo shop's webhook secret is a published local-only fixture (events/shopify are signed with it)",
    "B106": "moto's fake credentials for the local stack and the bench, never real ones",
    "B404": "the bench runs its own interpreter with fixed arguments to measure memory and cold imports",
    "B603": "same: fixed argument lists, no shell, no user input",
    "B506": "the template loader is a yaml.SafeLoader subclass that only adds CloudFormation's tags",
}


def _bandit(paths: list[str], allowed: dict[str, str]) -> list[str]:
    result = subprocess.run(
        [str(BANDIT), "-q", "-r", *paths, "-f", "json", "--skip", ",".join(sorted(allowed))],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    report = json.loads(result.stdout)
    return [f"{i['filename']}:{i['line_number']} {i['test_id']} {i['issue_text']}" for i in report["results"]]


def test_bandit_finds_nothing_in_the_code_that_ships_to_lambda() -> None:
    assert _bandit(["layers/core/python/cdp", "functions"], SHIPPED_ALLOWED) == []


def test_bandit_finds_nothing_unexplained_in_the_local_tools() -> None:
    assert _bandit(["local/cdp_local"], LOCAL_ALLOWED) == []
