"""Journey definitions as data: the pydantic language a marketer writes (one JSON file per journey), and its checks.

A journey names its entry `trigger` (bus events), its `reentry` rule, its `goal` and `exit` events (either stops
the active run within seconds), an optional `experiment` (holdout and A/B variants), which trigger properties the
messages may use (`context`), and its `steps`: `send`, `wait`, `branch`, `coupon`, `exit`. Steps run in the order written
unless a step names its `next`; a branch names where each condition leads. `parse_definition` validates the shape
with pydantic and then the meaning (unique step names, targets that exist, no step unreachable, no loop, branch
fields that name a send step or a context key, offers that exist, sends that get a coupon only after it is issued);
every problem names its place. See docs/journeys.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cdp.coupons.offers import load_offers
from cdp.messaging.assignment import validate_split
from cdp.messaging.requests import GUARD_PARAMS, Channel, GuardName, Purpose

DEFINITIONS_DIRECTORY = Path(__file__).with_name("definitions")
JOURNEY_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"  # short enough for execution names (80 characters)
STEP_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,47}$"
DURATION = re.compile(r"^(\d+)([smhd])$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_WAIT_SECONDS = 365 * 86400  # a Standard workflow runs at most one year
ENTRY_DATE = "$entered_at"  # a guard parameter that takes the run's entry time

# The bus events a journey may start or stop on: source -> detail types.
BUS_EVENTS: dict[str, frozenset[str]] = {
    "cdp.profiles": frozenset({"Customer Signed Up"}),
    "cdp.segments": frozenset({"Segment Entered", "Segment Exited"}),
    "cdp.loyalty": frozenset({"Tier Changed", "Points Expiring"}),
}
TRACKING_SOURCE = "cdp.tracking"  # any Segment E-commerce Spec v2 event name, and Shopify's `Checkout Updated`


class InvalidDefinition(ValueError):
    """A journey definition that cannot run: the message lists each problem with its place."""


def seconds_of(duration: str) -> int:
    """`30s`, `15m`, `4h`, `3d` as seconds."""
    match = DURATION.match(duration)
    if not match:
        raise ValueError(f"{duration!r} is not a duration like 30m, 4h or 3d")
    return int(match[1]) * UNIT_SECONDS[match[2]]


def _valid_duration(duration: str) -> str:
    seconds = seconds_of(duration)
    if not 0 < seconds <= MAX_WAIT_SECONDS:
        raise ValueError(f"{duration!r} must be positive and at most 365d")
    return duration


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EventMatch(_Strict):
    """A bus event: its source, its detail type, and optionally detail fields that must hold one of some values."""

    source: str
    event: str = Field(min_length=1, max_length=64)
    detail: dict[str, list[str | int | bool]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_event(self) -> EventMatch:
        if self.source != TRACKING_SOURCE and self.event not in BUS_EVENTS.get(self.source, ()):
            known = ", ".join(f"{source}/{event}" for source, events in BUS_EVENTS.items() for event in sorted(events))
            raise ValueError(
                f"{self.source}/{self.event} is not a bus event journeys know ({known}, or cdp.tracking/<event>)"
            )
        if any(not values for values in self.detail.values()):
            raise ValueError("each detail field needs at least one value")
        return self

    def matches(self, source: str, detail_type: str, detail: dict[str, Any]) -> bool:
        return (
            source == self.source
            and detail_type == self.event
            and all(detail.get(name) in values for name, values in self.detail.items())
        )


class Reentry(_Strict):
    """`once_ever`, `once_per_days` (with `days`) or `every_time`; in every case one active run at a time."""

    rule: Literal["once_ever", "once_per_days", "every_time"]
    days: int | None = Field(default=None, ge=1, le=3650)

    @model_validator(mode="after")
    def _days_with_window(self) -> Reentry:
        if (self.rule == "once_per_days") != (self.days is not None):
            raise ValueError("days is required by once_per_days and taken by no other rule")
        return self


class Experiment(_Strict):
    """The control group's share (never messaged, recorded as `holdout`) and the A/B variants' weights."""

    holdout_percent: float = 0
    variants: dict[str, int] = Field(default_factory=lambda: {"main": 100})

    @model_validator(mode="after")
    def _valid_split(self) -> Experiment:
        validate_split(self.holdout_percent, self.variants)
        return self


class GuardSpec(_Strict):
    """A guard re-checked by the sending service; a parameter `"$entered_at"` becomes the run's entry time."""

    name: GuardName
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_params(self) -> GuardSpec:
        required, allowed = GUARD_PARAMS[self.name]
        if missing := sorted(required - self.params.keys()):
            raise ValueError(f"guard {self.name} needs {', '.join(missing)}")
        if unknown := sorted(self.params.keys() - allowed):
            raise ValueError(f"guard {self.name} takes no {', '.join(unknown)}")
        return self


