"""Reads CSV as a stream of batches: whole records cut from UTF-8 blocks, each with the physical line it starts on.

pyarrow's streaming reader (`open_csv`) does not say where a row starts, and its row numbers count records, not
lines, once a quoted field holds a newline. So records are framed here (split on newlines, quotes followed as
pyarrow's parser sees them) and each batch of records is parsed by pyarrow's `read_csv`. The parsed row count is
checked against the framed record count; a batch holding a bare carriage return (which pyarrow takes for a line
end) or where the counts disagree is parsed record by record instead, so a line number is never guessed.
"""

from __future__ import annotations

import bisect
import csv
import io
import itertools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.csv as pacsv

from cdp.clean.table import Rejection, UnreadableFile
from cdp.ingest.raw_rows import RawRows

NEWLINE, CARRIAGE_RETURN = 10, 13
MALFORMED_ROW = "malformed_row"
UNTERMINATED_QUOTE = "unterminated_quote"
RUN_LINES = 128  # lines matched per regex call: bounds the regex engine's backtracking memory


@dataclass(frozen=True)
class Records:
    """Whole non-empty CSV records (a record spanning lines keeps its inner newlines) and each one's start line."""

    records: list[bytes]
    lines: list[int]
    unterminated: bool = False  # the last record ends (at the end of the file) inside an open quote

    def text(self, index: int) -> str:
        return self.records[index].removesuffix(b"\r").decode("utf-8")


def _records_pattern(delimiter: bytes, quote: bytes, most: int, quoted_newlines: bool) -> re.Pattern[bytes]:
    """Up to `most` whole records whose quotes all open at a field start and close in the record (on the line
    they open on, unless quoted_newlines). Possessive quantifiers: no backtracking."""
    d, q = re.escape(delimiter), re.escape(quote)
    inside = b"[^%s]" % q if quoted_newlines else b"[^%s\n]" % q
    field = b"(?:%s%s*+(?:%s%s%s*+)*+%s[^%s%s\n]*+|[^%s%s\n]*+)" % (q, inside, q, q, inside, q, q, d, d, q)
    return re.compile(b"(?:%s(?:%s%s)*+\n){0,%d}" % (field, d, field, most))


