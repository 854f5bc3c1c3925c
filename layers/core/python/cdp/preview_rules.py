"""Command line: preview a candidate identity rule set against the deployed tables (reads only; prints JSON).

    python -m cdp.preview_rules candidate-rules.json   (PROFILES_TABLE, LEDGER_TABLE and AWS credentials from the
    environment)
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

from cdp import wiring
from cdp.identity.preview import preview_store
from cdp.identity.rules import IdentityRules, InvalidRules


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m cdp.preview_rules candidate-rules.json", file=sys.stderr)
        return 2
    try:
        with open(argv[0], encoding="utf-8") as rules_file:
            rules = IdentityRules.from_json_text(rules_file.read())
    except (OSError, InvalidRules) as error:
        print(f"cannot use the rules: {error}", file=sys.stderr)
        return 2
    print(json.dumps(asdict(preview_store(wiring.identity_history(), rules)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
