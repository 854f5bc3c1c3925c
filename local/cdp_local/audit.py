"""Checks the pinned dependencies against the known advisories, offline-first: every pin is either checked
(clean or vulnerable) or reported "not checked" with the reason, never silently taken as clean.

The pins are what the development venv really holds (`pip freeze`) plus the Lambda layers' requirements. pip-audit
asks PyPI's per-release JSON API for advisories; where that cannot be reached (no network, or a registry mirror that
serves only the package index) each pin is reported not checked. Exit status 1 only for a known vulnerability.
"""

from __future__ import annotations

import argparse
import json
import subprocess  # nosec B404: runs pip and pip-audit from the project's own venvs, no shell
import sys
import tempfile
from pathlib import Path
from typing import Any

from cdp_local.template import REPO_ROOT

LAYER_REQUIREMENTS = sorted((REPO_ROOT / "layers").glob("*/requirements.txt"))


def pinned_requirements(venv_python: Path) -> list[str]:
    """`name==version` of every installed distribution of the venv and every layer pin, sorted and deduplicated."""
    frozen = subprocess.run(  # nosec B603: fixed arguments
        [str(venv_python), "-m", "pip", "freeze", "--exclude-editable", "--disable-pip-version-check"],
        check=True, capture_output=True, text=True,
    ).stdout.splitlines()  # fmt: skip
    layer_pins = [line for path in LAYER_REQUIREMENTS for line in path.read_text().splitlines()]
    pins = {line.strip() for line in [*frozen, *layer_pins] if "==" in line and not line.lstrip().startswith("#")}
    return sorted(pins, key=str.lower)


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """Counts and names from pip-audit's JSON: vulnerable (with advisory ids), checked clean, not checked."""
    vulnerable = {d["name"]: [v["id"] for v in d["vulns"]] for d in report["dependencies"] if d.get("vulns")}
    not_checked = sorted(d["name"] for d in report["dependencies"] if "skip_reason" in d)
    checked = len(report["dependencies"]) - len(not_checked)
    return {"checked": checked, "not_checked": len(not_checked), "vulnerable": vulnerable,
            "not_checked_names": not_checked}  # fmt: skip


def audit(pip_audit: Path, pins: list[str], timeout_seconds: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as requirements:
        requirements.write("\n".join(pins) + "\n")
        requirements.flush()
        completed = subprocess.run(  # nosec B603: fixed arguments
            [str(pip_audit), "--no-deps", "--disable-pip", "--format", "json", "--timeout", str(timeout_seconds),
             "--requirement", requirements.name],
            capture_output=True, text=True,
        )  # fmt: skip
    try:
        return summary(json.loads(completed.stdout))
    except (json.JSONDecodeError, KeyError):
        reason = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        return {"checked": 0, "not_checked": len(pins), "vulnerable": {}, "not_checked_names": [], "error": reason}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv-python", type=Path, default=REPO_ROOT / ".venv/bin/python")
    parser.add_argument("--pip-audit", type=Path, default=REPO_ROOT / ".venv-audit/bin/pip-audit")
    parser.add_argument("--timeout", type=int, default=10)
    args = parser.parse_args(argv)
    result = audit(args.pip_audit, pinned_requirements(args.venv_python), args.timeout)
    print(
        f"dependency advisories: {len(result['vulnerable'])} vulnerable, {result['checked']} checked clean, "
        f"{result['not_checked']} NOT checked" + (" (advisory service unreachable)" if result["not_checked"] else "")
    )
    for name, advisories in sorted(result["vulnerable"].items()):
        print(f"  {name}: {', '.join(advisories)}")
    return 1 if result["vulnerable"] else 0


if __name__ == "__main__":
    sys.exit(main())
