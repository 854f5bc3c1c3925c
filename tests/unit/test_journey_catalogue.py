"""Every journey is complete: its ASL, diagram in docs/journeys.md and template state machine are generated from its definition
and up to date, the router's rule hears every event it starts or stops on, and the tracking events are spec names."""

from __future__ import annotations

import json
import re
from typing import Any

from cdp.journeys.compiler import substitutions
from cdp.journeys.definition import TRACKING_SOURCE, shipped_definitions
from cdp.messaging.templates import shipped_templates
from cdp.segments.vocabulary import ECOMMERCE_EVENTS
from cdp_local.journeys_build import (
    JOURNEYS_DOC,
    TEMPLATE,
    doc_with_diagrams,
    resource_name,
    state_machine_files,
    template_with_resources,
)
from cdp_local.template import REPO_ROOT, load_template
from moto.events.models import EventPattern

SHOPIFY_CHECKOUT = "Checkout Updated"  # cdp.tracking.shopify publishes Shopify checkouts/update under this name


def test_generated_files_are_up_to_date() -> None:
    # When the definitions are compiled again
    stale = [path for path, text in state_machine_files().items() if (REPO_ROOT / path).read_text() != text]
    # Then nothing differs from what is committed (run `make journeys` after changing a definition)
    assert stale == []
    assert JOURNEYS_DOC.read_text() == doc_with_diagrams(JOURNEYS_DOC.read_text())
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
            detail = {"profile_id": "p1", **{field: values[-1] for field, values in match.detail.items()}}
            assert _passes(rule, match.source, match.event, detail), (name, match)


def test_the_router_rule_lets_through_only_events_some_journey_starts_or_stops_on() -> None:
    # Given the router's rule and bus events of every type journeys know, with detail values they name and others
    rule = load_template()["Resources"]["RouteJourneyEventsFunction"]["Properties"]["Events"]["JourneyEvents"]
    definitions = shipped_definitions().values()
    segments = {v for d in definitions for m in d.events() for v in m.detail.get("segment", [])} | {"vip", "churned"}
    details = [{}, *({"segment": segment} for segment in sorted(segments)), {"backfill": True}, {"backfill": False},
               {"direction": "up"}, {"direction": "down"}]  # fmt: skip
    types = {(m.source, m.event) for d in definitions for m in d.events()} | {("cdp.tracking", "Page Viewed")}
    for source, event in sorted(types):
        for detail in details:
            # Then an event passes exactly when some journey's trigger, goal or exit matches it
            wanted = any(m.matches(source, event, detail) for d in definitions for m in d.events())
            assert _passes(rule["Properties"]["Pattern"], source, event, detail) == wanted, (source, event, detail)


def _passes(pattern: dict[str, Any], source: str, detail_type: str, detail: dict[str, Any]) -> bool:
    """Whether EventBridge's matching (moto's, as the local stack runs it) lets this event through the pattern."""
    event = {"version": "0", "id": "e1", "source": source, "detail-type": detail_type, "account": "123456789012",
             "time": "2026-12-05T00:00:00Z", "region": "eu-west-1", "resources": [], "detail": detail}  # fmt: skip
    return bool(EventPattern(json.dumps(pattern), pattern).matches_event(event))


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
