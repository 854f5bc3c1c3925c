"""The local stack's faster stand-up reads templates, validates definitions and translates SAM as moto and
aws-sam-translator do without it."""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

import pytest
from cdp_local import deploy_speedups
from cdp_local.deploy_speedups import parse_template, translated_once, validate_definition
from cdp_local.template import REPO_ROOT, load_template
from moto.stepfunctions.parser.api import InvalidDefinition

SUFFIX_A, SUFFIX_B = "8JTA10EF620Y", "Q196NMDD28EW"


def _definition(suffix: str, task_type: str = "Task") -> str:
    """A one-task definition naming a function as CloudFormation names it, with a given random suffix."""
    arn = f"arn:aws:lambda:eu-west-1:123456789012:function:cdp-local-SendMessageFunction-{suffix}"
    return json.dumps({"StartAt": "Send", "States": {
        "Send": {"Type": task_type, "Resource": "arn:aws:states:::lambda:invoke",
                 "Parameters": {"FunctionName": arn, "Payload.$": "$"}, "Next": "Done"},
        "Done": {"Type": "Succeed"}}})  # fmt: skip


def test_a_json_template_body_reads_as_moto_reads_it_and_yaml_still_goes_to_moto() -> None:
    # Given the template as the local stack sends it (JSON), and a YAML body
    body = json.dumps(load_template())
    yaml_body = "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n    Properties: {DelaySeconds: 5}\n"
    # Then: the same dictionaries as moto's own reading
    assert parse_template(body) == deploy_speedups.original_parse_template(body)
    assert parse_template(yaml_body) == deploy_speedups.original_parse_template(yaml_body)
    assert parse_template(yaml_body)["Resources"]["Queue"]["Properties"] == {"DelaySeconds": 5}


def test_a_definition_valid_once_is_not_parsed_again_for_other_generated_names_but_an_invalid_one_always_is() -> None:
    with mock.patch.object(deploy_speedups, "original_validate_definition",
                           wraps=deploy_speedups.original_validate_definition) as parsed:  # fmt: skip
        # When the same definition comes with two stacks' generated names
        validate_definition(_definition(SUFFIX_A))
        validate_definition(_definition(SUFFIX_B))
        # Then it was parsed at most once (none if an earlier test of this process validated it)
        assert parsed.call_count <= 1
        # And a definition with a state of no known type fails each time, with moto's error
        for _ in range(2):
            with pytest.raises(InvalidDefinition):
                validate_definition(_definition(SUFFIX_A, task_type="Teleport"))
        assert parsed.call_count >= 2


@pytest.mark.parametrize("machine", sorted(path.name for path in (REPO_ROOT / "statemachines").glob("*.asl.json")))
def test_every_state_machine_of_the_repository_is_valid_for_moto_with_and_without_the_kept_answer(machine: str) -> None:
    definition = (REPO_ROOT / "statemachines" / machine).read_text()
    deploy_speedups.original_validate_definition(definition)
    validate_definition(definition)


def test_a_translation_is_kept_per_template_and_parameters_and_each_caller_gets_its_own_copy() -> None:
    calls: list[dict[str, Any]] = []

    def translate(template: dict[str, Any], parameters: dict[str, Any], option: str) -> dict[str, Any]:
        calls.append(parameters)
        return {"Resources": {name: {"Type": kind, "Option": option} for name, kind in template.items()},
                "Parameters": dict(parameters)}  # fmt: skip

    # When the same template is translated twice with the same parameters, then with others
    first = translated_once(translate, {"Queue": "AWS::SQS::Queue"}, {"Size": 1}, "x")
    first["Resources"]["Queue"]["Type"] = "changed by its caller"
    second = translated_once(translate, {"Queue": "AWS::SQS::Queue"}, {"Size": 1}, "x")
    third = translated_once(translate, {"Queue": "AWS::SQS::Queue"}, {"Size": 2}, "x")
    # Then the translator ran once per distinct input, and each answer is the translator's
    assert calls == [{"Size": 1}, {"Size": 2}]
    assert second == {"Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Option": "x"}}, "Parameters": {"Size": 1}}
    assert third["Parameters"] == {"Size": 2}
