"""The large-file planner cuts objects at record starts (never inside a quoted field) and knows each range's first
line number, encoding and delimiter."""

from __future__ import annotations

import gzip
import io
import random
from typing import Any

import pytest
from cdp.ingest.file_reader import ReadOptions, read_batches
from cdp.ingest.ranges import ByteRange, plan_ranges, whole_object


def _lines_read(data: bytes, byte_range: ByteRange) -> list[tuple[int, bytes]]:
    """(file line number, content) of each data line a reader of this range sees, numbered as a reader would."""
    end = len(data) if byte_range.end is None else byte_range.end + 1
    body = data[: byte_range.header_end] + data[byte_range.start : end]
    lines = body.splitlines()
    first_reader_line = 2 if (byte_range.header_end or (byte_range.index == 0 and not data.startswith(b"{"))) else 1
    data_lines = lines[first_reader_line - 1 :]
    return [(first_reader_line + position + byte_range.line_offset, line) for position, line in enumerate(data_lines)]


@pytest.mark.parametrize("range_bytes", [1, 7, 50, 333, 10_000])
def test_csv_ranges_cover_every_line_once_with_its_line_number(range_bytes: int) -> None:
    # Given: a CSV with a header and lines of varying length
    rows = [b"order_id,amount"] + [b"O%d,%s" % (number, b"9" * (number % 13)) for number in range(200)]
    data = b"\n".join(rows) + b"\n"
    # When
    ranges = plan_ranges(io.BytesIO(data), len(data), range_bytes)
    # Then: contiguous, every range starts on a line start, and lines keep their file line numbers
    assert ranges[0].start == 0 and ranges[-1].end is None
    assert all(previous.end + 1 == following.start for previous, following in zip(ranges, ranges[1:]) if previous.end)
    assert all(data[byte_range.start - 1 : byte_range.start] == b"\n" for byte_range in ranges[1:])
    seen = [line for byte_range in ranges for line in _lines_read(data, byte_range)]
    assert seen == [(number + 1, row) for number, row in enumerate(rows)][1:]
    if range_bytes < len(data):
        assert len(ranges) > 1


def test_json_lines_have_no_header_to_prepend() -> None:
    # Given
    rows = [b'{"event_id": "e%d"}' % number for number in range(50)]
    data = b"\n".join(rows) + b"\n"
    # When
    ranges = plan_ranges(io.BytesIO(data), len(data), 100)
    # Then
    assert len(ranges) > 1 and all(byte_range.header_end == 0 for byte_range in ranges)
    seen = [line for byte_range in ranges for line in _lines_read(data, byte_range)]
    assert seen == [(number + 1, row) for number, row in enumerate(rows)]


def test_a_gzip_object_is_one_range_whatever_its_size() -> None:
    # Given
    data = gzip.compress(b"a,b\n" + b"1,2\n" * 10_000)
    # When
    ranges = plan_ranges(io.BytesIO(data), len(data), 10)
    # Then
    assert ranges == [ByteRange(index=0, start=0, end=None)]


def test_a_file_without_a_trailing_newline_keeps_its_last_line() -> None:
    # Given
    data = b"a,b\n1,2\n3,4\n5,6"
    # When
    ranges = plan_ranges(io.BytesIO(data), len(data), 4)
    # Then
    seen = [line for byte_range in ranges for line in _lines_read(data, byte_range)]
    assert seen == [(2, b"1,2"), (3, b"3,4"), (4, b"5,6")]


# ------------------------------------------------------------------ ranges read by the real reader, as the Map does
def _read_range(data: bytes, byte_range: ByteRange) -> list[tuple[int, str, Any]]:
    """(file line, reason or "row", content) of every row the reader of this range yields, as ingest_range reads it."""
    end = len(data) if byte_range.end is None else byte_range.end + 1
    body = data[: byte_range.header_end] + data[byte_range.start : end]
    seen: list[tuple[int, str, Any]] = []
    for raw in read_batches(io.BytesIO(body), ReadOptions.declared(byte_range.read_options)):
        lines = [line + byte_range.line_offset for line in raw.lines.to_pylist()]
        seen += [(line, "row", row) for line, row in zip(lines, raw.table.to_pylist())]
        seen += [(r.line + byte_range.line_offset, r.reason, r.row["raw"]) for r in raw.malformed if r.line]
    return sorted(seen, key=lambda row: row[0])  # a batch lists its malformed rows after its rows


def _read_whole(data: bytes) -> list[tuple[int, str, Any]]:
    return _read_range(data, whole_object())


NOTES = [
    "plain",
    '"two\nlines"',
    '"a ""quoted"" word,\n\nafter a blank line"',
    '"ends in a newline\n"',
    '"\n"',
    '5" screen',  # a stray quote inside an unquoted field: literal for pyarrow, and it flips quote parity
    '"x, y"',
    '""',
    '"crlf\r\ninside"',
    '"中文\n备注"',
]


def _multiline_csv(rows: int, delimiter: str = ",", newline: str = "\n") -> str:
    """Every kind of note at many byte offsets: rows of varying length cycle through NOTES."""
    lines = [delimiter.join(["order_id", "note", "amount"])]
    lines += [
        delimiter.join([f"O{number}", NOTES[number % len(NOTES)], "9" * (number % 11 + 1)]) for number in range(rows)
    ]
    return newline.join(lines) + newline


LAYOUTS = {
    "utf-8": (_multiline_csv(120).encode(), None),
    "utf-8 BOM, CRLF, blank lines": (
        b"\xef\xbb\xbf" + (_multiline_csv(120, newline="\r\n") + "\r\n\r\n").replace("O7,", "\r\nO7,").encode(),
        None,
    ),
    "gbk, semicolons": (_multiline_csv(120, delimiter=";").encode("gbk"), None),
    "gb18030 declared, tabs": (_multiline_csv(120, delimiter="\t").encode("gb18030"), "gb18030"),
}


