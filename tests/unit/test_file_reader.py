"""The streaming file reader: every format, compression and encoding; line numbers; bounded batches; bad files."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import random
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cdp.clean.table import UnreadableFile
from cdp.ingest.file_reader import RawRows, ReadOptions, read_batches

ORDERS = [["O1", "C1", "12.50"], ["O2", "C2", "7"], ["O3", "C3", "0.99"]]


def _read(data: bytes, **options: Any) -> tuple[list[RawRows], list[dict[str, Any]], list[int]]:
    batches = list(read_batches(io.BytesIO(data), ReadOptions(**options)))
    rows = [row for batch in batches for row in batch.table.to_pylist()]
    lines = [line for batch in batches for line in batch.lines.to_pylist()]
    return batches, rows, lines


def _malformed(batches: list[RawRows]) -> list[tuple[int | None, str, str]]:
    return [(rejection.line, rejection.reason, rejection.row["raw"]) for batch in batches for rejection in batch.malformed]


def _csv(delimiter: str = ",", newline: str = "\n") -> bytes:
    header = delimiter.join(["order_id", "customer_id", "amount"])
    return newline.join([header, *(delimiter.join(row) for row in ORDERS)]).encode() + newline.encode()


def _refusal(data: bytes, **options: Any) -> str:
    with pytest.raises(UnreadableFile) as refused:
        _read(data, **options)
    return refused.value.reason


EXPECTED_ORDERS = [dict(zip(["order_id", "customer_id", "amount"], row)) for row in ORDERS]


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
@pytest.mark.parametrize("compress", [False, True])
def test_csv_with_any_delimiter_is_sniffed_and_read_as_strings(delimiter: str, compress: bool) -> None:
    # Given
    data = _csv(delimiter)
    # When
    batches, rows, lines = _read(gzip.compress(data) if compress else data)
    # Then
    assert rows == EXPECTED_ORDERS
    assert lines == [2, 3, 4]
    assert all(field.type == pa.string() for batch in batches for field in batch.table.schema)


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_quoted_values_may_hold_the_delimiter_quotes_and_newlines_whatever_the_delimiter(delimiter: str) -> None:
    # Given
    quoted = f'"a{delimiter}b ""c""\nd"'
    data = delimiter.join(["id", "text", "n"]).encode() + b"\n" + delimiter.join(["1", quoted, "x"]).encode() + b"\n2" + (
        delimiter.join(["", '"e"', "y"]).encode() + b"\n"
    )
    # When
    _, rows, lines = _read(data)
    # Then
    assert rows == [{"id": "1", "text": f'a{delimiter}b "c"\nd', "n": "x"}, {"id": "2", "text": "e", "n": "y"}]
    assert lines == [2, 4]


def test_a_declared_delimiter_wins_over_sniffing() -> None:
    # Given: a semicolon file whose values hold commas
    data = b"name;note\nAnn;a,b,c\nBob;d,e,f\n"
    # When
    _, rows, _ = _read(data, delimiter=";")
    # Then
    assert rows == [{"name": "Ann", "note": "a,b,c"}, {"name": "Bob", "note": "d,e,f"}]


def test_quoted_fields_keep_delimiters_and_newlines_and_rows_keep_their_physical_line() -> None:
    # Given: a value spanning three lines, a value with the delimiter, doubled quotes, an empty line
    data = (
        b"id,comment,city\n"
        b'1,"first line\nsecond line\nthird line",London\n'
        b'2,"a, b and c",Paris\n'
        b"\n"
        b'3,"she said ""hi""",Berlin\n'
        b'4,"multi\r\nline crlf",Rome\n'
        b"5,plain,Madrid\n"
    )
    # When
    _, rows, lines = _read(data)
    # Then
    assert [row["comment"] for row in rows] == [
        "first line\nsecond line\nthird line",
        "a, b and c",
        'she said "hi"',
        "multi\r\nline crlf",
        "plain",
    ]
    assert lines == [2, 5, 7, 8, 10]


