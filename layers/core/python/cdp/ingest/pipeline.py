"""Ingests one dropped object version, streaming: read -> map -> clean -> dedupe -> quarantine, curated, queued.

Each batch's accepted rows are written as curated Parquet and queued for profiles (`queued_batches`): the profile
updates run on their own function, so a file's own work fits one Lambda however many people it touches.

Nothing is lost: per file rows_in == rows_accepted + rows_quarantined. Every quarantined row is written to
`rows/<entity>/<file id>-<batch>.jsonl` in the quarantine bucket with its line, machine-readable reason and
original content. A whole-file fault (no mapping, bad header, corrupt gzip...) copies the object to
`files/<safe key>` with the reason. When such a fault shows up mid-stream, the batches already accepted stay
accepted (they are valid rows, already curated and applied); the report counts only the rows read, names the
fault and `unread_from_line`, and the whole object is in quarantine. A corrected re-drop then adds just the
missing rows: the earlier ones come back as `duplicate_of_earlier_file`.

Erased people: before anything is stored, every row of the batch (accepted or rejected) is checked against the
erased register in one batched read; a row carrying an erased identifier is counted as quarantined with reason
`erased_subject`, and only its line and reason are written (never its content), so nothing of the person lands in
curated Parquet, quarantine, the natural-key ledger or profiles.

Idempotency: the file ledger lets one invocation claim a version (a lease renewed per batch), a finished version
is never ingested again, curated and quarantine names are deterministic, the natural-key ledger recognises a
retried row as itself, and the profiles' record ledger applies each record once.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from cdp.clean.entities import ENTITIES, EntitySpec
from cdp.clean.table import Rejection, UnreadableFile, clean_table
from cdp.ingest.accounting import FileReport
from cdp.ingest.curated import batch_number, file_id_of, with_lineage, write_curated
from cdp.ingest.file_reader import RawRows, ReadOptions, read_batches
from cdp.ingest.mappings import MANIFEST_SUFFIX, SourceMapping, apply_mapping, manifest_key, mapping_for
from cdp.ingest.ports import FirstSeen, IngestPorts, NaturalKeys, ObjectStore
from cdp.ingest.queued_batches import CuratedBatch, SourceObject
from cdp.ingest.ranges import ByteRange, plan_ranges, whole_object
from cdp.observability import logger
from cdp.privacy.erase_objects import Matcher
from cdp.settings import IngestSettings

DUPLICATE_OF_EARLIER_FILE = "duplicate_of_earlier_file"
DUPLICATE_IN_FILE = "duplicate_in_file"  # as clean_table names duplicates within one batch
ERASED_SUBJECT = "erased_subject"


class FileBeingIngested(RuntimeError):
    """Another invocation holds a live lease on this version: fail, so Lambda retries later and finds it done."""


@dataclass(frozen=True)
class DroppedFile:
    """One object version as an S3 notification names it (version_id is None in unversioned buckets)."""

    bucket: str
    key: str
    version_id: str | None
    etag: str

    @property
    def version(self) -> str:
        """What identifies this content: the version id, else the ETag."""
        return self.version_id or self.etag

    @property
    def file_id(self) -> str:
        return file_id_of(self.bucket, self.key, self.version)

    @property
    def source(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_manifest(key: str) -> bool:
    """A sidecar manifest describes its data file and is not data itself."""
    return key.endswith(MANIFEST_SUFFIX)


def _safe_name(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", key)


def _manifest_of(objects: ObjectStore, dropped: DroppedFile) -> dict[str, Any] | None:
    body = objects.read_small_object(dropped.bucket, manifest_key(dropped.key))
    if body is None:
        return None
    try:
        manifest = json.loads(body)
    except ValueError as error:
        raise UnreadableFile("invalid_manifest", str(error)) from error
    if not isinstance(manifest, dict):
        raise UnreadableFile("invalid_manifest", "a manifest is a JSON object")
    return manifest


def _header_safe(text: str, limit: int) -> str:
    """Printable ASCII only: S3 metadata travels in HTTP headers."""
    return re.sub(r"[^\x20-\x7e]", "?", text[:limit])


def _quarantine_whole_file(
    objects: ObjectStore, settings: IngestSettings, dropped: DroppedFile, fault: UnreadableFile
) -> None:
    objects.copy_object(
        dropped.bucket,
        dropped.key,
        dropped.version_id,
        settings.quarantine_bucket,
        f"files/{_safe_name(dropped.key)}",
        metadata={
            "reason": fault.reason,
            "detail": _header_safe(fault.detail, 500),
            "source-key": _header_safe(dropped.key, 1000),
            "source-version": dropped.version,
        },
    )


def _quarantine_record(dropped: DroppedFile, line: int | None, reason: str, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "source_bucket": dropped.bucket,
        "source_key": dropped.key,
        "source_version": dropped.version,
        "line": line,
        "reason": reason,
        "row": row,
    }


def _erased_record(dropped: DroppedFile, line: int | None) -> dict[str, Any]:
    """An erased person's row in quarantine: where it was and why, never what it held."""
    return {name: value for name, value in _quarantine_record(dropped, line, ERASED_SUBJECT, {}).items() if name != "row"}


