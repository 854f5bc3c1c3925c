"""A segment run split into shards, for a base too large for one function: the same computation as
cdp.segments.compute, spread over a state machine's steps, with the same result as one function would give.

1. Plan (the scheduled function, when the base has `threshold` profiles or more): settle what needs the whole
   population (left-over outboxes announced, definitions read once, RFM cut points cut over every profiled buyer and
   kept), split the profile snapshot into `shards` by a hash of the profile id and leave each shard's profiles and
   stored state, the whole identity index and the population beside them; start the state machine.
2. Histories (one step per shard, in parallel): each shard's purchase histories.
3. Fit (the prediction function, once): BG/NBD and Gamma-Gamma fitted on all shards' histories together, in their
   canonical order (the single run fits the same customers in the same order: same parameters), predictions
   written back per shard.
4. Compute (one step per shard, in parallel): score against the population's cut points, tag, predict (the fit's
   predictions), segment, then save and announce what changed with the single run's per-profile guarantees (each
   profile belongs to exactly one shard); the shard's memberships become the snapshot's part `part-<shard>`, its
   persona facts (sums and counts) and counts are left for the finish.
5. Finish: sizes, counts and persona facts added up, the report and latest.json written over all parts; the run's
   work (profile ids and values) deleted.

Curated rows are resolved to profiles through the whole identity index, as the single run does, so a shard's rows
are the ones the single run gives its profiles; a shard step reads only its split (about 1/shards of the behaviour),
never the curated zone. Retrying a step recomputes it from the plan's inputs: writes are conditional on the stored
version, so a retried compute step announces nothing twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from cdp.predict.histories import no_histories
from cdp.predict.replenishment import interval_counts
from cdp.predict.summary import day_number
from cdp.segments.behaviour import with_profiles
from cdp.segments.compute import (
    SIZE_HISTORY_RUNS,
    Population,
    SegmentRun,
    SegmentRunParts,
    behaviour_requests,
    compute_profiles,
    compute_segments,
    order_lines,
    ranked_values,
    refused_profiling,
    settle_population,
    valid_definitions,
)
from cdp.segments.definitions import SegmentDocument
from cdp.segments.evaluate import ranked_fields
from cdp.segments.live_ports import RfmCutPoints
from cdp.segments.personas import PersonaFacts, merged_facts, personas
from cdp.segments.ports import BehaviourRequest, ProfileSnapshot, ShardWork, StoredSegments
from cdp.segments.predictions import NUMBER_PREDICTIONS, completed_lines, purchase_histories, purchased_skus

STORED_SCHEMA = pa.schema([("profile_id", pa.string()), ("memberships", pa.list_(pa.string())),
                           ("version", pa.int64()), ("digest", pa.string())])  # fmt: skip
FACT_TABLES = ("totals", "categories", "regions")
BEHAVIOUR = ("orders", "events")


@dataclass(frozen=True)
class Sharding:
    """When a run is sharded (`threshold` profiles or more; 0: always), into how many shards, where the steps
    leave their work, and how the sharded run is started (with the plan)."""

    threshold: int
    shards: int
    work: ShardWork
    start: Callable[[dict[str, Any]], object]


def shard_of(profile_ids: pa.ChunkedArray | pa.Array, shards: int) -> pa.Array:
    """Each profile id's shard: the first 8 bytes of its BLAKE2b hash modulo `shards` (stable across runs)."""
    return pa.array([int.from_bytes(hashlib.blake2b(profile_id.encode(), digest_size=8).digest(), "big") % shards
                     for profile_id in profile_ids.to_pylist()], pa.int64())  # fmt: skip


def run_segments(parts: SegmentRunParts, sharding: Sharding | None, as_of: datetime, run_id: str) -> dict[str, Any]:
    """The scheduled run: computed here (its report), or planned and started sharded ({run_id, sharded: shards})."""
    snapshot = parts.store.load_snapshot()
    if sharding is None or snapshot.profiles.num_rows < sharding.threshold:
        return compute_segments(parts, as_of, run_id, snapshot).report()
    plan = plan_sharded_run(parts, sharding.work, snapshot, as_of, run_id, sharding.shards)
    sharding.start(plan)
    return {"run_id": run_id, "computed_at": as_of.isoformat(), "profiles": snapshot.profiles.num_rows,
            "sharded": sharding.shards}  # fmt: skip


