"""Plans a large object's split into byte ranges that start on line starts, each with its first line number.

Only uncompressed line formats (CSV, JSONL) can be split; gzip and Parquet objects become one range. A CSV range
after the first is read with the header line prepended, so it parses alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, BinaryIO

SCAN_CHUNK_BYTES = 8 << 20
UNSPLITTABLE_MAGIC = (b"\x1f\x8b", b"PAR1", b"BZh", b"\x28\xb5\x2f\xfd", b"PK\x03\x04")
UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class ByteRange:
    """Bytes [start, end] of the object (end None: to its end); `line_offset` turns the reader's line numbers
    into the file's."""

    index: int
    start: int
    end: int | None
    line_offset: int = 0
    header_end: int = 0  # prepend bytes [0, header_end) when reading this range (0: nothing)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def whole_object() -> ByteRange:
    return ByteRange(index=0, start=0, end=None)


def _header_end(first_chunk: bytes) -> int:
    """Length of the CSV header line including its newline; 0 for JSON lines (no header)."""
    first_line_end = first_chunk.find(b"\n")
    first_line = first_chunk[: first_line_end if first_line_end >= 0 else len(first_chunk)]
    if first_line.removeprefix(UTF8_BOM).lstrip().startswith((b"{", b"[")) or first_line_end < 0:
        return 0
    return first_line_end + 1


def plan_ranges(stream: BinaryIO, size: int, range_bytes: int) -> list[ByteRange]:
    """Scan the object once (counting newlines, never holding more than a chunk) and cut it near every range_bytes."""
    first_chunk = stream.read(SCAN_CHUNK_BYTES)
    if size <= range_bytes or first_chunk.startswith(UNSPLITTABLE_MAGIC):
        return [whole_object()]
    header_end = _header_end(first_chunk)
    header_lines = 1 if header_end else 0
    cuts: list[tuple[int, int]] = [(0, 0)]  # (byte where a range starts, physical lines before it)
    offset, lines_before, target = 0, 0, range_bytes
    chunk = first_chunk
    while chunk:
        search_from = max(target - offset, 0)
        while search_from < len(chunk):
            newline = chunk.find(b"\n", search_from)
            if newline < 0:
                break
            boundary = offset + newline + 1
            if boundary < size:
                cuts.append((boundary, lines_before + chunk.count(b"\n", 0, newline + 1)))
            target = boundary + range_bytes
            search_from = target - offset
        lines_before += chunk.count(b"\n")
        offset += len(chunk)
        chunk = stream.read(SCAN_CHUNK_BYTES)
    ends: list[int | None] = [start - 1 for start, _ in cuts[1:]] + [None]
    return [
        ByteRange(
            index=index,
            start=start,
            end=end,
            line_offset=0 if index == 0 else lines - header_lines,
            header_end=0 if index == 0 else header_end,
        )
        for index, ((start, lines), end) in enumerate(zip(cuts, ends))
    ]