def _natural_keys(spec: EntitySpec, accepted: pa.Table) -> list[str]:
    columns = [pc.cast(accepted.column(name), pa.string()) for name in spec.natural_key]
    return pc.binary_join_element_wise(*columns, "#", null_handling="replace").to_pylist()  # type: ignore[no-any-return]


@dataclass
class _FileRun:
    """Everything one pass over a file (or one range of it) needs, and its running report."""

    ports: IngestPorts
    dropped: DroppedFile
    settings: IngestSettings
    now: datetime
    byte_range: ByteRange
    mapping: SourceMapping
    spec: EntitySpec
    keys: NaturalKeys
    report: FileReport

    def lines_of(self, raw: RawRows) -> pa.Array:
        lines = raw.lines.combine_chunks() if isinstance(raw.lines, pa.ChunkedArray) else raw.lines
        return pc.add(lines.cast(pa.int64()), self.byte_range.line_offset)

    def ingest_batch(self, raw: RawRows, batch_index: int) -> None:
        dropped, report, spec = self.dropped, self.report, self.spec
        batch = batch_number(self.byte_range.index, batch_index)
        lines = self.lines_of(raw)
        result = clean_table(spec, apply_mapping(self.mapping, raw.table), lines)

        quarantined = [
            _quarantine_record(dropped, r.line + self.byte_range.line_offset if r.line else r.line, r.reason, r.row)
            for r in raw.malformed
        ]
        quarantined += self._rejected_with_original_rows(raw, lines, result.rejected)
        accepted, quarantined = self._without_erased_people(result.accepted, quarantined)

        duplicates = self.keys.claim(_natural_keys(spec, accepted), accepted.column("source_line").to_pylist())
        if duplicates:
            quarantined += self._duplicates(raw, lines, accepted, duplicates)
            keep = pa.array([index not in duplicates for index in range(accepted.num_rows)], pa.bool_())
            accepted = accepted.filter(keep)

        report.batches += 1
        report.rows_in += raw.table.num_rows + len(raw.malformed)
        report.rows_accepted += accepted.num_rows
        report.rows_quarantined += len(quarantined)
        report.quarantine_reasons = dict(Counter(report.quarantine_reasons) + Counter(r["reason"] for r in quarantined))
        if quarantined:
            self.ports.objects.write_json_lines(
                self.settings.quarantine_bucket, f"rows/{spec.name}/{dropped.file_id}-{batch:06d}.jsonl", quarantined
            )
        if accepted.num_rows:
            curated = with_lineage(accepted, dropped.key, dropped.version)
            days = write_curated(
                self.ports.objects, self.settings.curated_bucket, spec, curated, dropped.file_id, batch, self.now.date()
            )
            self.ports.queue_batch(
                CuratedBatch(
                    source=SourceObject(bucket=dropped.bucket, key=dropped.key, version=dropped.version),
                    entity=spec.name,
                    curated_bucket=self.settings.curated_bucket,
                    file_id=dropped.file_id,
                    batch=batch,
                    days=days,
                    ingested_at=self.now,
                ).model_dump(mode="json")
            )
            report.profile_batches += 1

    def _without_erased_people(
        self, accepted: pa.Table, quarantined: list[dict[str, Any]]
    ) -> tuple[pa.Table, list[dict[str, Any]]]:
        """Accepted rows and quarantine records of erased people become `erased_subject` records without content.

        The distinct identifier values of the accepted rows and every string of the quarantined ones are checked
        against the erased register as it is now (Matcher.of_erased_among: usually one Query of the small register);
        the rows are then matched column-wise against the erased digests found.
        """
        matcher = Matcher.of_erased_among(
            self.ports.erased,
            self.ports.salt,
            accepted,
            [record["row"] for record in quarantined],
            self.settings.default_phone_region,
        )
        if matcher is None:
            return accepted, quarantined
        kept = [
            _erased_record(self.dropped, record["line"]) if matcher.record_matches(record["row"]) else record
            for record in quarantined
        ]
        mask = matcher.table_mask(accepted)
        kept += [_erased_record(self.dropped, line) for line in pc.filter(accepted.column("source_line"), mask).to_pylist()]
        return accepted.filter(pc.invert(mask)), kept

    def _original_rows(self, raw: RawRows, lines: pa.Array, wanted: list[int]) -> list[dict[str, Any]]:
        positions = pc.index_in(pa.array(wanted, pa.int64()), value_set=lines)
        return raw.table.take(positions).to_pylist()  # type: ignore[no-any-return]

    def _rejected_with_original_rows(
        self, raw: RawRows, lines: pa.Array, rejected: list[Rejection]
    ) -> list[dict[str, Any]]:
        originals = self._original_rows(raw, lines, [rejection.line or 0 for rejection in rejected])
        return [
            _quarantine_record(self.dropped, rejection.line, rejection.reason, original)
            for rejection, original in zip(rejected, originals)
        ]

    def _duplicates(
        self, raw: RawRows, lines: pa.Array, accepted: pa.Table, duplicates: dict[int, FirstSeen]
    ) -> list[dict[str, Any]]:
        accepted_lines = accepted.column("source_line").to_pylist()
        indexes = sorted(duplicates)
        originals = self._original_rows(raw, lines, [accepted_lines[index] for index in indexes])
        records = []
        for index, original in zip(indexes, originals):
            first = duplicates[index]
            reason = DUPLICATE_IN_FILE if first.file_id == self.dropped.file_id else DUPLICATE_OF_EARLIER_FILE
            record = _quarantine_record(self.dropped, accepted_lines[index], reason, original)
            record["duplicate_of"] = {
                "source_key": first.source_key,
                "source_version": first.source_version,
                "line": first.line,
            }
            records.append(record)
        return records