def plan_sharded_run(
    parts: SegmentRunParts, work: ShardWork, snapshot: ProfileSnapshot, as_of: datetime, run_id: str, shards: int
) -> dict[str, Any]:
    """Settle the population, leave each shard's inputs; answer the state machine's input."""
    run = SegmentRun(run_id=run_id, computed_at=as_of)
    population = settle_population(parts, snapshot, as_of, run)
    work.write_json(run_id, "population", {
        "computed_at": as_of.isoformat(), "shards": shards, "documents": population.stored_documents,
        "cut_points": population.cut_points.as_item(), "report": run.report(),
    })  # fmt: skip
    work.write_table(run_id, "identities", snapshot.identities)
    positions = shard_of(snapshot.profiles["profile_id"], shards)
    for shard in range(shards):
        profiles = snapshot.profiles.filter(pc.equal(positions, shard))
        work.write_table(run_id, f"profiles-{shard}", profiles)
        work.write_table(run_id, f"stored-{shard}", _stored_table(profiles["profile_id"].to_pylist(), snapshot.stored))
    _split_behaviour(parts, work, population.document, snapshot, as_of, run_id, positions, shards)
    return {"run_id": run_id, "shards": [{"run_id": run_id, "shard": shard} for shard in range(shards)],
            "fit": work.fit_request(run_id, shards)}  # fmt: skip


def _split_behaviour(
    parts: SegmentRunParts, work: ShardWork, document: SegmentDocument, snapshot: ProfileSnapshot, as_of: datetime, run_id: str,
    positions: pa.Array, shards: int,
) -> None:  # fmt: skip
    """Read the curated order lines and events the run needs once, resolve each row to its profile through the whole
    identity index, and leave each shard its own profiles' rows (`orders-<shard>`, `events-<shard>`, as read: the
    shard resolves them again through the same index). Rows of nobody in the snapshot go to no shard."""
    requests = dict(zip(BEHAVIOUR, behaviour_requests(parts, document, as_of)))
    read = {"orders": parts.behaviour.order_lines, "events": parts.behaviour.events}
    for name in BEHAVIOUR:
        rows = with_profiles(read[name](requests[name]), snapshot.identities)
        owners = pc.index_in(rows["profile_id"], value_set=snapshot.profiles["profile_id"])
        row_shards = pc.fill_null(pc.take(positions, owners), -1)
        rows = rows.drop_columns(["profile_id"])
        for shard in range(shards):
            work.write_table(run_id, f"{name}-{shard}", rows.filter(pc.equal(row_shards, shard)))


@dataclass(frozen=True)
class ShardBehaviour:
    """The behaviour of one shard's profiles (BehaviourSource): the rows the plan left it, the columns asked for."""

    work: ShardWork
    run_id: str
    shard: int

    def order_lines(self, request: BehaviourRequest) -> pa.Table:
        return self.work.read_table(self.run_id, f"orders-{self.shard}").select(request.columns)

    def events(self, request: BehaviourRequest) -> pa.Table:
        return self.work.read_table(self.run_id, f"events-{self.shard}").select(request.columns)


def shard_histories(parts: SegmentRunParts, work: ShardWork, run_id: str, shard: int) -> dict[str, Any]:
    """Leave the shard's purchase histories for the fit (none: a shard without buyers); answer how many."""
    population, snapshot, as_of = _shard_inputs(parts, work, run_id, shard)
    parts = replace(parts, behaviour=ShardBehaviour(work, run_id, shard))
    profiled = snapshot.profiles.filter(pc.invert(refused_profiling(snapshot.profiles)))
    lines = completed_lines(profiled, order_lines(parts, population.document, snapshot, as_of), as_of)
    histories = purchase_histories(lines, as_of) if lines.num_rows else no_histories(day_number(as_of.date()), "days")
    work.write_histories(run_id, shard, histories)
    work.write_table(run_id, f"ranked-{shard}", ranked_values(parts, population, snapshot, as_of))
    work.write_table(run_id, f"intervals-{shard}", interval_counts(purchased_skus(lines)))
    return {"shard": shard, "customers": len(histories)}


def compute_shard(
    parts: SegmentRunParts, work: ShardWork, run_id: str, shard: int, fit: dict[str, Any]
) -> dict[str, Any]:
    """Compute, save and announce the shard's profiles; leave its snapshot part, persona facts and counts."""
    population, snapshot, as_of = _shard_inputs(parts, work, run_id, shard)
    parts = replace(parts, behaviour=ShardBehaviour(work, run_id, shard))
    if parts.predictions is not None:
        parts = replace(parts, predictions=work.fitted(run_id, shard, fit))
    run = SegmentRun(run_id=run_id, computed_at=as_of)
    shards = range(work.read_json(run_id, "population")["shards"])
    population = replace(
        population, ranked=_population_values(work, run_id, population, fit if parts.predictions is not None else None),
        interval_counts=pa.concat_tables([work.read_table(run_id, f"intervals-{other}") for other in shards]),
    )  # fmt: skip
    computed = compute_profiles(parts, population, snapshot, as_of, run)
    key = parts.snapshots.write_part(run_id, as_of, shard, computed.memberships)
    for name in FACT_TABLES:
        work.write_table(run_id, f"facts-{name}-{shard}", getattr(computed.facts, name))
    counts = {"entered": len(run.entered), "exited": len(run.exited), "profiles_saved": run.profiles_saved,
              "conflicts": run.conflicts}  # fmt: skip
    work.write_json(run_id, f"result-{shard}", {**counts, "key": key, "revenue": computed.facts.revenue,
                                                "predictions": run.predictions})  # fmt: skip
    return {"shard": shard, **counts}


