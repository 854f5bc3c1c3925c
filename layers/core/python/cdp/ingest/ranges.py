"""Plans a large object's split into byte ranges that start on record starts, each with its first line number.

Only uncompressed text (CSV, JSON Lines) is split; gzip and Parquet objects, and text whose start the reader
would refuse, are one range (whose reader reports the fault). The planner reads the object once, start to end, in
chunks of SCAN_CHUNK_BYTES, and cuts only where the reader's own CSV framing (`CsvFramer.record_start`: a quote
opens a field only at a field start, a doubled quote inside is literal) says a record starts, so a quoted field
holding newlines is never cut. Counting quote bytes (parity) would be faster but goes wrong for good after the
first stray quote inside an unquoted field (`5" screen`), which pyarrow reads as a literal quote.

The encoding and delimiter are chosen once, from the object's first block as the single-function read would
choose them, and every range carries them, so no range guesses on its own. A CSV range after the first is read
with the header prepended. GBK and GB18030 are framed on the raw bytes, which is exact because the quote, the
newline and the usual delimiters (, ; tab) are never part of a multi-byte character there; a delimiter that can
be (`|`, letters, digits) leaves such a file in one range.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, BinaryIO

from cdp.clean.table import UnreadableFile
from cdp.ingest.byte_stream import UTF8_BOM, read_fully
from cdp.ingest.csv_batches import CsvFramer
from cdp.ingest.file_reader import ReadOptions, TextLayout, text_layout
from cdp.ingest.sniff import format_of_content

SCAN_CHUNK_BYTES = 8 << 20
UNSPLITTABLE_MAGIC = (b"\x1f\x8b", b"PAR1", b"BZh", b"\x28\xb5\x2f\xfd", b"PK\x03\x04")


@dataclass(frozen=True)
class ByteRange:
    """Bytes [start, end] of the object (end None: to its end); `line_offset` turns the reader's line numbers
    into the file's; format, encoding and delimiter (None: detect) are how every range of the file is read."""

    index: int
    start: int
    end: int | None
    line_offset: int = 0
    header_end: int = 0  # prepend bytes [0, header_end) when reading this range (0: nothing)
    format: str | None = None
    encoding: str | None = None
    delimiter: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def read_options(self) -> dict[str, Any]:
        """The values the planner chose, as a source mapping declares them (`ReadOptions.declared`). The encoding
        was checked on the object's start: a later range's text that does not decode is a fault of its rows."""
        chosen = {"format": self.format, "encoding": self.encoding, "delimiter": self.delimiter}
        options: dict[str, Any] = {name: value for name, value in chosen.items() if value is not None}
        return {**options, "check_encoding": False} if self.index and self.encoding else options


def whole_object() -> ByteRange:
    return ByteRange(index=0, start=0, end=None)


def _raw_bytes_frame_exactly(layout: TextLayout, quote_char: str | None) -> bool:
    """Whether framing the raw bytes finds the same records as framing the UTF-8 the reader transcodes to: in
    UTF-8 trivially; in GBK/GB18030 when neither the delimiter nor the quote can be a character's later byte
    (0x30-0x39 in GB18030's four-byte characters, 0x40-0x7E and 0x80-0xFE in two-byte ones)."""
    if layout.encoding == "utf-8":
        return True
    return all(ord(char) < 0x30 or 0x3A <= ord(char) < 0x40 for char in (layout.delimiter, quote_char) if char)


def _is_blank(record: bytes, file_format: str) -> bool:
    """A record the reader skips (so a range must not consist of such records alone)."""
    return not record.strip() if file_format == "jsonl" else record in (b"", b"\r")


def _header_end(data: bytes, framer: CsvFramer) -> int | None:
    """The end of the first non-blank record (blank lines before it are read with it); None past `data`."""
    position = len(UTF8_BOM) if data.startswith(UTF8_BOM) else 0
    while True:
        following, complete = framer.record_start(data, position, position + 1)
        if not complete:
            return None
        if not _is_blank(data[position : following - 1], "csv"):
            return following
        position = following


def plan_ranges(stream: BinaryIO, size: int, range_bytes: int, options: ReadOptions | None = None) -> list[ByteRange]:
    """Scan the object once (never holding more than a chunk and one unfinished record) and cut it at the first
    non-blank record start at or after every range_bytes, so each range holds at least one record."""
    chosen = options or ReadOptions()
    first = read_fully(stream, max(SCAN_CHUNK_BYTES, chosen.batch_bytes))
    file_format = chosen.format or format_of_content(first)
    if size <= range_bytes or first.startswith(UNSPLITTABLE_MAGIC) or file_format == "parquet":
        return [whole_object()]
    try:
        layout = text_layout(first[: chosen.batch_bytes], chosen, file_format, complete=size <= chosen.batch_bytes)
    except UnreadableFile:
        return [whole_object()]
    quote_char = chosen.quote_char if layout.delimiter else None
    if not _raw_bytes_frame_exactly(layout, quote_char):
        return [whole_object()]
    framer = CsvFramer(layout.delimiter or ",", quote_char, batch_rows=1, max_record_bytes=chosen.max_record_bytes)
    header_end = _header_end(first, framer) if layout.delimiter else 0
    if header_end is None:
        return [whole_object()]

    cuts: list[tuple[int, int]] = [(0, 0)]  # (byte where a range starts, physical lines before it)
    data, data_start = first, 0
    counted_to, lines_counted = 0, 0  # newlines in the object before data[counted_to]
    position, target = header_end, range_bytes
    range_has_record = False
    while True:
        wanted = max(target - data_start, position) if range_has_record else position  # find range 0's first record
        start, found = framer.record_start(data, position, wanted)
        following, complete = framer.record_start(data, start, start + 1) if found else (start, False)
        if not complete:  # the record at `start` goes on past this chunk: keep it, read on
            chunk = read_fully(stream, SCAN_CHUNK_BYTES)
            if not chunk or len(data) - start > chosen.max_record_bytes:  # the end, or a record the reader refuses
                break
            lines_counted += data.count(b"\n", counted_to, start)
            data, data_start, counted_to, position = data[start:] + chunk, data_start + start, 0, 0
            continue
        position = following
        if _is_blank(data[start : following - 1], layout.format):
            continue
        if range_has_record and data_start + start >= target:
            lines_counted += data.count(b"\n", counted_to, start)
            counted_to = start
            cuts.append((data_start + start, lines_counted))
            target = data_start + start + range_bytes
        range_has_record = True

    header_lines = first.count(b"\n", 0, header_end)
    ends: list[int | None] = [start - 1 for start, _ in cuts[1:]] + [None]
    return [
        ByteRange(
            index=index,
            start=start,
            end=end,
            line_offset=0 if index == 0 else lines - header_lines,
            header_end=0 if index == 0 else header_end,
            format=layout.format,
            encoding=layout.encoding,
            delimiter=layout.delimiter,
        )
        for index, ((start, lines), end) in enumerate(zip(cuts, ends))
    ]