@pytest.mark.parametrize("range_bytes", [1, 2, 5, 13, 64, 200, 777])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_quoted_fields_with_newlines_are_never_cut_and_every_row_is_read_once_with_its_line(
    layout: str, range_bytes: int
) -> None:
    # Given: a CSV whose quoted fields hold newlines, doubled quotes, stray quotes, at many byte offsets
    data, encoding = LAYOUTS[layout]
    whole = _read_whole(data)
    assert all(reason == "row" for _, reason, _ in whole) and len(whole) == 120
    # When
    ranges = plan_ranges(io.BytesIO(data), len(data), range_bytes, ReadOptions(encoding=encoding))
    # Then: contiguous ranges, and reading each one alone gives every row of the whole file once, with its line
    assert len(ranges) > (10 if range_bytes < 64 else 1)
    assert [r.start for r in ranges[1:]] == [r.end + 1 for r in ranges[:-1] if r.end is not None]
    assert ranges[-1].end is None
    per_range = [_read_range(data, byte_range) for byte_range in ranges]
    assert all(per_range)  # no range without a row (the reader would call it header_only)
    assert [row for rows in per_range for row in rows] == whole


def test_the_planner_tells_every_range_the_encoding_and_delimiter_found_at_the_start() -> None:
    # Given: GBK with semicolons whose first lines are plain ASCII (a range alone could take it for UTF-8)
    data = ("id;name\n" + "".join(f"{n};Ann\n" for n in range(50)) + "".join(f"{n};王芳\n" for n in range(50))).encode(
        "gbk"
    )
    # When
    ranges = plan_ranges(io.BytesIO(data), len(data), 100)
    # Then
    assert {(r.format, r.encoding, r.delimiter) for r in ranges} == {("csv", "gb18030", ";")}
    assert [row for byte_range in ranges for row in _read_range(data, byte_range)] == _read_whole(data)


def test_a_gbk_file_with_a_delimiter_that_can_be_a_second_byte_stays_one_range() -> None:
    # Given: `|` (0x7C) can be the second byte of a GBK character, so the raw bytes cannot be framed
    data = ("id|name\n" + "".join(f'{n}|"王\n芳"\n' for n in range(100))).encode("gbk")
    # When
    ranges = plan_ranges(io.BytesIO(data), len(data), 50, ReadOptions(encoding="gbk"))
    # Then
    assert ranges == [whole_object()]


def test_an_unterminated_quote_ends_the_cuts_and_the_last_range_reports_it() -> None:
    # Given: a quote opened on line 40 never closes
    rows = [f"O{n},note {n}" for n in range(100)]
    rows[38] = 'O38,"never closed'
    data = ("id,note\n" + "\n".join(rows) + "\n").encode()
    # When
    ranges = plan_ranges(io.BytesIO(data), len(data), 30)
    # Then: no cut after line 40, and the ranges together yield what the whole file does
    assert ranges[-1].start <= data.index(b'"never')
    assert [row for byte_range in ranges for row in _read_range(data, byte_range)] == _read_whole(data)


def test_json_lines_blank_lines_never_make_a_range_of_their_own() -> None:
    # Given
    data = b"".join(b'{"event_id": "e%d"}\n\n  \n' % number for number in range(30))
    # When
    ranges = plan_ranges(io.BytesIO(data), len(data), 1)
    # Then
    assert len(ranges) == 30
    assert [row for byte_range in ranges for row in _read_range(data, byte_range)] == _read_whole(data)


def test_an_undecodable_byte_in_the_first_block_of_a_later_range_rejects_only_its_row() -> None:
    # Given: GBK names, one line with a byte that is not GBK near the middle, past the block that chose the encoding
    rows = [f"{n},王芳\n".encode("gbk") for n in range(200)]
    rows[120] = b"120,\xff\xff\n"
    data = "id,name\n".encode("gbk") + b"".join(rows)
    ranges = plan_ranges(io.BytesIO(data), len(data), 64, ReadOptions(batch_bytes=256))
    [holding] = [r for r in ranges if r.start <= data.index(b"\xff") <= (r.end or len(data))]
    assert holding.index > 0  # a later range, whose first block (all of it) holds the bad byte
    # When
    seen = [row for byte_range in ranges for row in _read_range(data, byte_range)]
    # Then
    assert [(line, reason) for line, reason, _ in seen if reason != "row"] == [(122, "undecodable_text")]
    assert len(seen) == 200 and [line for line, _, _ in seen] == list(range(2, 202))


@pytest.mark.parametrize("seed", range(6))
def test_random_quoting_split_anywhere_reads_as_the_whole_file(seed: int) -> None:
    # Given: random fields: plain, stray quotes, text after a closing quote, quoted newlines and doubled quotes
    generator = random.Random(seed)
    kinds = ["plain", '5" wide', 'a"b"c', '"x\ny"', '"q""uo\r\nte"', '""', '"a,b"', "", '"ab"cd', '"x"y"\nz"', '"\n\n"']
    text = "k,v,w\n" + "".join(f"{n},{generator.choice(kinds)},{generator.choice(kinds)}\n" for n in range(300))
    data = text.encode()
    whole = _read_whole(data)
    # When
    ranges = plan_ranges(io.BytesIO(data), len(data), generator.randrange(1, 400))
    # Then
    assert len(ranges) > 1
    assert [row for byte_range in ranges for row in _read_range(data, byte_range)] == whole
