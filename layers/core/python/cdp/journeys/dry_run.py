"""Journey dry run: replays a window of history through one journey's definition without sending anything.

History (behaviour, orders, segment entries, in time order) goes through the real router (`route_event`, the same
entry rules, re-entry, variants and holdout, the same computed requests) with in-memory entry records; each run it
starts is then played forward on the history's clock: a wait moves the clock, a goal or exit event before the next
step ends the run, and each send is judged as the sending service would at that moment: expired, a guard failing
(an order since entry), no address, no consent, the frequency cap (deferred until a slot frees, within the
request's expiry) and quiet hours in the recipient's time zone (deferred to their end). The report counts entries,
holdouts, refusals, goal exits, and per step what would be sent, skipped and deferred. Persons are whoever the
history's `profile_id` names; the cap counts this journey's own sends only.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cdp.journeys.definition import BranchStep, ExitStep, JourneyDefinition, SendStep, WaitStep
from cdp.journeys.ports import EntryCondition
from cdp.journeys.router import BusEvent, RouterParts, route_event
from cdp.privacy.consent import consent_granted

ADDRESS_OF = {"email": "email", "sms": "phone", "push": "push_token", "webhook": "profile_id"}


@dataclass(frozen=True)
class HistoryEvent:
    at: datetime
    event: BusEvent


@dataclass(frozen=True)
class SendRules:
    """The deployment's sending rules as the dry run applies them: caps per channel (count per days) and quiet
    hours (local time, start to end, crossing midnight)."""

    caps: Mapping[str, tuple[int, int]] = field(default_factory=lambda: {"email": (3, 7), "sms": (2, 7)})
    quiet_start: time = time(21, 0)
    quiet_end: time = time(9, 0)
    default_timezone: str = "UTC"


@dataclass
class StepCounts:
    sent: int = 0
    deferred: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "deferred": self.deferred, "skipped": dict(self.skipped)}


@dataclass
class DryRunReport:
    journey: str
    entries: int = 0
    holdout: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    completed: int = 0
    exited: Counter[str] = field(default_factory=Counter)
    capped: int = 0  # sends the frequency cap deferred
    steps: dict[str, StepCounts] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        totals = StepCounts()
        for counts in self.steps.values():
            totals.sent += counts.sent
            totals.deferred += counts.deferred
            totals.skipped.update(counts.skipped)
        return {
            "journey": self.journey,
            "entries": self.entries,
            "holdout": self.holdout,
            "refused": dict(self.refused),
            "completed": self.completed,
            "exited": dict(self.exited),
            "sent": totals.sent,
            "deferred": totals.deferred,
            "capped": self.capped,
            "suppressed": sum(n for reason, n in totals.skipped.items() if reason in ("no_consent", "no_address")),
            "skipped": dict(totals.skipped),
            "steps": {name: counts.as_dict() for name, counts in self.steps.items()},
        }


class InMemoryEntries:
    """Entry records in memory, with the DynamoDB adapter's conditional-write semantics (`JourneyEntries`)."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], dict[str, Any]] = {}

    def enter(self, entry: dict[str, Any], condition: EntryCondition) -> str | None:
        key = (entry["profile_id"], entry["journey"])
        previous = self.records.get(key)
        now = condition.now.isoformat()
        if previous is not None:
            retried = (
                previous["execution_name"] == condition.execution_name
                and previous["trigger_id"] == condition.trigger_id
            )
            ended = not previous["active"] or previous["active_until"] < now
            may_reenter = (
                condition.reentry_after is not None and previous["entered_at"] <= condition.reentry_after.isoformat()
            )
            if not retried and not (ended and may_reenter):
                return "already_active" if not ended else "reentry"
        self.records[key] = dict(entry)
        return None

    def get(self, profile_id: str, journey: str) -> dict[str, Any] | None:
        return self.records.get((profile_id, journey))

    def end(self, profile_id: str, journey: str, execution_name: str, outcome: str, now: datetime) -> bool:
        record = self.records.get((profile_id, journey))
        if record is None or record["execution_name"] != execution_name:
            return False
        record.update(active=False, outcome=outcome, ended_at=now.isoformat())
        return True