def test_a_quote_inside_an_unquoted_value_is_a_literal_character() -> None:
    # Given: inch marks in unquoted values, which open no quoted field
    data = b'sku,name,size\nS1,TV 55" screen,L\nS2,"Frame, 8""x10""",M\nS3,Cable 2" long,S\n'
    # When
    _, rows, lines = _read(data)
    # Then
    assert [row["name"] for row in rows] == ['TV 55" screen', 'Frame, 8"x10"', 'Cable 2" long']
    assert lines == [2, 3, 4]


def test_crlf_and_a_utf8_bom_are_handled() -> None:
    # Given
    data = b"\xef\xbb\xbf" + _csv(newline="\r\n")
    # When
    batches, rows, lines = _read(data)
    # Then: the BOM is not part of the first column's name, no CR is left in values
    assert batches[0].table.column_names == ["order_id", "customer_id", "amount"]
    assert rows == EXPECTED_ORDERS
    assert lines == [2, 3, 4]


CHINESE_CSV = "客户编号,姓名,城市\nC1,张伟,北京\nC2,李娜,上海\n"
CHINESE_ROWS = [{"客户编号": "C1", "姓名": "张伟", "城市": "北京"}, {"客户编号": "C2", "姓名": "李娜", "城市": "上海"}]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
@pytest.mark.parametrize("declared", [False, True])
def test_chinese_text_is_read_in_utf8_gbk_or_gb18030_detected_or_declared(encoding: str, declared: bool) -> None:
    # Given
    data = CHINESE_CSV.encode(encoding)
    declared_encoding = {"utf-8-sig": "utf-8"}.get(encoding, encoding) if declared else None
    # When
    _, rows, lines = _read(data, encoding=declared_encoding)
    # Then
    assert rows == CHINESE_ROWS
    assert lines == [2, 3]


def test_gb18030_characters_outside_gbk_are_detected() -> None:
    # Given: a four-byte GB18030 character (not in GBK), gzip-compressed
    data = gzip.compress("name,city\n𠀀先生,深圳\n".encode("gb18030"))
    # When
    _, rows, _ = _read(data)
    # Then
    assert rows == [{"name": "𠀀先生", "city": "深圳"}]


def test_a_wrong_declared_encoding_refuses_the_file() -> None:
    # Given: GBK bytes declared as UTF-8
    data = CHINESE_CSV.encode("gbk")
    # When / Then
    assert _refusal(data, encoding="utf-8") == "undecodable_text"


def test_text_that_is_neither_utf8_nor_gb18030_is_refused() -> None:
    # Given: bytes invalid in both (0xFF is never a GB18030 lead byte)
    data = b"name,city\n\xff\xff\xff,\xff\xfe\n"
    # When / Then
    assert _refusal(data) == "undecodable_text"


def _names_with_a_bad_byte_at(offset: int, encoding: str) -> tuple[bytes, int, int]:
    """A CSV of Chinese names in `encoding` with one byte that is not `encoding` (0xFF) in the line at about
    `offset`, and 1,000 good lines after it; returns the file, that line's number and the count of rows."""
    head = "id,name\n".encode(encoding)
    row_bytes = len("1000000,王芳\n".encode(encoding))
    before = (offset - len(head)) // row_bytes
    rows = [f"{number:07d},王芳\n".encode(encoding) for number in range(before)]
    rows.append(f"{before:07d},王".encode(encoding) + b"\xff" + "芳\n".encode(encoding))
    rows += [f"{number:07d},李娜\n".encode(encoding) for number in range(before + 1, before + 1001)]
    return head + b"".join(rows), before + 2, len(rows)


