"""Erasure, S3 part (batch function, pyarrow): a person's rows removed from every object version that holds them.

Matching is by salted digest, so the request carries no PII: a row matches when one of its identifier values,
normalised as identity resolution stores it, hashes to an erased digest.
- Curated Parquet: each affected key is rewritten from its latest version without the matching rows (or removed
  when none remain), and every older version of that key is deleted.
- Quarantine: `rows/...jsonl` records likewise rewritten without the matching records; whole-file quarantine
  objects (`files/...`) that hold the person are deleted with all their versions.
- Data-request exports (`*.json` in the exports bucket): deleted with all their versions when they hold the person.
- Raw drops: deleted with all their versions, not rewritten. A rewrite would be a new ObjectCreated and re-run the
  ingest; the curated Parquet keeps everyone else's rows, and raw drops expire after 90 days anyway.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cdp.errors import NotFound
from cdp.identity.rules import DEFAULT_RULES
from cdp.privacy.erasure import ERASABLE_COLUMNS, identifier_digest, record_digests, record_strings
from cdp.privacy.ports import ErasedRegister, PersonalData, VersionedObjects

GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class ObjectErasure:
    """What the S3 part changed, per bucket role."""

    versions_deleted: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    objects_rewritten: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    rows_removed: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {
            "versions_deleted": dict(self.versions_deleted),
            "objects_rewritten": dict(self.objects_rewritten),
            "rows_removed": dict(self.rows_removed),
        }


class Matcher:
    """Does a value (of a known or unknown identifier type) hash to an erased digest?"""

    def __init__(self, salt: str, digests: Iterable[str], phone_region: str) -> None:
        self.salt = salt
        self.digests = frozenset(digests)
        self.phone_region = phone_region  # how a national phone number in a raw or quarantined row is read

    def value_matches(self, value: object, types: Iterable[str] = ERASABLE_COLUMNS) -> bool:
        for identifier_type in types:
            identifier = DEFAULT_RULES.normalise(identifier_type, value, self.phone_region)
            if identifier is not None and identifier_digest(self.salt, identifier) in self.digests:
                return True
        return False

    def record_matches(self, record: Any) -> bool:
        """Any string anywhere in a JSON-like record (a quarantined row, whatever its column names)."""
        if isinstance(record, dict):
            return any(self.record_matches(value) for value in record.values())
        if isinstance(record, list):
            return any(self.record_matches(value) for value in record)
        return isinstance(record, str) and self.value_matches(record)

    @staticmethod
    def candidate_digests(salt: str, table: pa.Table, phone_region: str) -> set[str]:
        """Digests of the distinct values of the table's identifier columns: what to look up in the erased register
        before matching the table against the digests found."""
        digests: set[str] = set()
        for name in (name for name in ERASABLE_COLUMNS if name in table.column_names):
            values = pc.unique(table.column(name).cast(pa.string())).drop_null().to_pylist()
            identifiers = (DEFAULT_RULES.normalise(name, value, phone_region) for value in values)
            digests.update(identifier_digest(salt, identifier) for identifier in identifiers if identifier is not None)
        return digests

    @classmethod
    def of_erased_among(
        cls, store: ErasedRegister, salt: str, table: pa.Table, records: list[Any], phone_region: str
    ) -> Matcher | None:
        """A matcher of the erased people among the table's identifier values and every string of the records
        (strongly consistent), or None when none of them is erased.

        The register is read whole when that costs less than looking up every candidate digest (erasures are
        rare, so it usually does): an empty register then settles it without digesting a value, and a small one is
        matched against the digests locally. Otherwise the digests are looked up by key."""
        distinct = sum(pc.count_distinct(table.column(name)).as_py() for name in ERASABLE_COLUMNS if name in table.column_names)
        strings = sum(1 for record in records for _ in record_strings(record))
        if not distinct + strings:
            return None
        register = store.erased_register(distinct + strings * len(ERASABLE_COLUMNS))
        if register is not None and not register:
            return None
        candidates = cls.candidate_digests(salt, table, phone_region).union(
            *(record_digests(salt, record, phone_region) for record in records)
        )
        erased = candidates & register if register is not None else store.erased_by_key(candidates)
        return cls(salt, erased, phone_region) if erased else None

    def table_mask(self, table: pa.Table) -> pa.Array:
        """True for rows whose identifier columns hold an erased value (digests of distinct values only)."""
        mask = pa.array([False] * table.num_rows)
        for name in ERASABLE_COLUMNS:
            if name not in table.column_names:
                continue
            column = table.column(name).cast(pa.string())
            erased = [value for value in pc.unique(column).to_pylist() if self.value_matches(value, (name,))]
            if erased:
                mask = pc.or_(mask, pc.fill_null(pc.is_in(column, value_set=pa.array(erased, pa.string())), False))
        return mask


def _text(body: bytes) -> str:
    return (gzip.decompress(body) if body[:2] == GZIP_MAGIC else body).decode("utf-8", errors="replace")


def _delimited_text_matches(matcher: Matcher, body: bytes) -> bool:
    """A CSV-like drop holds the person when any of its cells is an erased identifier."""
    try:
        text = _text(body)
    except (OSError, EOFError):
        return False
    return any(matcher.value_matches(cell) for row in csv.reader(io.StringIO(text)) for cell in row)


def _versions_by_key(objects: VersionedObjects, bucket: str) -> dict[str, list[dict[str, Any]]]:
    by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for version in objects.object_versions(bucket):
        by_key[version["Key"]].append(version)
    return by_key


def _latest_body(objects: VersionedObjects, bucket: str, versions: list[dict[str, Any]]) -> bytes | None:
    latest = next((v for v in versions if v.get("IsLatest") and "Size" in v), None)
    return objects.open_object(bucket, latest["Key"], latest["VersionId"]).read() if latest else None


def _all_versions(versions: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(version["Key"], version["VersionId"]) for version in versions]


def erase_raw(objects: VersionedObjects, bucket: str, matcher: Matcher, result: ObjectErasure) -> None:
    for key, versions in _versions_by_key(objects, bucket).items():
        bodies = (objects.open_object(bucket, key, v["VersionId"]).read() for v in versions if "Size" in v)
        if any(_delimited_text_matches(matcher, body) for body in bodies):
            result.versions_deleted["raw"] += objects.delete_versions(bucket, _all_versions(versions))


def _parquet_holds(matcher: Matcher, body: bytes) -> bool:
    return bool(pc.any(matcher.table_mask(pq.read_table(io.BytesIO(body)))).as_py())


def erase_curated(objects: VersionedObjects, bucket: str, matcher: Matcher, result: ObjectErasure) -> None:
    for key, versions in _versions_by_key(objects, bucket).items():
        if not key.endswith(".parquet"):
            continue
        bodies = [objects.open_object(bucket, key, v["VersionId"]).read() for v in versions if "Size" in v]
        if not any(_parquet_holds(matcher, body) for body in bodies):
            continue
        latest = _latest_body(objects, bucket, versions)
        objects.delete_versions(bucket, _all_versions(versions))
        result.versions_deleted["curated"] += len(versions)
        if latest is None:
            continue
        table = pq.read_table(io.BytesIO(latest))
        mask = matcher.table_mask(table)
        kept = table.filter(pc.invert(mask))
        result.rows_removed["curated"] += table.num_rows - kept.num_rows
        if kept.num_rows:
            objects.write_parquet(bucket, key, kept)
            result.objects_rewritten["curated"] += 1


def erase_quarantine(objects: VersionedObjects, bucket: str, matcher: Matcher, result: ObjectErasure) -> None:
    for key, versions in _versions_by_key(objects, bucket).items():
        bodies = [objects.open_object(bucket, key, v["VersionId"]).read() for v in versions if "Size" in v]
        if key.endswith(".jsonl"):
            holds = any(matcher.record_matches(json.loads(line)) for body in bodies for line in _text(body).splitlines() if line.strip())
        else:
            holds = any(_delimited_text_matches(matcher, body) for body in bodies)
        if not holds:
            continue
        latest = _latest_body(objects, bucket, versions)
        result.versions_deleted["quarantine"] += objects.delete_versions(bucket, _all_versions(versions))
        if latest is None or not key.endswith(".jsonl"):
            continue
        records = [json.loads(line) for line in _text(latest).splitlines() if line.strip()]
        kept = [record for record in records if not matcher.record_matches(record)]
        result.rows_removed["quarantine"] += len(records) - len(kept)
        if kept:
            objects.write_json_lines(bucket, key, kept)
            result.objects_rewritten["quarantine"] += 1


def _export_holds(matcher: Matcher, document: Any) -> bool:
    """An export (cdp.privacy.export documents, under `profiles`) names its people's identifiers as `type#value`."""
    profiles = document.get("profiles", []) if isinstance(document, dict) else []
    identifiers = (str(text).split("#", 1) for profile in profiles for text in profile.get("identifiers", []))
    return any(matcher.value_matches(value, (kind,)) for kind, value in identifiers) or matcher.record_matches(document)