class SendStep(_Strict):
    """One message through the sending service; `template` may name one template per variant."""

    type: Literal["send"]
    name: str = Field(pattern=STEP_NAME_PATTERN)
    channel: Channel
    template: str | dict[str, str]
    purpose: Purpose = "marketing"
    priority: int = Field(default=50, ge=0, le=100)
    expires_after: str | None = None
    guards: list[GuardSpec] = Field(default_factory=list, max_length=8)
    context: dict[str, Any] = Field(default_factory=dict)  # fixed template data of this step (an offer...)
    coupon: str | None = None  # a coupon step whose code this message carries (context.coupon_code, coupon_expires_at)
    next: str | None = None

    _expiry = field_validator("expires_after")(lambda value: value if value is None else _valid_duration(value))


class WaitStep(_Strict):
    """Pause the run, for one duration or one per variant; a deployment may override it (`JourneyWaitSeconds`)."""

    type: Literal["wait"]
    name: str = Field(pattern=STEP_NAME_PATTERN)
    duration: str | dict[str, str]
    next: str | None = None

    @field_validator("duration")
    @classmethod
    def _durations(cls, value: str | dict[str, str]) -> str | dict[str, str]:
        for duration in [value] if isinstance(value, str) else value.values():
            _valid_duration(duration)
        return value

    def seconds(self, variant: str) -> int:
        return seconds_of(self.duration if isinstance(self.duration, str) else self.duration[variant])


class Condition(_Strict):
    """`field` is `variant`, `steps.<send step>.status` / `.reason`, `context.<key>` or `profile.<tier|orders_count>`;
    exactly one of `equals`, `any_of`, `at_least`, `present` says what must hold."""

    field: str = Field(
        pattern=r"^(variant|steps\.[a-z0-9_]+\.(status|reason)|context\.[a-z0-9_]+|profile\.(tier|orders_count))$"
    )
    equals: str | int | bool | None = None
    any_of: list[str] | None = Field(default=None, min_length=1)
    at_least: float | None = None
    present: bool | None = None
    next: str

    @model_validator(mode="after")
    def _one_test(self) -> Condition:
        given = [name for name in ("equals", "any_of", "at_least", "present") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                f"a condition takes exactly one of equals, any_of, at_least, present (got {given or 'none'})"
            )
        return self


class BranchStep(_Strict):
    """The first condition that holds leads on; `otherwise` when none does."""

    type: Literal["branch"]
    name: str = Field(pattern=STEP_NAME_PATTERN)
    when: list[Condition] = Field(min_length=1, max_length=8)
    otherwise: str


class CouponStep(_Strict):
    """Issue the person one coupon of an offer (`cdp/coupons/offers.json`), once per run however often the step is
    retried; the send steps naming it in `coupon` carry its code. When the offer refuses (the person's limit, the
    cap, outside its dates) the run goes to `if_refused`, or ends."""

    type: Literal["coupon"]
    name: str = Field(pattern=STEP_NAME_PATTERN)
    offer: str = Field(pattern=r"^[a-z0-9_]{1,40}$")
    if_refused: str | None = None
    next: str | None = None


class ExitStep(_Strict):
    """End the run here (a run also ends after its last step)."""

    type: Literal["exit"]
    name: str = Field(pattern=STEP_NAME_PATTERN)


Step = Annotated[SendStep | WaitStep | BranchStep | CouponStep | ExitStep, Field(discriminator="type")]


class JourneyDefinition(_Strict):
    """One journey, as its JSON file says it."""

    name: str = Field(pattern=JOURNEY_NAME_PATTERN)
    description: str = Field(min_length=1, max_length=300)
    trigger: list[EventMatch] = Field(min_length=1)
    reentry: Reentry
    goal: list[EventMatch] = Field(default_factory=list)
    exit: list[EventMatch] = Field(default_factory=list)
    experiment: Experiment = Field(default_factory=Experiment)
    context: dict[str, list[str]] = Field(default_factory=dict)  # context key -> detail paths, the first present wins
    max_days: int = Field(default=60, ge=1, le=365)  # a run still marked active after this no longer blocks entry
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _coherent(self) -> JourneyDefinition:
        problems = list(_flow_problems(self))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def max_duration(self) -> timedelta:
        return timedelta(days=self.max_days)

    def step(self, name: str) -> Step:
        return next(step for step in self.steps if step.name == name)

    def successors(self, step: Step) -> list[str]:
        """The steps this one leads to (an empty list: the run ends after it); a coupon step's issued path first."""
        if isinstance(step, ExitStep):
            return []
        if isinstance(step, BranchStep):
            return [*(condition.next for condition in step.when), step.otherwise]
        refused = [step.if_refused] if isinstance(step, CouponStep) and step.if_refused else []
        return [*self.following(step), *refused]

    def following(self, step: SendStep | WaitStep | CouponStep) -> list[str]:
        """The step after this one on its ordinary path: its `next`, else the one written after it."""
        if step.next is not None:
            return [step.next]
        position = self.steps.index(step)
        return [self.steps[position + 1].name] if position + 1 < len(self.steps) else []

    def send_steps(self) -> list[SendStep]:
        return [step for step in self.steps if isinstance(step, SendStep)]

    def wait_steps(self) -> list[WaitStep]:
        return [step for step in self.steps if isinstance(step, WaitStep)]

    def coupon_steps(self) -> list[CouponStep]:
        return [step for step in self.steps if isinstance(step, CouponStep)]

    def events(self) -> list[EventMatch]:
        """Every event this journey listens to: triggers, goals and exits."""
        return [*self.trigger, *self.goal, *self.exit]