@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_an_undecodable_byte_beyond_the_detected_start_rejects_its_row_only_and_reading_goes_on(encoding: str) -> None:
    # Given: one bad byte at 5 MiB, past the first 4 MiB block that chose the encoding
    data, bad_line, row_count = _names_with_a_bad_byte_at(5 << 20, encoding)
    # When
    batches, rows, lines = _read(data)
    # Then: that row is quarantined as undecodable_text with its line, every other row is read, in order
    assert _malformed(batches) == [(bad_line, "undecodable_text", f"{bad_line - 2:07d},王\ufffd芳")]
    assert len(rows) == row_count - 1 and lines == [line for line in range(2, row_count + 2) if line != bad_line]
    assert rows[-1] == {"id": f"{row_count - 1:07d}", "name": "李娜"}
    assert sum(batch.rows_in for batch in batches) == row_count


def test_an_undecodable_byte_inside_a_quoted_multi_line_field_rejects_that_whole_record() -> None:
    # Given: small blocks, so the bad byte lies beyond the block that chose UTF-8
    data = b"id,note\n" + b"".join(b"%d,plain\n" % i for i in range(20)) + b'20,"one\ntw\xffo\nthree"\n21,last\n'
    # When
    batches, rows, lines = _read(data, batch_bytes=64, batch_rows=7)
    # Then
    assert _malformed(batches) == [(22, "undecodable_text", '20,"one\ntw\ufffdo\nthree"')]
    assert lines == [*range(2, 22), 25] and rows[-1] == {"id": "21", "note": "last"}
    assert sum(batch.rows_in for batch in batches) == 22


def test_a_last_line_cut_inside_a_character_is_an_undecodable_row() -> None:
    # Given: the file ends in the middle of a three-byte UTF-8 character, with no newline
    data = b"id,name\n" + b"".join(b"%d,name\n" % i for i in range(20)) + "20,中".encode()[:-1]
    # When
    batches, rows, lines = _read(data, batch_bytes=64)
    # Then
    assert _malformed(batches) == [(22, "undecodable_text", "20,\ufffd")]
    assert len(rows) == 20 and sum(batch.rows_in for batch in batches) == 21


def test_an_undecodable_json_line_is_rejected_and_the_lines_after_it_are_read() -> None:
    # Given
    data = b"".join(b'{"event_id": "e%d"}\n' % i for i in range(10)) + b'{"event_id": "\xff"}\n{"event_id": "e11"}\n'
    # When
    batches, rows, lines = _read(data, batch_bytes=32)
    # Then
    assert _malformed(batches) == [(11, "undecodable_text", '{"event_id": "\ufffd"}')]
    assert lines == [*range(1, 11), 12]
    assert sum(batch.rows_in for batch in batches) == 12


def test_malformed_rows_keep_their_line_and_original_text_and_raise_no_decode_warning(monkeypatch) -> None:
    # Given: a GB18030 file with a row of too many fields and one of too few
    unraisable: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    data = "编号,名称\n1,苹果\n2,香蕉,多余\n3\n4,葡萄\n".encode("gb18030")
    # When
    batches, rows, lines = _read(data)
    # Then
    assert lines == [2, 5]
    assert _malformed(batches) == [(3, "malformed_row", "2,香蕉,多余"), (4, "malformed_row", "3")]
    assert sum(batch.rows_in for batch in batches) == 4
    assert unraisable == []


def test_a_bare_carriage_return_inside_a_value_still_gives_every_row_its_line() -> None:
    # Given: a stray CR inside an unquoted value (pyarrow ends a row there; the reader re-parses that batch)
    data = b"id,name\n1,Ann\n2,Bo\rb\n3,Cy\n"
    # When
    batches, rows, lines = _read(data)
    # Then: nothing lost, every row or rejection at its own line
    assert [row["id"] for row in rows] == ["1", "3"]
    assert lines == [2, 4]
    assert _malformed(batches) == [(3, "malformed_row", "2,Bo\rb")]