def erase_exports(objects: VersionedObjects, bucket: str, matcher: Matcher, result: ObjectErasure) -> None:
    for key, versions in _versions_by_key(objects, bucket).items():
        bodies = [objects.open_object(bucket, key, v["VersionId"]).read() for v in versions if "Size" in v]
        if key.endswith(".json") and any(_export_holds(matcher, json.loads(body)) for body in bodies):
            result.versions_deleted["exports"] += objects.delete_versions(bucket, _all_versions(versions))


def erase_objects(
    objects: VersionedObjects,
    salt: str,
    digests: Iterable[str],
    raw: str,
    curated: str,
    quarantine: str,
    exports: str,
    phone_region: str,
) -> ObjectErasure:
    """Remove the person (by identifier digests) from every version of every object in the four buckets (national
    phone numbers in raw rows read in `phone_region`)."""
    matcher = Matcher(salt, digests, phone_region)
    result = ObjectErasure()
    erase_raw(objects, raw, matcher, result)
    erase_curated(objects, curated, matcher, result)
    erase_quarantine(objects, quarantine, matcher, result)
    erase_exports(objects, exports, matcher, result)
    return result


@dataclass(frozen=True)
class ErasedBuckets:
    """The four buckets a person's rows are removed from."""

    raw: str
    curated: str
    quarantine: str
    exports: str


def complete_erasure(
    store: PersonalData,
    objects: VersionedObjects,
    salt: str,
    erasure_id: str,
    buckets: ErasedBuckets,
    now: datetime,
    phone_region: str,
) -> ObjectErasure:
    """The S3 part of an erasure: remove its digests' rows from every object (national phone numbers read in
    `phone_region`), then mark it completed."""
    erasure = store.get_erasure(erasure_id)
    if erasure is None:
        raise NotFound(f"no erasure {erasure_id}")
    result = erase_objects(
        objects,
        salt,
        erasure["identifier_digests"],
        buckets.raw,
        buckets.curated,
        buckets.quarantine,
        buckets.exports,
        phone_region,
    )
    store.update_erasure(erasure_id, {"status": "completed", "completed_at": now.isoformat(), "objects": result.as_dict()})
    return result
