"""The layering holds: domain packages import no adapters, composition root, boto3 nor botocore; adapters import
no domain rules (only the capabilities' ports and the shared kernel: events, keys, errors, canonical, settings).

Every module's imports are read with `ast` (including imports inside functions), so the rule cannot be dodged by a
late import. The parametrised synthetic sources prove the check fails when a rule is broken.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from cdp_local.template import REPO_ROOT

CDP = REPO_ROOT / "layers" / "core" / "python" / "cdp"
DOMAIN = (
    "clean", "ingest", "identity", "profiles", "privacy", "records", "segments", "journeys", "messaging", "tracking",
    "predict", "measure", "campaigns",
)  # fmt: skip
FORBIDDEN_IN_DOMAIN = ("cdp.adapters", "cdp.wiring", "boto3", "botocore")
# an adapter may import `cdp.<capability>.ports` (or a `<part>_ports` module of it), nothing else there
ALLOWED_DOMAIN_MODULES_FOR_ADAPTERS = ("ports",)


def imported_names(source: str) -> set[str]:
    """Every module (and `module.name` for `from module import name`) a source imports, anywhere in it."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def violations(module: str, source: str) -> list[str]:
    """The imports of `module` (dotted name under cdp) that break the layering."""
    parts = module.split(".")
    found: set[str] = set()
    for name in imported_names(source):
        if parts[1] in DOMAIN and any(name == banned or name.startswith(banned + ".") for banned in FORBIDDEN_IN_DOMAIN):
            found.add(name)
        imported = name.split(".")
        adapter_reaching_domain = (
            parts[1] == "adapters"
            and imported[0] == "cdp"
            and len(imported) > 1
            and imported[1] in DOMAIN
            and not (len(imported) > 2 and (imported[2] in ALLOWED_DOMAIN_MODULES_FOR_ADAPTERS
                                            or imported[2].endswith("_ports")))
        )
        if adapter_reaching_domain:
            found.add(name)
    return sorted(found)


def cdp_modules() -> list[tuple[str, Path]]:
    return sorted(
        (".".join(path.relative_to(CDP.parent).with_suffix("").parts), path)
        for path in CDP.rglob("*.py")
        if len(path.relative_to(CDP).parts) > 1  # modules of a package under cdp (top-level modules are shared)
    )


@pytest.mark.parametrize(("module", "path"), cdp_modules(), ids=[module for module, _ in cdp_modules()])
def test_the_module_respects_the_layering(module: str, path: Path) -> None:
    # Given / When / Then
    assert violations(module, path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    ("module", "source", "broken"),
    [
        ("cdp.identity.resolution", "from cdp.adapters.identity_store import IdentityStore", True),
        ("cdp.privacy.erasure", "import boto3", True),
        ("cdp.ingest.pipeline", "def f():\n    from botocore.exceptions import ClientError", True),
        ("cdp.messaging.service", "from cdp import wiring", True),
        ("cdp.segments.compute", "import cdp.wiring", True),
        ("cdp.adapters.privacy_store", "from cdp.privacy.consent import newest_per_key", True),
        ("cdp.adapters.identity_store", "import cdp.identity.merge", True),
        ("cdp.adapters.privacy_store", "from cdp.privacy.ports import ConsentChange", False),
        ("cdp.adapters.profile_store", "from cdp.keys import profile_key\nfrom cdp.errors import ConcurrentChange", False),
        ("cdp.identity.merge", "from cdp.identity.ports import IdentityRepository\nfrom cdp.retry import backoff", False),
    ],
)
def test_the_check_fails_on_a_broken_rule_and_passes_a_kept_one(module: str, source: str, broken: bool) -> None:
    # Given a synthetic module source / When it is checked / Then only a broken rule is reported
    assert bool(violations(module, source)) is broken


def test_every_capability_declares_its_ports() -> None:
    # Given the capabilities that talk to storage or AWS / When their packages are listed / Then each has ports.py
    capabilities = ("ingest", "identity", "privacy", "records", "segments", "messaging", "tracking")
    assert [name for name in capabilities if not (CDP / name / "ports.py").exists()] == []


def test_only_the_composition_root_builds_adapters_in_handlers() -> None:
    # Given every handler / When their imports are read / Then none imports an adapter or boto3 (they use cdp.wiring)
    handlers = sorted((REPO_ROOT / "functions").glob("*/app.py"))
    reaching = {
        str(path.relative_to(REPO_ROOT)): sorted(
            name for name in imported_names(path.read_text(encoding="utf-8"))
            if name.startswith(("cdp.adapters", "boto3", "botocore"))
        )
        for path in handlers
    }
    assert {path: names for path, names in reaching.items() if names} == {}