def test_a_bare_carriage_return_inside_a_quoted_value_is_kept_and_lines_stay_right() -> None:
    # Given
    data = b'id,name\n1,"Ann\rMarie"\n2,"Bob\nby"\n3,Cy\n'
    # When
    batches, rows, lines = _read(data)
    # Then
    assert [row["name"] for row in rows] == ["Ann\rMarie", "Bob\nby", "Cy"]
    assert (lines, _malformed(batches)) == ([2, 3, 5], [])


def test_a_file_larger_than_a_batch_yields_bounded_batches_whose_rows_and_lines_add_up() -> None:
    # Given: 10,001 rows, some of them spanning two lines, read 1,000 rows and 8 KiB at a time
    body = b"".join(b'%d,"note\n%d"\n' % (i, i) if i % 7 == 0 else b"%d,plain\n" % i for i in range(10_001))
    data = b"id,note\n" + body
    # When
    batches, rows, lines = _read(data, batch_rows=1000, batch_bytes=8192)
    # Then
    assert len(batches) > 10
    assert all(batch.table.num_rows <= 1000 for batch in batches)
    assert [row["id"] for row in rows] == [str(i) for i in range(10_001)]
    expected_lines, line = [], 2
    for i in range(10_001):
        expected_lines.append(line)
        line += 2 if i % 7 == 0 else 1
    assert lines == expected_lines


def _standard_library_records(text: str) -> tuple[list[list[str]], list[int]]:
    """The records after the header as Python's csv module reads them, and the physical line each starts on."""
    reader = csv.reader(io.StringIO(text, newline=""))
    next(reader)
    records, lines, previous_end = [], [], reader.line_num
    for record in reader:
        records.append(record)
        lines.append(previous_end + 1)
        previous_end = reader.line_num
    return records, lines


def test_line_numbers_agree_with_the_standard_library_on_random_quoted_csv() -> None:
    # Given: random records with quoted delimiters, doubled quotes, CRLF and newlines in values, read in tiny blocks
    generator = random.Random(7)
    alphabet = ["a", "b", ",", '"', "\n", "\r\n", " ", "é", "中"]
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator=generator.choice(["\n", "\r\n"]))
    writer.writerow(["k", "v", "w"])
    records = [[str(i), "".join(generator.choices(alphabet, k=generator.randrange(12))), "x"] for i in range(400)]
    writer.writerows(records)
    text = buffer.getvalue()
    expected, expected_lines = _standard_library_records(text)
    # When
    _, rows, lines = _read(text.encode(), batch_rows=37, batch_bytes=97)
    # Then
    assert expected == records
    assert [[row["k"], row["v"], row["w"]] for row in rows] == records
    assert lines == expected_lines


def test_stray_quotes_and_quoted_newlines_mixed_at_random_keep_the_standard_librarys_rows_and_lines() -> None:
    # Given: hand-written fields: plain, with a quote inside an unquoted value, quoted with newlines and doubled quotes
    generator = random.Random(11)
    kinds = ["plain", '5" wide', 'a"b"c', '"x\ny"', '"q""uo\r\nte"', '""', '"a,b"', ""]
    lines_of_text = ["k,v,w"] + [
        f"{i},{generator.choice(kinds)},{generator.choice(kinds)}" for i in range(3000)
    ]
    text = "\n".join(lines_of_text) + "\n"
    expected, expected_lines = _standard_library_records(text)
    # When
    _, rows, lines = _read(text.encode(), batch_rows=101, batch_bytes=1000)
    # Then
    assert [[row["k"], row["v"], row["w"]] for row in rows] == expected
    assert lines == expected_lines


def test_an_unterminated_quote_at_the_end_is_one_malformed_row() -> None:
    # Given
    data = b'id,name\n1,Ann\n2,"Bob\n3,Cy\n'
    # When
    batches, rows, lines = _read(data)
    # Then
    assert (rows, lines) == ([{"id": "1", "name": "Ann"}], [2])
    assert _malformed(batches) == [(3, "unterminated_quote", '2,"Bob\n3,Cy')]


