"""One scheduled segment run: score, tag, predict and segment every profile from the profile snapshot and curated
behaviour; move, announce and save only what changed; keep the run's membership snapshot and report.

Exactly-once announcements, whatever runs overlap or retry. Each profile's new state is written conditionally on
the membership version the run read, together with the transitions it implies (the profile's outbox); only a run
whose write won announces them (moves the `SEGMENT#` items, publishes Segment Entered / Exited), then clears the
outbox. Two runs that read the same version cannot both win, so nothing is announced twice; a run that loses
leaves the profile to the winner (counted as a conflict) and the next run computes it afresh, so nothing is lost.
A run that dies between its write and its announcement leaves the outbox behind: the next run that finds it older
than `announce_after` (longer than a run can last, so it is no live run's) announces and clears it. A profile whose
computed values and memberships are unchanged (same digest, and the memberships it holds, which the live segments
may have moved since, are the computed ones) is neither written nor announced.

Consent: a person who refused the `profiling` purpose is not scored, tagged, predicted or segmented; a run clears
what earlier runs stored for them (their memberships exit) and counts them as `not_profiled`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from cdp.events import DomainEvent
from cdp.segments import rfm
from cdp.segments.behaviour import expand_properties, with_profiles
from cdp.segments.definitions import InvalidDefinitions, SegmentDocument, merge_documents
from cdp.segments.evaluate import Evaluation, behaviour_reads, evaluate, ranked_fields
from cdp.segments.live_ports import RfmCutPoints
from cdp.segments.personas import PersonaFacts, persona_facts, personas
from cdp.segments.ports import (
    ENTERED,
    EXITED,
    LIFECYCLE_PREFIX,
    RFM_PREFIX,
    BehaviourRequest,
    BehaviourSource,
    DefinitionSource,
    Membership,
    PredictionService,
    ProfileSnapshot,
    ProfileUpdate,
    SegmentStore,
    SnapshotStore,
    StoredSegments,
    Transition,
)
from cdp.segments.predictions import NUMBER_PREDICTIONS, PREDICTION_FIELDS, predict_profiles
from cdp.segments.rfm_cut_points import rfm_cut_points
from cdp.segments.vocabulary import EVENT_PROPERTIES, RFM_FIELDS

SEGMENT_EVENTS_SOURCE = "cdp.segments"
TRIGGER = "scheduled"
SIZE_HISTORY_RUNS = 24
IDENTITY_COLUMNS = ("customer_id", "email", "anonymous_id")
ORDER_COLUMNS_FOR_VALUES = ("order_id", "ordered_at", "status", "sku", "category", "line_amount")


@dataclass(frozen=True)
class SegmentRunParts:
    """What a run works with: ports, the shipped definitions, and how old an outbox must be to be another's."""

    store: SegmentStore
    behaviour: BehaviourSource
    definitions: DefinitionSource
    snapshots: SnapshotStore
    publish: Callable[[list[DomainEvent]], object]
    library: SegmentDocument
    announce_after: timedelta
    predictions: PredictionService | None = None


@dataclass
class SegmentRun:
    run_id: str
    computed_at: datetime
    profiles: int = 0
    not_profiled: int = 0
    sizes: dict[str, int] = field(default_factory=dict)
    entered: list[Membership] = field(default_factory=list)
    exited: list[Membership] = field(default_factory=list)
    profiles_saved: int = 0
    conflicts: int = 0
    recovered: int = 0
    invalid_definitions: list[str] = field(default_factory=list)
    predictions: dict[str, Any] = field(default_factory=dict)
    personas: dict[str, Any] = field(default_factory=dict)
    snapshot_key: str = ""

    def report(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "computed_at": self.computed_at.isoformat(),
            "profiles": self.profiles,
            "not_profiled": self.not_profiled,
            "segments": self.sizes,
            "entered": len(self.entered),
            "exited": len(self.exited),
            "profiles_saved": self.profiles_saved,
            "conflicts": self.conflicts,
            "recovered_announcements": self.recovered,
            "invalid_definitions": self.invalid_definitions,
            "predictions": self.predictions,
            "personas": self.personas,
            "snapshot": self.snapshot_key,
        }


