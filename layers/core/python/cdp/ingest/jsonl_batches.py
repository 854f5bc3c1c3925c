"""Reads JSON Lines as a stream of batches: one object per physical line, every value as text.

Top-level strings stay as they are, numbers keep their written digits, booleans and null become `true`,
`false` and null, nested objects and arrays become JSON text. A line that is not a JSON object is a malformed
row with its line number, never a reason to refuse the file. Columns are the keys seen so far in the file, in
first-seen order, so a later batch's columns extend an earlier batch's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any

import pyarrow as pa

from cdp.clean.table import Rejection, UnreadableFile
from cdp.ingest.raw_rows import RawRows

INVALID_JSON = "invalid_json"
NOT_AN_OBJECT = "not_a_json_object"


def _json_number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value) if value != value.to_integral_value() else int(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


_DECODER = json.JSONDecoder(parse_float=Decimal)  # Decimal keeps a number's written digits ("12.50")
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_json_number)


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    return _ENCODER.encode(value)


def _lines(utf8_blocks: Iterable[bytes], max_record_bytes: int) -> Iterator[tuple[int, bytes]]:
    """(line number, content) of each non-blank physical line."""
    pending, line = b"", 1
    for block in utf8_blocks:
        parts = (pending + block).split(b"\n")
        pending = parts.pop()
        for part in parts:
            if part.strip():
                yield line, part.rstrip(b"\r")
            line += 1
        if len(pending) > max_record_bytes:
            raise UnreadableFile("record_too_large", f"line {line}: a line over {max_record_bytes} bytes")
    if pending.strip():
        yield line, pending.rstrip(b"\r")


def _batch(
    objects: list[dict[str, Any]], lines: list[int], malformed: list[Rejection], columns: dict[str, None]
) -> RawRows:
    table = pa.table({name: pa.array([_as_text(row.get(name)) for row in objects], pa.string()) for name in columns})
    return RawRows(table=table, lines=pa.array(lines, pa.int64()), malformed=malformed)


def _parsed(line: int, content: bytes, line_faults: Mapping[int, str]) -> dict[str, Any] | Rejection:
    """The line's object, or why it is a malformed row."""
    text = content.decode("utf-8")
    if line in line_faults:
        return Rejection(line, line_faults[line], {"raw": text})
    try:
        value = _DECODER.decode(text)
    except ValueError as error:
        return Rejection(line, INVALID_JSON, {"raw": text, "error": str(error)})
    return value if isinstance(value, dict) else Rejection(line, NOT_AN_OBJECT, {"raw": text})


def read_jsonl_batches(
    utf8_blocks: Iterable[bytes],
    batch_rows: int,
    max_record_bytes: int,
    line_faults: Mapping[int, str] | None = None,
) -> Iterator[RawRows]:
    """Batches of at most batch_rows lines; a line in `line_faults` (filled in as the blocks are read) is
    rejected with its fault."""
    line_faults = {} if line_faults is None else line_faults
    columns: dict[str, None] = {}
    objects: list[dict[str, Any]] = []
    lines: list[int] = []
    malformed: list[Rejection] = []
    seen = 0
    for line, content in _lines(utf8_blocks, max_record_bytes):
        seen += 1
        parsed = _parsed(line, content, line_faults)
        if isinstance(parsed, Rejection):
            malformed.append(parsed)
        else:
            columns.update(dict.fromkeys(parsed))
            objects.append(parsed)
            lines.append(line)
        if len(objects) + len(malformed) >= batch_rows:
            yield _batch(objects, lines, malformed, columns)
            objects, lines, malformed = [], [], []
    if objects or malformed:
        yield _batch(objects, lines, malformed, columns)
    if seen == 0:
        raise UnreadableFile("empty_file")