def test_an_unterminated_quote_that_never_ends_refuses_the_file_instead_of_filling_memory() -> None:
    # Given: a quote opened on line 2 and 50 KB of lines after it, with records bounded to 10 KB
    data = b'id,name\n1,"never closed\n' + b"2,x\n" * 12_500
    # When / Then
    with pytest.raises(UnreadableFile) as refused:
        _read(data, batch_bytes=4096, max_record_bytes=10_000)
    assert (refused.value.reason, refused.value.detail.split(":")[0]) == ("record_too_large", "line 2")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty_file"),
        (b"  \r\n\n ", "empty_file"),
        (gzip.compress(b"", mtime=0), "empty_file"),
        (b"\xef\xbb\xbf", "empty_file"),
        (b"customer_id,email\n", "header_only"),
        (gzip.compress(b"customer_id,email\r\n\r\n", mtime=0), "header_only"),
        (bytes(range(256)) * 40, "binary_content"),
        (b"\x00\x01\x02binary\x00\n1,2\n", "binary_content"),
        (b"\x07\x08\x0e" * 100 + b"a,b\n", "binary_content"),
        (b"\xff\xfe" + "a,b\n1,2\n".encode("utf-16-le"), "undecodable_text"),
        (b"a,a\n1,2\n", "duplicate_columns"),
        (b'"a,b\n1,2\n', "malformed_header"),
        (b"\x1f\x8b\x08\x00garbage", "truncated_gzip"),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\xff" * 64, "corrupt_gzip"),
    ],
)
def test_whole_file_faults_are_refused_with_a_machine_readable_reason(data: bytes, reason: str) -> None:
    # Given / When / Then
    assert _refusal(data) == reason


def test_a_gzip_with_a_wrong_checksum_is_refused() -> None:
    # Given: a valid gzip whose CRC-32 trailer is altered
    compressed = bytearray(gzip.compress(_csv()))
    compressed[-8] ^= 0xFF
    # When / Then
    assert _refusal(bytes(compressed)) == "corrupt_gzip"


def test_declared_gzip_without_gzip_content_is_refused() -> None:
    # Given / When / Then
    assert _refusal(_csv(), compression="gzip") == "not_gzip"


