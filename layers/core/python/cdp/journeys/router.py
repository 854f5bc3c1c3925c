"""Routes a bus event to the journeys: stops the runs it is a goal or exit of, and enters the journeys it triggers.

Entering writes the profile's entry record first, with a conditional write (`JourneyEntries.enter`): one active run
per profile and journey, and the re-entry rule. The execution's name is derived from the profile, the journey and
the entry window (the rule's period, or the triggering event for `every_time`), and the record keeps the
triggering event's id, so a retried delivery of the same event passes the condition again and starts the same
execution (a name already started is no error), while any other event is refused. The A/B variant or the holdout
(`cdp.messaging.assignment.assign`) is recorded as an `assigned`/`holdout` message event; a holdout entry keeps its
record (re-entry rules apply alike) but starts no execution, so it is never messaged and costs no transition.

Everything a run needs is computed here, once: each send step's MessageRequest (the variant's template, guards,
expiry from the entry time and the waits before it, the trigger's context) and each wait's seconds (the
deployment's overrides first), so the state machine only waits, sends and branches (`cdp.journeys.compiler`).
Stopping reads the entry record and stops the run it names, within seconds of the goal event.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cdp.journeys.definition import (
    ENTRY_DATE,
    JourneyDefinition,
    SendStep,
    WaitStep,
    seconds_of,
)
from cdp.journeys.ports import EntryCondition, JourneyEntries, JourneyRuns, ReadProfile
from cdp.messaging.assignment import HOLDOUT, assign
from cdp.messaging.ports import MessageEvents
from cdp.messaging.requests import MessageRequest

ENTRY_STEP = "entry"


@dataclass(frozen=True)
class BusEvent:
    """An EventBridge event as the router reads it."""

    id: str
    source: str
    detail_type: str
    detail: dict[str, Any]

    @classmethod
    def of(cls, event: dict[str, Any]) -> BusEvent:
        detail = event.get("detail")
        return cls(str(event.get("id", "")), str(event.get("source", "")), str(event.get("detail-type", "")),
                   detail if isinstance(detail, dict) else {})  # fmt: skip

    @property
    def profile_id(self) -> str | None:
        value = self.detail.get("profile_id")
        return value if isinstance(value, str) and 0 < len(value) <= 64 else None


@dataclass(frozen=True)
class RouterParts:
    """The router's collaborators and the deployment's wait overrides (`<journey>.<step>` -> seconds)."""

    entries: JourneyEntries
    runs: JourneyRuns
    message_events: MessageEvents
    read_profile: ReadProfile
    wait_overrides: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Routed:
    """What the event did to one journey: `started`, `holdout`, `refused:<why>`, `stopped:<goal|exit>`."""

    journey: str
    outcome: str
    execution_name: str | None = None


def route_event(
    event: BusEvent, definitions: dict[str, JourneyDefinition], parts: RouterParts, now: datetime
) -> list[Routed]:
    """Stops first (an order ends the cart run), then entries (the same order starts the post-purchase run)."""
    profile_id = event.profile_id
    if profile_id is None:
        return []
    routed: list[Routed] = []
    for definition in definitions.values():
        for outcome, matches in (("goal", definition.goal), ("exit", definition.exit)):
            if any(match.matches(event.source, event.detail_type, event.detail) for match in matches):
                if stopped := _stop(definition, profile_id, outcome, event, parts, now):
                    routed.append(stopped)
                break
    for definition in definitions.values():
        if any(match.matches(event.source, event.detail_type, event.detail) for match in definition.trigger):
            routed.append(_enter(definition, profile_id, event, parts, now))
    return routed


def execution_name(definition: JourneyDefinition, profile_id: str, event_id: str, now: datetime) -> str:
    """`<journey>-<profile digest>-<entry window>`: at most 80 characters, no personal data."""
    profile_digest = hashlib.sha256(profile_id.encode()).hexdigest()[:16]
    rule = definition.reentry
    if rule.rule == "once_ever":
        window = "once"
    elif rule.rule == "once_per_days":
        assert rule.days is not None
        window = f"w{int(now.timestamp()) // (rule.days * 86400)}"
    else:
        window = "e" + hashlib.sha256(event_id.encode()).hexdigest()[:16]
    return f"{definition.name}-{profile_digest}-{window}"


def _reentry_after(definition: JourneyDefinition, now: datetime) -> datetime | None:
    rule = definition.reentry
    if rule.rule == "once_ever":
        return None
    return now - timedelta(days=rule.days or 0)


def _enter(
    definition: JourneyDefinition, profile_id: str, event: BusEvent, parts: RouterParts, now: datetime
) -> Routed:
    profile = parts.read_profile(profile_id)
    if profile is None:
        return Routed(definition.name, "refused:profile_not_found")
    variant = assign(profile_id, definition.name, definition.experiment.holdout_percent, definition.experiment.variants)
    name = execution_name(definition, profile_id, event.id, now)
    entry = {
        "profile_id": profile_id,
        "journey": definition.name,
        "execution_name": name,
        "trigger_id": event.id,
        "variant": variant,
        "entered_at": now.isoformat(),
        "active": variant != HOLDOUT,
        "active_until": (now + definition.max_duration).isoformat(),
        "outcome": "holdout" if variant == HOLDOUT else "active",
    }
    refused = parts.entries.enter(entry, EntryCondition(name, event.id, now, _reentry_after(definition, now)))
    if refused:
        return Routed(definition.name, f"refused:{refused}", name)
    parts.message_events.record([_assignment_row(definition, profile_id, name, variant, now)])
    if variant == HOLDOUT:
        return Routed(definition.name, "holdout", name)
    parts.runs.start(definition.name, name, run_input(definition, profile_id, name, variant, event, profile, now,
                                                      parts.wait_overrides))  # fmt: skip
    return Routed(definition.name, "started", name)


def _stop(
    definition: JourneyDefinition, profile_id: str, outcome: str, event: BusEvent, parts: RouterParts, now: datetime
) -> Routed | None:
    entry = parts.entries.get(profile_id, definition.name)
    if not entry or not entry.get("active") or entry.get("active_until", "") < now.isoformat():
        return None
    name = str(entry["execution_name"])
    parts.runs.stop(definition.name, name, f"{outcome}: {event.source}/{event.detail_type}")
    parts.entries.end(profile_id, definition.name, name, outcome, now)
    return Routed(definition.name, f"stopped:{outcome}", name)


def _assignment_row(
    definition: JourneyDefinition, profile_id: str, name: str, variant: str, now: datetime
) -> dict[str, Any]:
    """The `messages` row of an entry: `assigned` in its variant, or `holdout`."""
    return {
        "message_key": f"journey#{definition.name}#{ENTRY_STEP}#{name}",
        "profile_id": profile_id,
        "origin": "journey",
        "origin_name": definition.name,
        "step": ENTRY_STEP,
        "variant": variant,
        "occurrence": name,
        "channel": None,
        "purpose": None,
        "template": None,
        "event": HOLDOUT if variant == HOLDOUT else "assigned",
        "reason": None,
        "at": now,
        "provider_message_id": None,
    }


def run_input(
    definition: JourneyDefinition,
    profile_id: str,
    name: str,
    variant: str,
    event: BusEvent,
    profile: dict[str, Any],
    now: datetime,
    wait_overrides: dict[str, int],
) -> dict[str, Any]:
    """The execution's input: who, which variant, each wait's seconds and each send step's MessageRequest."""
    waits = {
        step.name: wait_overrides.get(f"{definition.name}.{step.name}", step.seconds(variant))
        for step in definition.wait_steps()
    }
    context = trigger_context(definition, event.detail)
    offsets = _earliest_offsets(definition, waits)
    messages = {
        step.name: _request(definition, step, profile_id, name, variant, context, now, offsets[step.name])
        for step in definition.send_steps()
        if step.name in offsets
    }
    loyalty = profile.get("loyalty") if isinstance(profile.get("loyalty"), dict) else {}
    return {
        "profile_id": profile_id,
        "journey": definition.name,
        "variant": variant,
        "entered_at": now.isoformat(),
        "profile": {"tier": (loyalty or {}).get("tier"), "orders_count": int(profile.get("orders_count") or 0)},
        "context": context,
        "waits": waits,
        "messages": messages,
    }