def finish_sharded_run(parts: SegmentRunParts, work: ShardWork, run_id: str) -> dict[str, Any]:
    """Add the shards up into the run's report, personas and snapshot (latest.json over every part)."""
    population = work.read_json(run_id, "population")
    as_of = datetime.fromisoformat(population["computed_at"])
    results = [work.read_json(run_id, f"result-{shard}") for shard in range(population["shards"])]
    facts = merged_facts([
        PersonaFacts(**{name: work.read_table(run_id, f"facts-{name}-{shard}") for name in FACT_TABLES},
                     revenue=result["revenue"])
        for shard, result in enumerate(results)
    ])  # fmt: skip
    sizes = dict(sorted(zip(facts.totals["segment"].to_pylist(), facts.totals["members"].to_pylist())))
    report = {**population["report"], "segments": sizes, "predictions": _predictions(results), "shards": len(results)}
    for count in ("entered", "exited", "profiles_saved", "conflicts"):
        report[count] = sum(result[count] for result in results)
    report["personas"] = personas(facts, parts.snapshots.size_history(SIZE_HISTORY_RUNS), sizes, as_of)
    report["snapshot"] = parts.snapshots.publish(run_id, as_of, [result["key"] for result in results], report)
    work.clear(run_id)
    return report


def _shard_inputs(
    parts: SegmentRunParts, work: ShardWork, run_id: str, shard: int
) -> tuple[Population, ProfileSnapshot, datetime]:
    population = work.read_json(run_id, "population")
    document, _ = valid_definitions(parts.library, population["documents"])
    stored = work.read_table(run_id, f"stored-{shard}").to_pylist()
    snapshot = ProfileSnapshot(
        profiles=work.read_table(run_id, f"profiles-{shard}"),
        stored={row["profile_id"]: StoredSegments(frozenset(row["memberships"]), row["version"], row["digest"])
                for row in stored},
        identities=work.read_table(run_id, "identities"),
    )  # fmt: skip
    cut_points = RfmCutPoints.from_item(population["cut_points"])
    return (Population(document, cut_points, population["documents"]), snapshot,
            datetime.fromisoformat(population["computed_at"]))  # fmt: skip


def _population_values(
    work: ShardWork, run_id: str, population: Population, fit: dict[str, Any] | None
) -> dict[str, pa.ChunkedArray]:
    """Every shard's values of the fields `top_percent` ranks: what the histories steps left, and the fit's
    predictions (none when it failed or predictions are off: the field is missing everywhere, as in one run)."""
    names = ranked_fields(population.document)
    shards = range(work.read_json(run_id, "population")["shards"])
    tables = [work.read_table(run_id, f"ranked-{shard}") for shard in shards] if names else []
    values = {name: pa.chunked_array([chunk for table in tables for chunk in table[name].chunks],
                                     tables[0].schema.field(name).type)
              for name in names if name not in NUMBER_PREDICTIONS}  # fmt: skip
    if fit is not None and not fit.get("failed"):
        for name in (name for name in names if name in NUMBER_PREDICTIONS):
            values[name] = pa.chunked_array([pa.array(work.predicted(run_id, shard)[NUMBER_PREDICTIONS[name]], pa.float64())
                                             for shard in shards], pa.float64())  # fmt: skip
    return values


def _stored_table(profile_ids: list[str], stored: dict[str, StoredSegments]) -> pa.Table:
    """What each profile stores from the last run, as far as computing it needs (memberships, version, digest)."""
    rows = [stored.get(profile_id, StoredSegments()) for profile_id in profile_ids]
    return pa.table([pa.array(profile_ids, pa.string()), pa.array([sorted(row.memberships) for row in rows]),
                     pa.array([row.version for row in rows], pa.int64()), pa.array([row.digest for row in rows])],
                    schema=STORED_SCHEMA)  # fmt: skip


def _predictions(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's prediction summary: the fit's parameters and the shards' confidence counts added up (or, when no
    shard predicted, the first shard's reason)."""
    predicted = [result["predictions"] for result in results if "confidence" in result["predictions"]]
    if not predicted:
        return results[0]["predictions"] if results else {}
    confidence: dict[str, int] = {}
    for summary in predicted:
        for flag, count in summary["confidence"].items():
            confidence[flag] = confidence.get(flag, 0) + count
    return {**{key: value for key, value in predicted[0].items() if key != "confidence"},
            "confidence": dict(sorted(confidence.items()))}  # fmt: skip