def test_a_truncated_gzip_fails_mid_stream_after_the_batches_it_could_read() -> None:
    # Given: a large compressed CSV cut in the middle
    rng = random.Random(3)
    body = b"".join(b"O%d,C%d,%d\n" % (i, rng.randrange(10**9), rng.randrange(10**6)) for i in range(60_000))
    compressed = gzip.compress(b"order_id,customer_id,amount\n" + body)
    truncated = compressed[: len(compressed) // 2]
    batches: list[RawRows] = []
    # When
    with pytest.raises(UnreadableFile) as refused:
        for batch in read_batches(io.BytesIO(truncated), ReadOptions(batch_rows=5000, batch_bytes=64 << 10)):
            batches.append(batch)
    # Then: some batches came first, each row whole; the fault is raised from the iterator
    assert refused.value.reason == "truncated_gzip"
    assert len(batches) >= 2
    read = [line for batch in batches for line in batch.lines.to_pylist()]
    assert read == list(range(2, 2 + len(read)))


def test_json_lines_keep_values_as_text_nested_values_as_json_and_bad_lines_as_malformed_rows() -> None:
    # Given
    data = (
        b'{"event_id": "e1", "amount": 12.50, "count": 3, "ok": true, "gone": null, "properties": {"sku": "S1", "q": [1, 2]}}\n'
        b"\n"
        b"not json\n"
        b'["an", "array"]\n'
        b'{"event_id": "e2", "extra": "\xe4\xb8\xad"}\r\n'
    )
    # When
    batches, rows, lines = _read(data)
    # Then
    assert rows == [
        {"event_id": "e1", "amount": "12.50", "count": "3", "ok": "true", "gone": None,
         "properties": '{"sku":"S1","q":[1,2]}', "extra": None},
        {"event_id": "e2", "amount": None, "count": None, "ok": None, "gone": None, "properties": None, "extra": "中"},
    ]
    assert lines == [1, 5]
    assert [(line, reason) for line, reason, _ in _malformed(batches)] == [(3, "invalid_json"), (4, "not_a_json_object")]
    assert _malformed(batches)[1][2] == '["an", "array"]'


def test_json_lines_in_gzip_and_gb18030_are_read_in_batches_with_growing_columns() -> None:
    # Given
    objects = [{"id": i, "名字": "张" + str(i)} | ({"late": "x"} if i >= 5 else {}) for i in range(8)]
    data = gzip.compress("\n".join(json.dumps(obj, ensure_ascii=False) for obj in objects).encode("gb18030"))
    # When
    batches, rows, lines = _read(data, batch_rows=3)
    # Then
    assert [batch.table.num_rows for batch in batches] == [3, 3, 2]
    assert batches[0].table.column_names == ["id", "名字"]
    assert batches[-1].table.column_names == ["id", "名字", "late"]
    assert [row["名字"] for row in rows] == ["张" + str(i) for i in range(8)]
    assert lines == list(range(1, 9))


def test_a_json_line_longer_than_the_record_limit_refuses_the_file() -> None:
    # Given: a 50 KB line where records are bounded to 10 KB
    data = b'{"a": "1"}\n{"a": "' + b"x" * 50_000 + b'"}\n'
    # When / Then
    with pytest.raises(UnreadableFile) as refused:
        _read(data, batch_bytes=4096, max_record_bytes=10_000)
    assert (refused.value.reason, refused.value.detail.split(":")[0]) == ("record_too_large", "line 2")


def _parquet(table: pa.Table, **write: Any) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, **write)
    return sink.getvalue()


TYPED = pa.table(
    {
        "id": pa.array([1, 2, None], pa.int64()),
        "amount": pa.array([Decimal("12.5000"), Decimal("-3.2500"), None], pa.decimal128(18, 4)),
        "at": pa.array([1_700_000_000_000_000, 0, None], pa.timestamp("us", tz="UTC")),
        "ok": pa.array([True, False, None]),
        "tags": pa.array([["a", "b"], [], None], pa.list_(pa.string())),
        "name": pa.array(["Ann", "李", None]).dictionary_encode(),
    }
)