class _StartedRuns:
    def __init__(self) -> None:
        self.started: dict[str, dict[str, Any]] = {}

    def start(self, journey: str, execution_name: str, run_input: dict[str, Any]) -> None:
        self.started.setdefault(execution_name, run_input)

    def stop(self, journey: str, execution_name: str, cause: str) -> None:
        """Nothing runs: the play-forward already ended the run at its goal."""


class _NoMessageEvents:
    def record(self, rows: list[dict[str, Any]]) -> None:
        """A dry run records nothing."""


def dry_run(
    definition: JourneyDefinition,
    history: Iterable[HistoryEvent],
    profiles: Mapping[str, dict[str, Any]] | None,
    rules: SendRules,
    start: datetime,
    end: datetime,
) -> DryRunReport:
    """What the journey would have done to the history between `start` and `end` (history sorted by time)."""
    events = sorted(history, key=lambda item: item.at)
    by_person: dict[str, list[HistoryEvent]] = defaultdict(list)
    for item in events:
        if item.event.profile_id:
            by_person[item.event.profile_id].append(item)
    entries, runs = InMemoryEntries(), _StartedRuns()
    parts = RouterParts(entries, runs, _NoMessageEvents(), lambda pid: _profile(profiles, pid))
    report = DryRunReport(definition.name, steps={step.name: StepCounts() for step in definition.send_steps()})
    sends: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for item in events:
        if not start <= item.at < end:
            continue
        for routed in route_event(item.event, {definition.name: definition}, parts, item.at):
            if routed.outcome == "holdout":
                report.holdout += 1
                report.entries += 1
            elif routed.outcome.startswith("refused:"):
                report.refused[routed.outcome.removeprefix("refused:")] += 1
            elif routed.outcome == "started" and routed.execution_name in runs.started:
                report.entries += 1
                run = runs.started[routed.execution_name]
                person = item.event.profile_id or ""
                profile = _profile(profiles, person) or {}
                finished_at, outcome = _play(definition, run, item.at, by_person[person], profile, rules, sends, report)
                entries.records[(person, definition.name)].update(active_until=finished_at.isoformat())
                if outcome == "completed":
                    report.completed += 1
                else:
                    report.exited[outcome] += 1
    return report


def _profile(profiles: Mapping[str, dict[str, Any]] | None, profile_id: str) -> dict[str, Any] | None:
    """The person's snapshot; without snapshots everyone is known and reachable (only the journey's rules count)."""
    if profiles is None:
        return {"profile_id": profile_id, "reachable_unknown": True}
    return profiles.get(profile_id)


def _play(
    definition: JourneyDefinition,
    run: dict[str, Any],
    entered: datetime,
    person_history: list[HistoryEvent],
    profile: dict[str, Any],
    rules: SendRules,
    sends: dict[tuple[str, str], list[datetime]],
    report: DryRunReport,
) -> tuple[datetime, str]:
    """Play one run forward on the history's clock; (when it ended, `completed` / `goal` / `exit`)."""
    clock = entered
    results: dict[str, dict[str, str]] = {}
    step: Any = definition.steps[0]
    while step is not None:
        if stop := _stop_before(definition, person_history, entered, clock):
            return stop
        if isinstance(step, ExitStep):
            break
        if isinstance(step, WaitStep):
            clock += timedelta(seconds=run["waits"][step.name])
        elif isinstance(step, SendStep):
            status, reason, clock = _judge(step, run["messages"][step.name], clock, entered, person_history, profile,
                                           rules, sends, report)  # fmt: skip
            results[step.name] = {"status": status, "reason": reason}
            if stop := _stop_before(definition, person_history, entered, clock):
                return stop
        step = _following(definition, step, run, results)
    return clock, "completed"


def _stop_before(
    definition: JourneyDefinition, history: list[HistoryEvent], entered: datetime, clock: datetime
) -> tuple[datetime, str] | None:
    for item in history:
        if entered < item.at <= clock:
            for outcome, matches in (("goal", definition.goal), ("exit", definition.exit)):
                if any(m.matches(item.event.source, item.event.detail_type, item.event.detail) for m in matches):
                    return item.at, outcome
    return None