def ingest_range(
    ports: IngestPorts,
    dropped: DroppedFile,
    settings: IngestSettings,
    now: datetime,
    byte_range: ByteRange,
    renew_lease: Callable[[], None] = lambda: None,
) -> FileReport:
    """Read one byte range of the object (the whole object on the single-function path) batch by batch."""
    report = FileReport(key=dropped.key, entity=None, version=dropped.version, file_id=dropped.file_id)
    read_up_to_line = byte_range.line_offset
    run: _FileRun | None = None
    try:
        mapping = mapping_for(dropped.key, _manifest_of(ports.objects, dropped)).with_phone_region(settings.default_phone_region)
        spec = ENTITIES[mapping.entity]
        report.entity = spec.name
        run = _FileRun(
            ports=ports,
            dropped=dropped,
            settings=settings,
            now=now,
            byte_range=byte_range,
            mapping=mapping,
            spec=spec,
            keys=ports.natural_keys(spec.name, FirstSeen(dropped.file_id, dropped.key, dropped.version, 0), now),
            report=report,
        )
        ranges: list[tuple[int, int | None]] = [(0, byte_range.header_end - 1)] if byte_range.header_end else []
        if byte_range.start or byte_range.end is not None:
            ranges.append((byte_range.start, byte_range.end))
        with ports.objects.open_object(dropped.bucket, dropped.key, dropped.version_id, ranges or None) as stream:
            declared = {**mapping.read_options, **byte_range.read_options}  # as the planner chose for every range
            options = ReadOptions.for_key(dropped.key, declared, batch_bytes=settings.batch_bytes)
            for batch_index, raw in enumerate(read_batches(stream, options)):
                try:
                    run.ingest_batch(raw, batch_index)
                except UnreadableFile as fault:  # e.g. the columns the mapping needs are not in the file
                    report.count_quarantined(Counter({fault.reason: raw.table.num_rows + len(raw.malformed)}))
                    raise
                last_line = pc.max(run.lines_of(raw)).as_py()
                read_up_to_line = max(read_up_to_line, last_line or 0)
                renew_lease()
    except UnreadableFile as fault:
        _quarantine_whole_file(ports.objects, settings, dropped, fault)
        report.file_error, report.file_error_detail = fault.reason, fault.detail or None
        report.unread_from_line = read_up_to_line + 1
        logger.warning(
            "file quarantined whole", extra={"key": dropped.key, "reason": fault.reason, "detail": fault.detail}
        )
    if run is not None:
        report.natural_key_read_requests = run.keys.read_requests
        report.natural_key_write_requests = run.keys.write_requests
    report.check()
    return report