class _Unseekable(io.RawIOBase):
    """A network body: readable only forwards."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


@pytest.mark.parametrize("wrap", ["seekable", "unseekable", "gzip"])
def test_parquet_columns_of_any_type_become_strings(wrap: str) -> None:
    # Given
    data = _parquet(TYPED, row_group_size=2)
    stream: Any = {
        "seekable": lambda: io.BytesIO(data),
        "unseekable": lambda: io.BufferedReader(_Unseekable(data)),
        "gzip": lambda: io.BytesIO(gzip.compress(data)),
    }[wrap]()
    # When
    batches = list(read_batches(stream, ReadOptions(batch_rows=2)))
    # Then
    rows = [row for batch in batches for row in batch.table.to_pylist()]
    assert [batch.table.num_rows for batch in batches] == [2, 1]
    assert all(field.type == pa.string() for batch in batches for field in batch.table.schema)
    assert rows[0] == {"id": "1", "amount": "12.5000", "at": "2023-11-14 22:13:20.000000Z", "ok": "true",
                       "tags": '["a", "b"]', "name": "Ann"}
    assert rows[1]["name"] == "李" and rows[1]["tags"] == "[]"
    assert rows[2] == dict.fromkeys(TYPED.column_names)
    assert [line for batch in batches for line in batch.lines.to_pylist()] == [1, 2, 3]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (bytes(random.Random(5).randrange(256) for _ in range(5000)), "not_parquet"),
        (b"PAR1" + b"\x00" * 100, "not_parquet"),
        (_parquet(pa.table({"a": pa.array([], pa.string())})), "header_only"),
        (_parquet(pa.Table.from_arrays([pa.array(["1"]), pa.array(["2"])], names=["a", "a"])), "duplicate_columns"),
    ],
)
def test_bad_parquet_files_are_refused(data: bytes, reason: str) -> None:
    # Given / When / Then
    assert _refusal(data, format="parquet") == reason


@pytest.mark.parametrize(
    ("key", "declared", "expected"),
    [
        ("orders/2024.csv.gz", None, "csv"),
        ("orders/2024.TSV", None, "csv"),
        ("events/day.jsonl.gz", None, "jsonl"),
        ("events/day.ndjson", None, "jsonl"),
        ("orders/big.parquet", None, "parquet"),
        ("orders/export.dat", None, None),
        ("orders/export.dat", {"format": "json", "encoding": "GBK", "delimiter": None}, "jsonl"),
    ],
)
def test_options_for_a_key_take_the_declared_values_else_the_keys_suffix(key: str, declared: Any, expected: str) -> None:
    # Given / When
    options = ReadOptions.for_key(key, declared, batch_rows=10)
    # Then
    assert (options.format, options.batch_rows) == (expected, 10)
    assert options.encoding == ("gbk" if declared else None)


@pytest.mark.parametrize(
    "options",
    [{"format": "xml"}, {"encoding": "latin-1"}, {"encoding": "nope"}, {"delimiter": ",,"}, {"delimiter": "\n"},
     {"compression": "zip"}, {"batch_rows": 0}, {"delimiter": '"'}],
)
def test_invalid_options_are_refused_when_built(options: dict[str, Any]) -> None:
    # Given / When / Then
    with pytest.raises(ValueError):
        ReadOptions(**options)


@pytest.mark.parametrize("declared", [{"encoding": "latin-1"}, {"format": "xlsx"}, {"delimiter": "::"}, {"colour": "red"}])
def test_declared_values_the_reader_cannot_honour_make_the_file_unreadable(declared: dict[str, Any]) -> None:
    # Given / When / Then
    with pytest.raises(UnreadableFile) as refused:
        list(read_batches(io.BytesIO(_csv()), declared))
    assert refused.value.reason == "invalid_read_options"


def test_a_mapping_of_declared_values_is_accepted_in_place_of_options_and_content_decides_the_format() -> None:
    # Given: the mapping helper's SourceMapping.read_options shape
    declared = {"format": None, "encoding": None, "delimiter": "|"}
    jsonl = b'{"a": "1|2"}\n'
    # When
    csv_rows = [row for batch in read_batches(io.BytesIO(b"a|b\n1|2\n"), declared) for row in batch.table.to_pylist()]
    json_rows = [row for batch in read_batches(io.BytesIO(jsonl), {"format": None}) for row in batch.table.to_pylist()]
    # Then
    assert csv_rows == [{"a": "1", "b": "2"}]
    assert json_rows == [{"a": "1|2"}]


def test_blank_header_names_are_named_by_position() -> None:
    # Given: an export whose lines all end with a delimiter
    data = b"id,name,\n1,Ann,\n2,Bob,\n"
    # When
    batches, rows, _ = _read(data)
    # Then
    assert batches[0].table.column_names == ["id", "name", "column_3"]
    assert rows[1] == {"id": "2", "name": "Bob", "column_3": ""}


def test_a_one_column_file_is_read_with_the_default_delimiter() -> None:
    # Given / When
    _, rows, lines = _read(b"email\na@b.co\nc@d.co\n")
    # Then
    assert (rows, lines) == ([{"email": "a@b.co"}, {"email": "c@d.co"}], [2, 3])


CORE_LAYER = Path(__file__).resolve().parents[2] / "layers" / "core" / "python"
MEMORY_PROBE = """
import resource, sys
from cdp.ingest.file_reader import ReadOptions, read_batches
rows = 0
if sys.argv[2] == "read":
    with open(sys.argv[1], "rb") as stream:
        for batch in read_batches(stream, ReadOptions(batch_rows=50_000)):
            rows += batch.rows_in