@dataclass(frozen=True)
class Population:
    """What a run settles over every profile before computing any: the definitions and the RFM cut points."""

    document: SegmentDocument
    cut_points: RfmCutPoints
    stored_documents: list[dict[str, Any]]
    ranked: Mapping[str, pa.ChunkedArray] | None = None  # a shard's: the population's values top_percent ranks
    interval_counts: pa.Table | None = None  # a shard's: the population's replenishment intervals per SKU


@dataclass(frozen=True)
class ComputedProfiles:
    """What a run computed for some profiles: their memberships and the facts their personas are drawn from."""

    memberships: pa.Table
    facts: PersonaFacts


def compute_segments(
    parts: SegmentRunParts, as_of: datetime, run_id: str, snapshot: ProfileSnapshot | None = None
) -> SegmentRun:
    """The whole run in one function (see the module docstring); `as_of` timezone-aware; `snapshot` the profile
    snapshot when already loaded."""
    run = SegmentRun(run_id=run_id, computed_at=as_of)
    snapshot = snapshot or parts.store.load_snapshot()
    population = settle_population(parts, snapshot, as_of, run)
    computed = compute_profiles(parts, population, snapshot, as_of, run)
    run.sizes = _sizes(computed.memberships)
    run.personas = personas(computed.facts, parts.snapshots.size_history(SIZE_HISTORY_RUNS), run.sizes, as_of)
    run.snapshot_key = parts.snapshots.write(run_id, as_of, computed.memberships, run.report())
    return run


def settle_population(parts: SegmentRunParts, snapshot: ProfileSnapshot, as_of: datetime, run: SegmentRun) -> Population:
    """Announce what dead runs left, take the definitions that validate, count who is profiled, and cut (and keep)
    the RFM quintiles over every profiled buyer: a run's shards all score against these."""
    run.recovered = _announce_left_over(parts, snapshot.stored, as_of)
    stored_documents = parts.definitions.stored_documents()
    document, run.invalid_definitions = valid_definitions(parts.library, stored_documents)
    refused = refused_profiling(snapshot.profiles)
    profiles = snapshot.profiles.filter(pc.invert(refused))
    run.profiles, run.not_profiled = snapshot.profiles.num_rows, pc.sum(refused).as_py() or 0
    cut_points = rfm_cut_points(profiles, rfm.score_profiles(profiles, as_of), as_of)
    parts.store.save_cut_points(cut_points)
    return Population(document, cut_points, stored_documents)


def compute_profiles(
    parts: SegmentRunParts, population: Population, snapshot: ProfileSnapshot, as_of: datetime, run: SegmentRun
) -> ComputedProfiles:
    """Score, tag, predict and segment the profiles of `snapshot` (all of them, or one shard's: its identity index
    may name others, whose behaviour is left out, and `population` carries what the whole population decides),
    save and announce what changed."""
    refused = refused_profiling(snapshot.profiles)
    profiles = snapshot.profiles.filter(pc.invert(refused))
    orders, events = _behaviour(parts, population.document, snapshot, as_of)
    predicted, run.predictions = predict_profiles(parts.predictions, profiles, orders, as_of, population.interval_counts)
    profiles, scores = _scored(_joined(profiles, predicted), as_of, population.cut_points)
    evaluation = evaluate(population.document, profiles, events, orders, as_of, population.ranked)
    memberships = _memberships(scores, evaluation)
    updates = _updates(snapshot.profiles["profile_id"], refused, scores, evaluation, predicted, memberships,
                       snapshot.stored)
    _write_and_announce(parts, updates, as_of, run)
    return ComputedProfiles(memberships, persona_facts(memberships, profiles, orders, as_of))