def _following(
    definition: JourneyDefinition, step: Any, run: dict[str, Any], results: dict[str, dict[str, str]]
) -> Any:
    if isinstance(step, BranchStep):
        state = {"variant": run["variant"], "steps": results, "context": run["context"], "profile": run["profile"]}
        target = next((c.next for c in step.when if _holds(c, state)), step.otherwise)
        return definition.step(target)
    following = definition.successors(step)
    return definition.step(following[0]) if following else None


def _holds(condition: Any, state: dict[str, Any]) -> bool:
    value: Any = state
    for part in condition.field.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if condition.present is not None:
        return (value is not None) == condition.present
    if value is None:
        return False
    if condition.any_of is not None:
        return value in condition.any_of
    if condition.at_least is not None:
        return isinstance(value, int | float) and value >= condition.at_least
    return bool(value == condition.equals)


def _judge(
    step: SendStep,
    request: dict[str, Any],
    clock: datetime,
    entered: datetime,
    history: list[HistoryEvent],
    profile: dict[str, Any],
    rules: SendRules,
    sends: dict[tuple[str, str], list[datetime]],
    report: DryRunReport,
) -> tuple[str, str, datetime]:
    """The sending service's verdict at `clock` (deferrals move the clock); counted on the step."""
    counts = report.steps[step.name]
    expires_at = datetime.fromisoformat(request["expires_at"]) if request.get("expires_at") else None
    verdict = _refusal(step, request, clock, entered, history, profile)
    if verdict is None and step.purpose == "marketing":
        allowed = _after_cap(rules, sends[(profile.get("profile_id", ""), step.channel)], step.channel, clock)
        if allowed > clock:
            counts.deferred += 1
            report.capped += 1
            clock = allowed
        opens = _after_quiet_hours(rules, profile, clock)
        if opens > clock:
            counts.deferred += 1
            clock = opens
        if expires_at is not None and clock > expires_at:
            verdict = "expired"
    if verdict is not None:
        counts.skipped[verdict] += 1
        return "skipped", verdict, clock
    counts.sent += 1
    sends[(profile.get("profile_id", ""), step.channel)].append(clock)
    return "sent", "sent", clock


def _refusal(step: SendStep, request: dict[str, Any], clock: datetime, entered: datetime, history: list[HistoryEvent],
             profile: dict[str, Any]) -> str | None:  # fmt: skip
    for guard in request.get("guards", []):
        if guard["name"] == "no_order_since":
            since = datetime.fromisoformat(guard["params"]["since"])
            if any(since < item.at <= clock and item.event.detail_type == "Order Completed" for item in history):
                return "guard:no_order_since"
    if profile.get("reachable_unknown"):
        return None
    if not profile.get(ADDRESS_OF[step.channel]):
        return "no_address"
    if not consent_granted(profile.get("consent"), step.channel, step.purpose):
        return "no_consent"
    return None


def _after_cap(rules: SendRules, sent: list[datetime], channel: str, clock: datetime) -> datetime:
    if channel not in rules.caps:
        return clock
    limit, days = rules.caps[channel]
    window = timedelta(days=days)
    recent = sorted(at for at in sent if clock - window < at <= clock)
    return clock if len(recent) < limit else recent[len(recent) - limit] + window


def _after_quiet_hours(rules: SendRules, profile: dict[str, Any], clock: datetime) -> datetime:
    try:
        zone = ZoneInfo(profile.get("timezone") or rules.default_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo(rules.default_timezone)
    local = clock.astimezone(zone)
    quiet = local.time() >= rules.quiet_start or local.time() < rules.quiet_end
    if not quiet:
        return clock
    opens = local.replace(hour=rules.quiet_end.hour, minute=rules.quiet_end.minute, second=0, microsecond=0)
    if local.time() >= rules.quiet_start:
        opens += timedelta(days=1)
    return opens.astimezone(clock.tzinfo)