print(rows, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def test_a_200_mb_csv_streams_in_bounded_memory(tmp_path: Path) -> None:
    # Given: a ~200 MB CSV written line by line (never in memory), and the reader's baseline footprint
    path = tmp_path / "big.csv"
    line = b'%08d,C%06d,2025-03-04T10:15:00Z,GBP,"12,50",3,shoes and boots for winter,completed\n'
    rows = 2_400_000
    with path.open("wb") as out:
        out.write(b"order_id,customer_id,ordered_at,currency,amount,items,category,status\n")
        for start in range(0, rows, 100_000):
            out.write(b"".join(line % (i, i % 99_991) for i in range(start, start + 100_000)))
    assert path.stat().st_size > 190_000_000

    def probe(mode: str) -> tuple[int, int]:
        result = subprocess.run(
            [sys.executable, "-c", MEMORY_PROBE, str(path), mode],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": str(CORE_LAYER)},
        )
        counted, peak_mib = result.stdout.split()
        return int(counted), int(peak_mib)

    # When
    _, baseline_mib = probe("import")
    counted, peak_mib = probe("read")
    # Then: every row read, and the peak grew by less than the file holds (a whole read would need 2-3 times it)
    assert counted == rows
    assert peak_mib - baseline_mib < 150, (baseline_mib, peak_mib)  # measured: about 95 MiB with the defaults


def test_lines_holding_a_nul_byte_are_malformed_rows_and_the_others_are_read() -> None:
    # Given: a five-row CSV with a NUL byte in two rows
    data = b"a,b\n1,x\n2,y\x00\n3,z\n4,\x00w\n5,v\n"
    # When
    batches, rows, lines = _read(data)
    # Then
    assert [row["a"] for row in rows] == ["1", "3", "5"]
    assert [(r.line, r.reason) for b in batches for r in b.malformed] == [(3, "binary_content"), (5, "binary_content")]


@pytest.mark.parametrize("control", [b"\x01", b"\x08", b"\x0b", b"\x1b", b"\x7f"])
def test_a_row_holding_another_control_byte_is_binary_content_as_a_nul_byte_is(control: bytes) -> None:
    # Given: control bytes in one row of a quoted multi-line CSV; tab, carriage return and form feed are text
    data = b'a,b\n1,"tab\there"\n2,"two\r\nlines ' + control + b'"\n3,"feed\x0cok"\r\n'
    # When
    batches, rows, lines = _read(data)
    # Then: only the row holding the control byte is refused, named by the line it starts on
    assert [row["a"] for row in rows] == ["1", "3"]
    assert [(r.line, r.reason) for b in batches for r in b.malformed] == [(3, "binary_content")]


def test_a_gzip_cut_in_its_first_block_yields_its_complete_rows_then_says_where_it_ends() -> None:
    # Given: 200 rows compressed, cut in the middle
    compressed = gzip.compress(b"a,b\n" + b"".join(b"%d,row %d\n" % (n, n) for n in range(200)), mtime=0)
    cut = compressed[: len(compressed) // 2]
    inflated = gzip.GzipFile(fileobj=io.BytesIO(cut)).read1(1 << 20)
    batches: list[RawRows] = []
    # When
    with pytest.raises(UnreadableFile) as refused:
        for batch in read_batches(io.BytesIO(cut), ReadOptions(format="csv")):
            batches.append(batch)
    # Then: every complete line is a row, the partial one a malformed row, and the fault counts the bytes inflated
    complete = inflated.count(b"\n") - 1
    assert sum(batch.table.num_rows for batch in batches) == complete > 0
    assert [(r.line, r.reason) for b in batches for r in b.malformed] == [(complete + 2, "truncated_gzip")]
    assert refused.value.detail == f"the gzip stream ends after {len(inflated)} decompressed bytes"
