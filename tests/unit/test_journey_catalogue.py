"""Every journey is complete: its ASL, README diagram and template state machine are generated from its definition
and up to date, the router's rule hears every event it starts or stops on, and the tracking events are spec names."""

from __future__ import annotations

import json
import re

from cdp.journeys.compiler import substitutions
from cdp.journeys.definition import TRACKING_SOURCE, shipped_definitions
from cdp.messaging.templates import shipped_templates
from cdp.segments.vocabulary import ECOMMERCE_EVENTS
from cdp_local.journeys_build import (
    README,
    TEMPLATE,
    readme_with_diagrams,
    resource_name,
    state_machine_files,
    template_with_resources,
)
from cdp_local.template import REPO_ROOT, load_template

SHOPIFY_CHECKOUT = "Checkout Updated"  # cdp.tracking.shopify publishes Shopify checkouts/update under this name


def test_generated_files_are_up_to_date() -> None:
    # When the definitions are compiled again
    stale = [path for path, text in state_machine_files().items() if (REPO_ROOT / path).read_text() != text]
    # Then nothing differs from what is committed (run `make journeys` after changing a definition)
    assert stale == []
    assert README.read_text() == readme_with_diagrams(README.read_text())
    assert TEMPLATE.read_text() == template_with_resources(TEMPLATE.read_text())


def test_every_journey_has_its_state_machine_and_its_events_reach_the_router() -> None:
    # Given the template
    resources = load_template()["Resources"]
    rule = resources["RouteJourneyEventsFunction"]["Properties"]["Events"]["JourneyEvents"]["Properties"]["Pattern"]
    for name, definition in shipped_definitions().items():
        # Then each journey's state machine is named for the router and substitutes all its placeholders
        machine = resources[resource_name(name)]["Properties"]
        assert machine["DefinitionUri"] == f"statemachines/{name}.asl.json"
        assert machine["Name"] == {"Fn::Sub": f"${{AWS::StackName}}-journey-{name}"}
        placeholders = set(re.findall(r"\$\{(\w+)\}", (REPO_ROOT / machine["DefinitionUri"]).read_text()))
        assert placeholders == set(machine["DefinitionSubstitutions"]) == set(substitutions(definition))
        # And every event it starts or stops on passes the router's rule
        for match in definition.events():
            assert match.source in rule["source"] and match.event in rule["detail-type"], (name, match)


def test_tracking_events_are_segment_ecommerce_spec_names() -> None:
    events = {m.event for d in shipped_definitions().values() for m in d.events() if m.source == TRACKING_SOURCE}
    assert events - ECOMMERCE_EVENTS <= {SHOPIFY_CHECKOUT}, events - ECOMMERCE_EVENTS


def test_the_asl_files_are_json_with_a_retry_and_catch_on_every_lambda_task() -> None:
    for path in state_machine_files():
        states = json.loads((REPO_ROOT / path).read_text())["States"]
        for state in states.values():
            if state.get("Resource") == "arn:aws:states:::lambda:invoke":
                assert state["Retry"] and state["Catch"], path


def test_every_send_names_a_shipped_template_of_its_channel_and_purpose() -> None:
    templates = shipped_templates()
    for definition in shipped_definitions().values():
        for step in definition.send_steps():
            for name in [step.template] if isinstance(step.template, str) else step.template.values():
                assert name in templates, (definition.name, step.name, name)
                assert (templates[name].channel, templates[name].purpose) == (step.channel, step.purpose), (definition.name, step.name)