def _flow_problems(definition: JourneyDefinition) -> Iterator[str]:
    names = [step.name for step in definition.steps]
    for name in sorted({name for name in names if names.count(name) > 1}):
        yield f"step name {name!r} is used twice"
    if len(set(names)) != len(names):
        return
    sends = {step.name for step in definition.send_steps()}
    for step in definition.steps:
        for target in definition.successors(step):
            if target not in names:
                yield f"step {step.name!r} leads to {target!r}, which is not a step"
        if isinstance(step, BranchStep):
            for condition in step.when:
                kind, _, rest = condition.field.partition(".")
                if kind == "steps" and rest.split(".")[0] not in sends:
                    yield f"branch {step.name!r} reads {condition.field}, but that is not a send step"
                if kind == "context" and rest not in definition.context:
                    yield f"branch {step.name!r} reads {condition.field}, but the journey's context has no {rest!r}"
        per_variant = (
            step.template if isinstance(step, SendStep) else step.duration if isinstance(step, WaitStep) else None
        )
        if isinstance(per_variant, dict) and set(per_variant) != set(definition.experiment.variants):
            yield f"step {step.name!r} must give one value for each variant {sorted(definition.experiment.variants)}"
    problems = list(_reachability_problems(definition, names))
    yield from problems
    if not problems and all(target in names for step in definition.steps for target in definition.successors(step)):
        yield from _coupon_problems(definition)


def _coupon_problems(definition: JourneyDefinition) -> Iterator[str]:
    """Offers that exist; a send carries a coupon only where every path to it passed that coupon's issue."""
    offers = load_offers()
    coupons = {step.name: step for step in definition.coupon_steps()}
    for step in coupons.values():
        if offers.get(step.offer) is None:
            yield f"coupon step {step.name!r} names offer {step.offer!r}, which offers.json does not hold"
    for send in definition.send_steps():
        if send.coupon is None:
            continue
        if send.coupon not in coupons:
            yield f"send {send.name!r} takes its coupon from {send.coupon!r}, which is not a coupon step"
        elif "coupon_code" in send.context:
            yield f"send {send.name!r} gets coupon_code from {send.coupon!r}: its context cannot fix one too"
        elif send.name in _reached_without_issuing(definition, coupons[send.coupon]):
            yield f"send {send.name!r} can be reached without coupon step {send.coupon!r} issuing its code"


def _reached_without_issuing(definition: JourneyDefinition, coupon: CouponStep) -> set[str]:
    """The steps a run can reach without passing the coupon step's issued path (its refused path counts)."""
    reached: set[str] = set()
    pending = [definition.steps[0].name]
    while pending:
        name = pending.pop()
        if name in reached:
            continue
        reached.add(name)
        if name != coupon.name:
            pending += definition.successors(definition.step(name))
        elif coupon.if_refused:
            pending.append(coupon.if_refused)
    return reached


def _reachability_problems(definition: JourneyDefinition, names: list[str]) -> Iterator[str]:
    if any(target not in names for step in definition.steps for target in definition.successors(step)):
        return
    reached: set[str] = set()
    visiting: set[str] = set()

    def visit(name: str) -> Iterator[str]:
        if name in visiting:
            yield f"step {name!r} can be reached again from itself: a journey runs forward only"
            return
        if name in reached:
            return
        visiting.add(name)
        for target in definition.successors(definition.step(name)):
            yield from visit(target)
        visiting.discard(name)
        reached.add(name)

    yield from visit(names[0])
    for name in names:
        if name not in reached:
            yield f"step {name!r} is never reached"


def parse_definition(document: Any, origin: str = "definition") -> JourneyDefinition:
    """Validate a journey document; raises InvalidDefinition listing every problem with its place."""
    try:
        return JourneyDefinition.model_validate(document)
    except ValidationError as error:
        lines = [f"{origin}: {_place(detail['loc'])}: {detail['msg']}" for detail in error.errors()]
        raise InvalidDefinition("\n".join(lines)) from None


def _place(location: tuple[Any, ...]) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(document)"


def load_definition(path: Path) -> JourneyDefinition:
    definition = parse_definition(json.loads(path.read_text()), path.name)
    if definition.name != path.stem:
        raise InvalidDefinition(f"{path.name}: name {definition.name!r} must be the file's name")
    return definition


@cache
def shipped_definitions() -> dict[str, JourneyDefinition]:
    """Every journey shipped in the core layer, by name."""
    return {path.stem: load_definition(path) for path in sorted(DEFINITIONS_DIRECTORY.glob("*.json"))}


def tracked_event_names() -> frozenset[str]:
    """The `cdp.tracking` events some journey starts or stops on: the tracking path publishes these to the bus."""
    return frozenset(
        match.event
        for definition in shipped_definitions().values()
        for match in definition.events()
        if match.source == TRACKING_SOURCE
    )