# ------------------------------------------------------------------ inputs


def valid_definitions(
    library: SegmentDocument, stored_documents: list[dict[str, Any]]
) -> tuple[SegmentDocument, list[str]]:
    """The library and every stored document that validates together with it; the others named with their problem."""
    document, invalid = library, []
    for stored in stored_documents:
        try:
            document = merge_documents(document, stored)
        except InvalidDefinitions as error:
            invalid.append(str(error).splitlines()[0])
    return document, invalid


def ranked_values(
    parts: SegmentRunParts, population: Population, snapshot: ProfileSnapshot, as_of: datetime
) -> pa.Table:
    """The snapshot's profiled profiles' values of the fields `top_percent` ranks, but predictions (a shard's part
    of the population those rank; predictions come from the fit), one column each."""
    names = [name for name in ranked_fields(population.document) if name not in NUMBER_PREDICTIONS]
    if not names:
        return pa.table({})
    profiles = snapshot.profiles.filter(pc.invert(refused_profiling(snapshot.profiles)))
    orders, events = _behaviour(parts, population.document, snapshot, as_of)
    profiles, _ = _scored(profiles, as_of, population.cut_points)
    tags = evaluate(population.document, profiles, events, orders, as_of).tags
    return pa.table({name: profiles[name] if name in profiles.column_names else tags[name] for name in names})


def _scored(profiles: pa.Table, as_of: datetime, cut_points: RfmCutPoints) -> tuple[pa.Table, pa.Table]:
    """(the profiles with their RFM fields scored against `cut_points`, the scores)."""
    scores = rfm.score_profiles(profiles, as_of, cut_points)
    profiles = _joined(profiles.drop_columns([name for name in RFM_FIELDS if name in profiles.column_names]),
                       scores.select(["profile_id", *RFM_FIELDS]))  # fmt: skip
    return profiles, scores


def refused_profiling(profiles: pa.Table) -> pa.ChunkedArray:
    if "profiling_consent" not in profiles.column_names:
        return pa.chunked_array([pa.repeat(False, profiles.num_rows)], pa.bool_())
    return pc.fill_null(pc.equal(profiles["profiling_consent"], False), False)


def behaviour_requests(
    parts: SegmentRunParts, document: SegmentDocument, as_of: datetime
) -> tuple[BehaviourRequest, BehaviourRequest]:
    """What a run reads of the curated order lines and events: the columns and dates the definitions, values and
    predictions read (predictions read all order history)."""
    reads = behaviour_reads(document, as_of)
    order_columns = sorted({*reads.order_line_columns, *ORDER_COLUMNS_FOR_VALUES, *IDENTITY_COLUMNS} - {"profile_id"})
    since = None if parts.predictions is not None else reads.order_lines_since
    event_columns = sorted({"event", "occurred_at", "properties", *IDENTITY_COLUMNS})
    return BehaviourRequest(order_columns, since), BehaviourRequest(event_columns, reads.events_since)


def _behaviour(
    parts: SegmentRunParts, document: SegmentDocument, snapshot: ProfileSnapshot, as_of: datetime
) -> tuple[pa.Table, pa.Table]:
    """Order lines and events of the snapshot's profiles, only the columns and dates the definitions and values read."""
    reads = behaviour_reads(document, as_of)
    properties = {**EVENT_PROPERTIES, **document.custom_properties}
    wanted = {name: properties[name] for name in reads.event_columns if name in properties}
    _, events_request = behaviour_requests(parts, document, as_of)
    events = _own_rows(with_profiles(parts.behaviour.events(events_request), snapshot.identities), snapshot)
    return order_lines(parts, document, snapshot, as_of), expand_properties(events, wanted)


def order_lines(parts: SegmentRunParts, document: SegmentDocument, snapshot: ProfileSnapshot, as_of: datetime) -> pa.Table:
    """Order lines of the snapshot's profiles, only the columns and dates the definitions, values and predictions read."""
    orders_request, _ = behaviour_requests(parts, document, as_of)
    return _own_rows(with_profiles(parts.behaviour.order_lines(orders_request), snapshot.identities), snapshot)