class CsvFramer:
    """Cuts a stream of UTF-8 blocks into batches of whole records, with the physical line each starts on.

    A newline ends a record unless it lies inside a quoted field, by pyarrow's rules: a quote opens a quoted
    field only at a field start; inside one, a doubled quote is a literal quote and a single quote closes it.
    Lines without quotes, or matching one well-quoted record, are taken whole (C speed); only the others are
    walked quote by quote. Never holds more than one block plus one unfinished record, and refuses a record
    longer than `max_record_bytes` (an unterminated quote would otherwise swallow the file).
    """

    def __init__(self, delimiter: str, quote_char: str | None, batch_rows: int, max_record_bytes: int) -> None:
        self._quote = quote_char.encode() if quote_char else None
        self._field_starts = {ord(delimiter), NEWLINE, CARRIAGE_RETURN}
        quote, separator = self._quote, delimiter.encode()
        self._single_line_records = _records_pattern(separator, quote, RUN_LINES, False) if quote else None
        self._records = _records_pattern(separator, quote, RUN_LINES, True) if quote else None  # record_start's
        self._record = _records_pattern(separator, quote, 1, True) if quote else None
        self._batch_rows = batch_rows
        self._max_record_bytes = max_record_bytes

    def _still_quoted(self, line: bytes, inside: bool) -> bool:
        """Whether a quoted field is open at the end of `line`, given whether one was open at its start."""
        assert self._quote is not None
        quote = self._quote[0]
        position = line.find(self._quote)
        while position >= 0:
            if inside:
                if position + 1 < len(line) and line[position + 1] == quote:
                    position += 1
                else:
                    inside = False
            elif position == 0 or line[position - 1] in self._field_starts:
                inside = True
            position = line.find(self._quote, position + 1)
        return inside

    def frames(self, blocks: Iterable[bytes]) -> Iterator[Records]:
        """Batches of at most `batch_rows` non-empty records; the last record may lack its newline."""
        pending, line = b"", 1
        for block in blocks:
            records, lines, pending, line = self._cut(pending + block, line)
            for first in range(0, len(records), self._batch_rows):
                yield Records(records[first : first + self._batch_rows], lines[first : first + self._batch_rows])
            if len(pending) > self._max_record_bytes:
                raise UnreadableFile(
                    "record_too_large",
                    f"line {line}: a record over {self._max_record_bytes} bytes (unterminated quote?)",
                )
        if pending.strip(b"\r\n"):
            inside = False
            for part in pending.split(b"\n"):
                inside = self._quote is not None and self._still_quoted(part, inside)
            yield Records([pending.removesuffix(b"\n")], [line], unterminated=inside)

    def record_start(self, data: bytes, position: int, target: int) -> tuple[int, bool]:
        """The first record start at or after `target` in `data`, walking whole records from the record start
        `position` by the same rules as `frames`: (that start, True); or, when `data` ends first, (the start of
        its unfinished last record, False). Lines without a quote are skipped at C speed (find), so the cost
        is one pass over the bytes plus a regex over the lines that hold quotes."""
        while position < target:
            if position >= len(data):
                return position, False
            quote_at = data.find(self._quote, position) if self._quote else -1
            plain_end = len(data) if quote_at < 0 else data.rfind(b"\n", position, quote_at) + 1
            if plain_end > position:  # whole lines without quotes: each ends a record
                newline = data.find(b"\n", max(position, target - 1), plain_end)
                if newline >= 0:
                    return newline + 1, True
                position = max(position, data.rfind(b"\n", position, plain_end) + 1)
                if quote_at < 0:
                    return position, False
                continue
            assert self._records is not None and self._record is not None
            run = self._records.match(data, position)
            if run and run.end() > position:  # whole well-quoted records, quoted newlines and all
                if run.end() < target:
                    position = run.end()
                    continue
                while position < target:
                    record = self._record.match(data, position)
                    assert record is not None
                    position = record.end()
                return position, True
            record_end = data.find(b"\n", position)
            inside = record_end >= 0 and self._still_quoted(data[position:record_end], inside=False)
            while inside:
                line_start, record_end = record_end + 1, data.find(b"\n", record_end + 1)
                inside = record_end >= 0 and self._still_quoted(data[line_start:record_end], inside=True)
            if record_end < 0:
                return position, False
            position = record_end + 1
        return position, True

    @staticmethod
    def _non_empty(parts: list[bytes], line: int) -> tuple[list[bytes], list[int]]:
        lines = [number for number, part in enumerate(parts, line) if part and part != b"\r"]
        return [part for part in parts if part and part != b"\r"], lines

    def _cut(self, data: bytes, line: int) -> tuple[list[bytes], list[int], bytes, int]:
        """The whole records in `data` with their lines, and the rest (an unfinished record) with its line."""
        if self._quote is None or self._single_line_records is None or self._quote not in data:
            parts = data.split(b"\n")
            rest = parts.pop()
            records, lines = self._non_empty(parts, line)
            return records, lines, rest, line + len(parts)
        records, lines = [], []
        position = 0
        while True:
            run = self._single_line_records.match(data, position)
            run_end = run.end() if run else position
            if run_end > position:
                parts = data[position:run_end].split(b"\n")[:-1]
                run_records, run_lines = self._non_empty(parts, line)
                records += run_records
                lines += run_lines
                line += len(parts)
                position = run_end
                continue
            record_end = data.find(b"\n", position)
            if record_end < 0:
                return records, lines, data[position:], line
            inside, spanned = self._still_quoted(data[position:record_end], inside=False), 1
            while inside:
                line_start, record_end = record_end + 1, data.find(b"\n", record_end + 1)
                if record_end < 0:
                    return records, lines, data[position:], line
                inside, spanned = self._still_quoted(data[line_start:record_end], inside=True), spanned + 1
            record = data[position:record_end]
            if record and record != b"\r":
                records.append(record)
                lines.append(line)
            line += spanned
            position = record_end + 1


def header_names(text: str, delimiter: str, quote_char: str | None) -> list[str]:
    """The header record's column names, trimmed; a blank name becomes `column_<position>` (as trailing
    delimiters leave), a repeated name makes the file unreadable, since no mapping could tell the columns apart."""
    try:
        names = [name.strip() for name in _split(text, delimiter, quote_char)]
    except csv.Error as error:
        raise UnreadableFile("malformed_header", f"{error}: {text[:200]}") from error
    names = [name or f"column_{position}" for position, name in enumerate(names, 1)]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise UnreadableFile("duplicate_columns", ", ".join(repeated))
    return names


def python_csv_reader(
    lines: Iterable[str], delimiter: str, quote_char: str | None, strict: bool
) -> Iterator[list[str]]:
    """The standard library's reader with the same dialect (for the header, sniffing and the exact slow path)."""
    if quote_char is None:
        return csv.reader(lines, delimiter=delimiter, quoting=csv.QUOTE_NONE, strict=strict)
    return csv.reader(lines, delimiter=delimiter, quotechar=quote_char, strict=strict)


def _split(text: str, delimiter: str, quote_char: str | None) -> list[str]:
    return next(python_csv_reader([text], delimiter, quote_char, strict=True), [])


