"""Streams a dropped file (CSV, JSON Lines or Parquet, optionally gzip) as bounded batches of raw string rows.

`read_batches(stream, options)` yields `RawRows` batches of at most `options.batch_rows` rows, holding about one
block of `options.batch_bytes` at a time whatever the file's size. Every fault of the file as a whole raises
`UnreadableFile(reason, detail)` from the iterator: before the first batch when the start of the file shows it
(empty_file, binary_content, undecodable_text, not_parquet, duplicate_columns, ...), or after earlier batches were
yielded when it lies further on (truncated_gzip, corrupt_gzip, record_too_large, corrupt_parquet). Batches already
yielded stay valid; the caller decides what to do with them. A few bad lines are faults of their rows, not of the
file: text that does not decode beyond the first block (which chose the encoding) is a malformed row
`undecodable_text`, a line holding a NUL or other control byte one `binary_content` (a file is binary only when its header or most
lines of its first block hold control bytes). A gzip stream cut short yields every complete row inflated before the cut, its
partial last line as a malformed row `truncated_gzip`, and only then raises truncated_gzip, whose detail says how
many bytes were decompressed.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, BinaryIO

import pyarrow as pa

from cdp.clean.table import UnreadableFile
from cdp.ingest.byte_stream import UTF8_BOM, ByteBlocks, utf8_blocks
from cdp.ingest.csv_batches import read_csv_batches
from cdp.ingest.jsonl_batches import read_jsonl_batches
from cdp.ingest.parquet_batches import open_parquet, read_parquet_batches
from cdp.ingest.raw_rows import RawRows
from cdp.ingest.sniff import format_of_content, format_of_key, refuse_binary, sniff_delimiter, text_encoding

__all__ = ["RawRows", "ReadOptions", "TextLayout", "read_batches", "read_csv_rows", "text_layout"]

FORMATS = ("csv", "jsonl", "parquet")
FORMAT_ALIASES = {"json": "jsonl", "ndjson": "jsonl", "tsv": "csv"}
ENCODINGS = ("utf-8", "gbk", "gb18030")
COMPRESSIONS = ("gzip",)


def _encoding_name(encoding: str) -> str:
    try:
        name = codecs.lookup(encoding).name
    except LookupError as error:
        raise ValueError(f"unknown encoding {encoding!r}") from error
    if name not in ENCODINGS:
        raise ValueError(f"encoding {encoding!r} is not one of {', '.join(ENCODINGS)}")
    return name


@dataclass(frozen=True)
class ReadOptions:
    """How to read a file; None means detect: format from the key's suffix (see for_key), else the content;
    compression by gzip's magic bytes; encoding as UTF-8 (BOM or not), else GB18030; delimiter among , ; tab |."""

    format: str | None = None
    compression: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    quote_char: str | None = '"'
    batch_rows: int = 50_000
    batch_bytes: int = 4 << 20
    max_record_bytes: int = 16 << 20
    check_encoding: bool = True  # False: the file's start was checked (this is a later byte range of it)

    def __post_init__(self) -> None:
        if self.format is not None:
            chosen = FORMAT_ALIASES.get(self.format.lower(), self.format.lower())
            if chosen not in FORMATS:
                raise ValueError(f"format {self.format!r} is not one of {', '.join(FORMATS)}")
            object.__setattr__(self, "format", chosen)
        if self.compression is not None and self.compression not in COMPRESSIONS:
            raise ValueError(f"compression {self.compression!r} is not gzip or None")
        if self.encoding is not None:
            object.__setattr__(self, "encoding", _encoding_name(self.encoding))
        for name in ("delimiter", "quote_char"):
            value = getattr(self, name)
            if value is not None and (len(value) != 1 or value in "\r\n"):
                raise ValueError(f"{name} must be one character other than a newline, not {value!r}")
        if self.delimiter is not None and self.delimiter == self.quote_char:
            raise ValueError("the delimiter and the quote character must differ")
        if min(self.batch_rows, self.batch_bytes, self.max_record_bytes) < 1:
            raise ValueError("batch_rows, batch_bytes and max_record_bytes must be positive")

    @classmethod
    def declared(cls, values: Mapping[str, Any] | None, **settings: Any) -> ReadOptions:
        """Options from a source mapping's declared values (`SourceMapping.read_options`: format, encoding,
        delimiter; None or absent means detect) plus any other field. A declared value the reader cannot honour
        (an unknown format or encoding) makes the file unreadable: UnreadableFile("invalid_read_options")."""
        chosen = {name: value for name, value in (values or {}).items() if value is not None}
        try:
            return cls(**{**chosen, **settings})
        except (TypeError, ValueError) as error:
            raise UnreadableFile("invalid_read_options", str(error)) from error

    @classmethod
    def for_key(cls, key: str, declared: Mapping[str, Any] | None = None, **settings: Any) -> ReadOptions:
        """Options for an S3 key: the declared values first, else the format the key's suffix names."""
        options = cls.declared(declared, **settings)
        return options if options.format else replace(options, format=format_of_key(key))


