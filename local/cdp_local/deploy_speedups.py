"""Faster stand-up of the local stack, with the same deployed result.

Each stack start spent about two thirds of its CPU on work whose answer never changes between starts:
- moto's CloudFormation reads every template body with PyYAML's pure-Python loader, although the local stack always
  sends JSON (about a second for this template): a body that is JSON is read as JSON, anything else as before;
- moto's Step Functions parses each definition with its ANTLR grammar only to validate it, at every start (about
  half a second): a definition that has passed once in this process passes again without the parse, when it
  differs only in the random 12-character suffixes CloudFormation gives physical names (inside a JSON string they
  cannot change what the grammar accepts); one that fails is parsed every time, so its error is moto's;
- aws-sam-translator turns the same SAM template into the same CloudFormation at every start (a quarter of a
  second): its answer is kept, as JSON, per template and parameter values.
`tests/unit/test_deploy_speedups.py` checks that both give what moto gives.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock

from moto.cloudformation.models import Stack
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

original_parse_template = Stack.parse_template
original_validate_definition = StepFunctionsParserBackend._validate_definition
GENERATED_NAME_SUFFIX = re.compile(r'(?<=[A-Za-z0-9])-[A-Z0-9]{12}(?=")')  # cdp-local-ProfilesTable-8JTA10EF620Y"
_valid_definitions: set[str] = set()
_valid_definitions_lock = threading.Lock()
_translations: dict[str, str] = {}
_translations_lock = threading.Lock()


def parse_template(template: str) -> dict[str, Any]:
    """A JSON template body as JSON; YAML (or anything JSON cannot read) as moto reads it."""
    try:
        parsed = json.loads(template)
    except ValueError:
        return original_parse_template(template)
    return parsed if isinstance(parsed, dict) else original_parse_template(template)


def validate_definition(definition: str) -> None:
    """moto's validation of a state machine definition, once per valid definition in this process."""
    key = GENERATED_NAME_SUFFIX.sub("-", definition)
    with _valid_definitions_lock:
        if key in _valid_definitions:
            return
    original_validate_definition(definition)
    with _valid_definitions_lock:
        _valid_definitions.add(key)


def translated_once(
    translate: Callable[..., dict[str, Any]], template: dict[str, Any], parameter_values: dict[str, Any], *options: Any
) -> dict[str, Any]:
    """`translate(template, parameter_values, *options)`, computed once per template and parameter values."""
    key = json.dumps([template, parameter_values], sort_keys=True, default=str)
    with _translations_lock:
        translation = _translations.get(key)
    if translation is None:
        translation = json.dumps(translate(template, parameter_values, *options))
        with _translations_lock:
            _translations[key] = translation
    return json.loads(translation)  # type: ignore[no-any-return]


@contextmanager
def faster_deploy() -> Iterator[None]:
    """Patch moto's template reading and definition validation for the duration (local stack only)."""
    with ExitStack() as patches:
        patches.enter_context(mock.patch.object(Stack, "parse_template", staticmethod(parse_template)))
        patches.enter_context(
            mock.patch.object(StepFunctionsParserBackend, "_validate_definition", staticmethod(validate_definition))
        )
        yield