def trigger_context(definition: JourneyDefinition, detail: dict[str, Any]) -> dict[str, Any]:
    """The context keys the definition names, each from the first of its detail paths that is present."""
    context: dict[str, Any] = {}
    for key, paths in definition.context.items():
        for path in paths:
            value: Any = detail
            for part in path.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            if value is not None:
                context[key] = value
                break
    return context


def _earliest_offsets(definition: JourneyDefinition, waits: dict[str, int]) -> dict[str, int]:
    """Seconds from entry to each step, along the longest path of waits (its messages expire counted from there)."""
    offsets = {definition.steps[0].name: 0}
    for _ in definition.steps:  # no loops (validated): as many passes as steps settle every offset
        for step in definition.steps:
            if step.name in offsets:
                after = offsets[step.name] + (waits[step.name] if isinstance(step, WaitStep) else 0)
                for target in definition.successors(step):
                    offsets[target] = max(offsets.get(target, 0), after)
    return offsets


def _request(
    definition: JourneyDefinition,
    step: SendStep,
    profile_id: str,
    name: str,
    variant: str,
    context: dict[str, Any],
    now: datetime,
    offset: int,
) -> dict[str, Any]:
    expires_at = now + timedelta(seconds=offset + seconds_of(step.expires_after)) if step.expires_after else None
    request = MessageRequest(
        profile_id=profile_id,
        origin="journey",
        origin_name=definition.name,
        step=step.name,
        occurrence=name,
        variant=variant,
        channel=step.channel,
        purpose=step.purpose,
        template=step.template if isinstance(step.template, str) else step.template[variant],
        priority=step.priority,
        expires_at=expires_at,
        guards=[
            {
                "name": guard.name,
                "params": {k: now.isoformat() if v == ENTRY_DATE else v for k, v in guard.params.items()},
            }
            for guard in step.guards
        ],
        context={**context, **step.context},
    )
    return request.model_dump(mode="json")