@dataclass(frozen=True)
class TextLayout:
    """How a text file is read throughout: its encoding and (CSV) delimiter, chosen once from its first block."""

    format: str
    encoding: str
    delimiter: str | None  # None for JSON Lines


def text_layout(first: bytes, options: ReadOptions, file_format: str, complete: bool) -> TextLayout:
    """The declared encoding and delimiter, else those detected in the first decompressed block (`complete`: it
    is the whole file); refuses an empty or binary file, or one whose start does not decode."""
    head = first.removeprefix(UTF8_BOM)
    if not head.strip() and complete:
        raise UnreadableFile("empty_file")
    refuse_binary(head)
    if options.encoding is not None and not options.check_encoding:
        encoding = options.encoding  # text that does not decode is then a fault of its row (undecodable_text)
    else:
        encoding = text_encoding(first, options.encoding, complete=complete)
    if file_format == "jsonl":
        return TextLayout(file_format, encoding, None)
    delimiter = options.delimiter or sniff_delimiter(head.decode(encoding, errors="replace"), options.quote_char)
    return TextLayout(file_format, encoding, delimiter)


def _text_batches(blocks: ByteBlocks, options: ReadOptions, file_format: str) -> Iterator[RawRows]:
    layout = text_layout(blocks.first, options, file_format, complete=len(blocks.first) < options.batch_bytes)
    line_faults: dict[int, str] = {}  # filled in by utf8_blocks as it reads, checked by the record reader
    texts = utf8_blocks(blocks, layout.encoding, line_faults, options.max_record_bytes)
    if layout.delimiter is None:
        return read_jsonl_batches(texts, options.batch_rows, options.max_record_bytes, line_faults)
    return read_csv_batches(
        texts, layout.delimiter, options.quote_char, options.batch_rows, options.max_record_bytes, line_faults
    )


def _refuse_truncated(blocks: ByteBlocks) -> None:
    if blocks.truncated_after is not None:
        raise UnreadableFile(
            "truncated_gzip", f"the gzip stream ends after {blocks.truncated_after} decompressed bytes"
        )


def read_batches(stream: BinaryIO, options: ReadOptions | Mapping[str, Any] | None = None) -> Iterator[RawRows]:
    """Batches of the file's rows, as strings with their source lines (CSV: the physical line a row starts on,
    header = 1; JSON Lines: the object's line; Parquet: the row's 1-based position), and its malformed rows.
    A mapping of declared values (format, encoding, delimiter) is accepted in place of ReadOptions."""
    chosen = options if isinstance(options, ReadOptions) else ReadOptions.declared(options)
    blocks = ByteBlocks(stream, chosen.compression, chosen.batch_bytes)
    if not blocks.first:
        _refuse_truncated(blocks)
    file_format = chosen.format or format_of_content(blocks.first)
    if file_format == "parquet":
        source = open_parquet(blocks.first, blocks, stream, blocks.compressed)
        _refuse_truncated(blocks)  # a cut Parquet file has lost its footer: nothing in it can be read
        yield from read_parquet_batches(source, chosen.batch_rows)
    else:
        yield from _text_batches(blocks, chosen, file_format)
    _refuse_truncated(blocks)


def read_csv_rows(data: bytes) -> RawRows:
    """The whole of a small in-memory file as one RawRows (for tests and tools; ingest streams read_batches)."""
    batches = list(read_batches(io.BytesIO(data), ReadOptions(format="csv")))
    return RawRows(
        table=pa.concat_tables([batch.table for batch in batches]),
        lines=pa.concat_arrays([batch.lines for batch in batches]),
        malformed=[rejection for batch in batches for rejection in batch.malformed],
    )
