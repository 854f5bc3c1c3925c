"""Turns the bytes of a dropped CSV (optionally gzip-compressed) into a table of raw strings with line numbers."""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.csv as pacsv

from cdp.clean.table import Rejection, UnreadableFile

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class RawRows:
    """Every well-formed row as strings, the source line of each, and the malformed rows already rejected."""

    table: pa.Table
    lines: pa.Array
    malformed: list[Rejection]

    @property
    def rows_in(self) -> int:
        return self.table.num_rows + len(self.malformed)


def decompress(data: bytes) -> bytes:
    """Undo gzip when the content says it is gzip (whatever the key's suffix)."""
    if not data.startswith(GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as error:
        raise UnreadableFile("corrupt_gzip", str(error)) from error


def _header(text_start: bytes) -> list[str]:
    first_line = text_start.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        return next(csv.reader([first_line.decode("utf-8")]))
    except UnicodeDecodeError as error:
        raise UnreadableFile("not_utf8", str(error)) from error


def _line_numbers(row_count: int, malformed_lines: list[int]) -> pa.Array:
    """Source line of each well-formed row: data starts on line 2, skipping the malformed lines."""
    skipped = set(malformed_lines)
    lines: list[int] = []
    line = 2
    while len(lines) < row_count:
        if line not in skipped:
            lines.append(line)
        line += 1
    return pa.array(lines, pa.int64())


def read_csv_rows(data: bytes) -> RawRows:
    """Parse CSV bytes as strings only (typing is the cleaner's job); rows with the wrong field count are rejected."""
    content = decompress(data).removeprefix(UTF8_BOM)
    if not content.strip():
        raise UnreadableFile("empty_file")
    header = _header(content)
    if len(set(header)) != len(header) or not all(header):
        raise UnreadableFile("bad_header", ",".join(header))

    malformed: list[Rejection] = []

    def reject_malformed(row: pacsv.InvalidRow) -> str:
        malformed.append(Rejection(line=row.number, reason="malformed_row", row={"raw": row.text}))
        return "skip"

    try:
        table = pacsv.read_csv(
            io.BytesIO(content),
            read_options=pacsv.ReadOptions(use_threads=False, block_size=1 << 22),
            parse_options=pacsv.ParseOptions(invalid_row_handler=reject_malformed),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header}, strings_can_be_null=False
            ),
        )
    except pa.ArrowInvalid as error:
        raise UnreadableFile("unreadable_csv", str(error)) from error
    if table.num_rows == 0 and not malformed:
        raise UnreadableFile("no_rows")
    lines = _line_numbers(table.num_rows, [rejection.line for rejection in malformed if rejection.line])
    return RawRows(table=table, lines=lines, malformed=malformed)