def _own_rows(rows: pa.Table, snapshot: ProfileSnapshot) -> pa.Table:
    """The rows of the snapshot's own profiles. Rows are matched to profiles through the whole identity index (a
    shard's too), so a shard resolves a row as the whole run does, then keeps its own profiles' rows."""
    return rows.filter(pc.is_in(rows["profile_id"], value_set=snapshot.profiles["profile_id"]))


def _joined(profiles: pa.Table, columns: pa.Table) -> pa.Table:
    """`profiles` with the other columns of `columns` (one row per profile_id), in the profiles' order."""
    positions = pc.index_in(profiles["profile_id"], value_set=columns["profile_id"])
    for name in columns.column_names:
        if name == "profile_id":
            continue
        if name in profiles.column_names:
            profiles = profiles.drop_columns([name])
        profiles = profiles.append_column(columns.schema.field(name), pc.take(columns[name], positions))
    return profiles


# ------------------------------------------------------------------ memberships and values


def _memberships(scores: pa.Table, evaluation: Evaluation) -> pa.Table:
    """One row per (segment, profile_id): `rfm:<segment>`, `lifecycle:<stage>` and every rule segment held."""
    parts = [
        pa.table({"segment": pc.binary_join_element_wise(prefix, scores[column], ""),
                  "profile_id": scores["profile_id"]})
        for prefix, column in ((RFM_PREFIX, "rfm_segment"), (LIFECYCLE_PREFIX, "lifecycle_stage"))
    ]  # fmt: skip
    for name in evaluation.masks:
        members = evaluation.members(name)
        parts.append(pa.table({"segment": pa.repeat(name, len(members)).cast(pa.string()), "profile_id": members}))
    return pa.concat_tables([part.cast(pa.schema([("segment", pa.string()), ("profile_id", pa.string())]))
                             for part in parts]).combine_chunks()  # fmt: skip


def _sizes(memberships: pa.Table) -> dict[str, int]:
    counted = pc.value_counts(memberships["segment"]).to_pylist()
    return dict(sorted((entry["values"], entry["counts"]) for entry in counted))


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value.isoformat() if hasattr(value, "isoformat") else value


def _values(row: dict[str, Any], tag_names: list[str]) -> dict[str, Any]:
    """The computed values a profile stores: rfm, lifecycle_stage, tags, predictions (only those it has)."""
    rfm_value = {"segment": row["rfm_segment"]} | {
        short: row[name] for short, name in (("r", "r_score"), ("f", "f_score"), ("m", "m_score"),
                                             ("recency_days", "recency_days")) if row[name] is not None
    }  # fmt: skip
    values: dict[str, Any] = {"rfm": rfm_value, "lifecycle_stage": row["lifecycle_stage"]}
    tags = {name: _jsonable(row[name]) for name in tag_names if row[name] is not None}
    if tags:
        values["tags"] = tags
    predictions = {key: _jsonable(row[name]) for name, key in PREDICTION_FIELDS.items() if row.get(name) is not None}
    if predictions:
        values["predictions"] = predictions
    if row.get("replenishment"):
        values["replenishment"] = row["replenishment"]
    return values