class CsvBatchParser:
    """Parses framed records with pyarrow into RawRows: every column a string, wrong-width rows rejected."""

    def __init__(self, header: list[str], delimiter: str, quote_char: str | None) -> None:
        self._header = header
        self._delimiter = delimiter
        self._quote_char = quote_char
        self._convert = pacsv.ConvertOptions(
            column_types={name: pa.string() for name in header},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )

    def parse(self, records: Records) -> RawRows:
        if records.unterminated:
            last = len(records.lines) - 1
            rows = self.parse(Records(records.records[:last], records.lines[:last]))
            rejection = Rejection(records.lines[last], UNTERMINATED_QUOTE, {"raw": records.text(last)})
            return RawRows(table=rows.table, lines=rows.lines, malformed=[*rows.malformed, rejection])
        invalid: list[int] = []

        def skip_invalid(row: pacsv.InvalidRow) -> str:
            invalid.append(row.number - 1)  # pyarrow numbers the non-empty records of this batch from 1
            return "skip"

        data = b"\n".join(records.records)
        if data.count(b"\r") != data.count(b"\r\n"):  # pyarrow ends a row at a bare CR, the framing does not
            return self._parse_one_by_one(records)
        try:
            table = pacsv.read_csv(
                io.BytesIO(data),
                read_options=pacsv.ReadOptions(
                    column_names=self._header, use_threads=False, block_size=max(len(data) + 1, 1 << 16)
                ),
                parse_options=pacsv.ParseOptions(
                    delimiter=self._delimiter,
                    quote_char=self._quote_char or False,
                    newlines_in_values=True,
                    invalid_row_handler=skip_invalid,
                ),
                convert_options=self._convert,
            )
        except pa.ArrowInvalid:
            return self._parse_one_by_one(records)
        if table.num_rows + len(invalid) != len(records.lines):
            return self._parse_one_by_one(records)
        rejected = set(invalid)
        lines = (
            [line for index, line in enumerate(records.lines) if index not in rejected] if rejected else records.lines
        )
        malformed = [Rejection(records.lines[index], MALFORMED_ROW, {"raw": records.text(index)}) for index in invalid]
        return RawRows(table=table, lines=pa.array(lines, pa.int64()), malformed=malformed)

    def _parse_one_by_one(self, records: Records) -> RawRows:
        """The exact but slow path, for a batch pyarrow would split differently (a bare carriage return)."""
        rows: list[list[str]] = []
        lines: list[int] = []
        malformed: list[Rejection] = []
        for index, line in enumerate(records.lines):
            text = records.text(index)
            try:
                fields = _split(text, self._delimiter, self._quote_char)
            except csv.Error:
                fields = []
            if len(fields) == len(self._header):
                rows.append(fields)
                lines.append(line)
            else:
                malformed.append(Rejection(line, MALFORMED_ROW, {"raw": text}))
        columns = list(zip(*rows)) if rows else [() for _ in self._header]
        table = pa.table({name: pa.array(column, pa.string()) for name, column in zip(self._header, columns)})
        return RawRows(table=table, lines=pa.array(lines, pa.int64()), malformed=malformed)


def _without_faulty_lines(records: Records, line_faults: Mapping[int, str]) -> tuple[Records, list[Rejection]]:
    """The records that span none of the faulty lines, and a rejection for each that does, with the fault of the
    first faulty line it spans."""
    last_line = records.lines[-1] + records.records[-1].count(b"\n")
    hit: dict[int, str] = {}
    for line in sorted(line_faults):
        if records.lines[0] <= line <= last_line:
            index = bisect.bisect_right(records.lines, line) - 1
            if line <= records.lines[index] + records.records[index].count(b"\n"):
                hit.setdefault(index, line_faults[line])
    if not hit:
        return records, []
    kept = [index for index in range(len(records.lines)) if index not in hit]
    rejected = [Rejection(records.lines[index], hit[index], {"raw": records.text(index)}) for index in sorted(hit)]
    unterminated = records.unterminated and len(records.lines) - 1 not in hit
    return Records([records.records[i] for i in kept], [records.lines[i] for i in kept], unterminated), rejected


def read_csv_batches(
    utf8_blocks: Iterable[bytes],
    delimiter: str,
    quote_char: str | None,
    batch_rows: int,
    max_record_bytes: int,
    line_faults: Mapping[int, str] | None = None,
) -> Iterator[RawRows]:
    """The header is the first non-empty record; every later non-empty record is a row or a malformed row (one
    spanning a line of `line_faults`, filled in as the blocks are read, is rejected with that line's fault)."""
    line_faults = {} if line_faults is None else line_faults
    frames = CsvFramer(delimiter, quote_char, batch_rows, max_record_bytes).frames(utf8_blocks)
    first = next(frames, None)
    if first is None:
        raise UnreadableFile("empty_file")
    parser = CsvBatchParser(header_names(first.text(0), delimiter, quote_char), delimiter, quote_char)
    rows_seen = 0
    rest = Records(first.records[1:], first.lines[1:])  # a final, unterminated record is always yielded alone
    for records in itertools.chain([rest] if rest.lines else [], frames):
        readable, faulty = _without_faulty_lines(records, line_faults) if line_faults else (records, [])
        batch = parser.parse(readable)
        if faulty:
            batch = RawRows(table=batch.table, lines=batch.lines, malformed=[*batch.malformed, *faulty])
        rows_seen += batch.rows_in
        yield batch
    if rows_seen == 0:
        raise UnreadableFile("header_only")
