"""Reads template.yaml with CloudFormation's short-form tags, and answers questions about its resources."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"


class _CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that turns `!Ref X` / `!GetAtt X.Y` / `!Sub ...` into their long forms."""


def _construct_intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CloudFormationLoader.add_multi_constructor("!", _construct_intrinsic)


def parse_template(text: str) -> dict[str, Any]:
    """Parse CloudFormation/SAM YAML text into plain dicts with long-form intrinsics."""
    return yaml.load(text, Loader=_CloudFormationLoader)  # noqa: S506 - SafeLoader subclass


@lru_cache(maxsize=4)
def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The parsed template (cached: it is the single source of truth and does not change while running)."""
    return parse_template(path.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class FunctionSpec:
    """Where a template function's code lives and how its handler is named."""

    logical_id: str
    code_dir: Path
    handler: str

    @property
    def module_file(self) -> Path:
        module, _ = self.handler.rsplit(".", 1)
        return self.code_dir / (module.replace(".", "/") + ".py")

    @property
    def function_attribute(self) -> str:
        return self.handler.rsplit(".", 1)[1]


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    """Resources of one type, by logical id."""
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    }


def function_specs(template: dict[str, Any], root: Path = REPO_ROOT) -> dict[str, FunctionSpec]:
    """Every AWS::Serverless::Function's code location and handler, by logical id."""
    return {
        logical_id: FunctionSpec(
            logical_id=logical_id,
            code_dir=root / resource["Properties"]["CodeUri"],
            handler=resource["Properties"]["Handler"],
        )
        for logical_id, resource in resources_of_type(template, "AWS::Serverless::Function").items()
    }


def function_events(template: dict[str, Any], event_type: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(function logical id, event name, event properties) for every function event of one SAM type."""
    return [
        (logical_id, event_name, event.get("Properties", {}))
        for logical_id, resource in resources_of_type(template, "AWS::Serverless::Function").items()
        for event_name, event in resource["Properties"].get("Events", {}).items()
        if event["Type"] == event_type
    ]