def ingest_dropped_file(
    ports: IngestPorts, dropped: DroppedFile, settings: IngestSettings, now: datetime, owner: str
) -> FileReport:
    """Ingest one object version exactly once: itself, or (above the size threshold) through the state machine."""
    ledger = ports.files
    size = ports.objects.object_size(dropped.bucket, dropped.key, dropped.version_id)
    large = size > settings.large_file_threshold_bytes and bool(settings.large_file_state_machine_arn)
    if large:
        owner = large_file_owner(dropped)
    lease = timedelta(seconds=settings.large_file_lease_seconds if large else settings.file_lease_seconds)
    claim = ledger.claim(dropped.bucket, dropped.key, dropped.version, owner, now, lease)
    if claim.state == "done":
        logger.info("file already ingested", extra={"key": dropped.key})
        return FileReport.from_dict({**(claim.report or {}), "duplicate_delivery": True})
    if claim.state == "busy":
        raise FileBeingIngested(f"{dropped.key}@{dropped.version} is being ingested by another invocation")
    if large:
        execution = ports.start_large_file(dropped.file_id, {"file": dropped.as_dict()})
        logger.info("large file handed to the state machine", extra={"key": dropped.key, "size": size})
        return FileReport(
            key=dropped.key,
            entity=None,
            version=dropped.version,
            file_id=dropped.file_id,
            large_file_execution=execution,
        )
    try:
        report = ingest_range(
            ports,
            dropped,
            settings,
            now,
            whole_object(),
            lambda: ledger.renew(dropped.bucket, dropped.key, dropped.version, owner, datetime.now(now.tzinfo), lease),
        )
    except Exception:
        ledger.release(dropped.bucket, dropped.key, dropped.version, owner)  # Lambda's retry may start at once
        raise
    ledger.finish(dropped.bucket, dropped.key, dropped.version, owner, report.as_dict())
    logger.info("file ingested", extra=report.as_dict())
    return report


# ---------------------------------------------------------------------------- large files (state machine steps)
def large_file_owner(dropped: DroppedFile) -> str:
    """The execution that owns a large file's claim (its name is the file id, so a redelivery cannot start another)."""
    return f"execution:{dropped.file_id}"


def plan_file_ranges(ports: IngestPorts, dropped: DroppedFile, settings: IngestSettings) -> list[ByteRange]:
    """Split the object into ranges of about INGEST_RANGE_BYTES at record starts (one range if it cannot be split,
    or if its mapping or declared options are at fault: that range's ingest then reports the fault)."""
    size = ports.objects.object_size(dropped.bucket, dropped.key, dropped.version_id)
    try:
        declared = mapping_for(dropped.key, _manifest_of(ports.objects, dropped)).read_options
        options = ReadOptions.for_key(dropped.key, declared, batch_bytes=settings.batch_bytes)
    except UnreadableFile:
        return [whole_object()]
    with ports.objects.open_object(dropped.bucket, dropped.key, dropped.version_id) as stream:
        return plan_ranges(stream, size, settings.range_bytes, options)


def ingest_file_range(
    ports: IngestPorts, dropped: DroppedFile, settings: IngestSettings, now: datetime, byte_range: ByteRange
) -> FileReport:
    """One Map item: ingest the range and record its accounting (a retried range overwrites its record)."""
    report = ingest_range(ports, dropped, settings, now, byte_range)
    ports.files.record_range(
        dropped.bucket, dropped.key, dropped.version, byte_range.index, report.as_dict()
    )
    return report


def finish_large_file(
    ports: IngestPorts, dropped: DroppedFile, settings: IngestSettings, error: str | None
) -> FileReport:
    """Sum the recorded range reports into the file's report and finish the claim. A failed execution is recorded
    with its error and the whole file quarantined; ranges that never finished are then missing from the sums."""
    ledger = ports.files
    report = FileReport(key=dropped.key, entity=None, version=dropped.version, file_id=dropped.file_id, ranges=0)
    for range_report in ledger.range_reports(dropped.bucket, dropped.key, dropped.version):
        part = FileReport.from_dict(range_report)
        report.entity = report.entity or part.entity
        report.add(part)
        report.ranges += 1
    if error is not None and report.file_error is None:
        fault = UnreadableFile("large_file_failed", error)
        _quarantine_whole_file(ports.objects, settings, dropped, fault)
        report.file_error = fault.reason
    report.check()
    ledger.finish(dropped.bucket, dropped.key, dropped.version, large_file_owner(dropped), report.as_dict())
    logger.info("large file ingested", extra=report.as_dict())
    return report