def digest_of(values: dict[str, Any] | None, memberships: list[str]) -> str:
    text = json.dumps({"values": values, "memberships": memberships}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _transitions(held: frozenset[str], now_held: frozenset[str]) -> list[Transition]:
    return [Transition(EXITED, name) for name in sorted(held - now_held)] + [
        Transition(ENTERED, name) for name in sorted(now_held - held)
    ]


def _updates(
    profile_ids: pa.ChunkedArray, refused: pa.ChunkedArray, scores: pa.Table, evaluation: Evaluation,
    predicted: pa.Table, memberships: pa.Table, stored: dict[str, StoredSegments],
) -> list[ProfileUpdate]:
    """A ProfileUpdate for every profile whose values or memberships differ from what it stores."""
    held = memberships.group_by("profile_id").aggregate([("segment", "list")])
    held_by_profile = dict(zip(held["profile_id"].to_pylist(), held["segment_list"].to_pylist()))
    tag_names = [name for name in evaluation.tags.column_names if name != "profile_id"]
    rows = scores.select(["profile_id", "rfm_segment", *RFM_FIELDS])
    for name in tag_names:
        rows = rows.append_column(name, evaluation.tags[name])
    rows = _joined(rows, predicted)
    updates = []
    for row in rows.to_pylist():
        profile_id = row["profile_id"]
        values = _values(row, tag_names)
        updates.append(_update(profile_id, values, sorted(held_by_profile.get(profile_id, [])), stored))
    for profile_id in profile_ids.filter(refused).to_pylist():
        updates.append(_update(profile_id, None, [], stored))
    return [update for update in updates if update is not None]


def _update(
    profile_id: str, values: dict[str, Any] | None, now_held: list[str], stored: dict[str, StoredSegments]
) -> ProfileUpdate | None:
    previous = stored.get(profile_id, StoredSegments())
    digest = digest_of(values, now_held)
    if digest == previous.digest and previous.memberships == frozenset(now_held):  # live segments may have moved
        return None
    return ProfileUpdate(
        profile_id=profile_id, values=values, digest=digest, memberships=now_held,
        transitions=_transitions(previous.memberships, frozenset(now_held)),
        previous=sorted(previous.memberships), expected_version=previous.version,
    )  # fmt: skip


# ------------------------------------------------------------------ writes and announcements


def _events(profile_id: str, transitions: list[Transition], previous: list[str], version: int) -> list[DomainEvent]:
    return [
        DomainEvent(
            source=SEGMENT_EVENTS_SOURCE,
            detail_type=transition.kind,
            detail={"profile_id": profile_id, "segment": transition.segment, "previous": previous,
                    "trigger": TRIGGER, "version": version},
        )  # fmt: skip
        for transition in transitions
    ]


def _announce(
    parts: SegmentRunParts, announced: list[tuple[str, list[Transition], list[str], int]]
) -> tuple[list[Membership], list[Membership]]:
    """Move the membership items, publish the events, then clear each profile's outbox; (entered, exited)."""
    entered = [Membership(t.segment, pid) for pid, ts, _, _ in announced for t in ts if t.kind == ENTERED]
    exited = [Membership(t.segment, pid) for pid, ts, _, _ in announced for t in ts if t.kind == EXITED]
    parts.store.move_memberships(entered, exited)
    parts.publish([event for pid, ts, previous, version in announced for event in _events(pid, ts, previous, version)])
    parts.store.mark_announced([(profile_id, version) for profile_id, _, _, version in announced])
    return entered, exited


def _announce_left_over(parts: SegmentRunParts, stored: dict[str, StoredSegments], as_of: datetime) -> int:
    """Announce the outboxes a dead run left (older than announce_after); answers how many profiles had one."""
    cutoff = as_of - parts.announce_after
    left_over = [
        (profile_id, list(segments.pending), list(segments.previous), segments.version)
        for profile_id, segments in stored.items()
        if segments.pending and segments.pending_since is not None and segments.pending_since <= cutoff
    ]
    if left_over:
        _announce(parts, left_over)
    return len(left_over)


def _write_and_announce(parts: SegmentRunParts, updates: list[ProfileUpdate], as_of: datetime, run: SegmentRun) -> None:
    won = parts.store.save(updates, as_of)
    run.conflicts = len(updates) - len(won)
    run.profiles_saved = len(won)
    run.entered, run.exited = _announce(
        parts, [(u.profile_id, u.transitions, u.previous, u.version) for u in won if u.transitions]
    )
