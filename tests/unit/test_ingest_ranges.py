"""The large-file planner cuts objects at line starts and knows each range's first line number."""

from __future__ import annotations

import gzip
import io

import pytest
from cdp.ingest.ranges import ByteRange, plan_ranges


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
