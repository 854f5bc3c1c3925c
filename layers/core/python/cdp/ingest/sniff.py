"""Guesses what a file is from its first decompressed block: format, text encoding, CSV delimiter; refuses binary."""

from __future__ import annotations

import codecs
import csv
import io
import posixpath

from cdp.clean.table import UnreadableFile
from cdp.ingest.byte_stream import UTF8_BOM, UTF16_BOMS, holds_control_bytes
from cdp.ingest.csv_batches import python_csv_reader

PARQUET_MAGIC = b"PAR1"
FORMAT_BY_SUFFIX = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
COMPRESSION_SUFFIXES = (".gz", ".gzip")
DELIMITERS = (",", ";", "\t", "|")
SNIFF_RECORDS = 50
MAX_CONTROL_LINE_SHARE = 0.5


def format_of_key(key: str) -> str | None:
    """The format a key's suffix names (`orders/2024.csv.gz` -> csv), or None when the suffix says nothing."""
    name = posixpath.basename(key).lower()
    for suffix in COMPRESSION_SUFFIXES:
        name = name.removesuffix(suffix)
    return FORMAT_BY_SUFFIX.get(posixpath.splitext(name)[1])


def format_of_content(head: bytes) -> str:
    """Parquet by its magic bytes, JSON Lines when the first non-blank character opens an object, else CSV."""
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    return "jsonl" if head.removeprefix(UTF8_BOM).lstrip().startswith(b"{") else "csv"


def refuse_binary(head: bytes) -> None:
    """A text export's header holds no control byte (NUL included), nor do most of its lines; a few lines that do
    are faults of their rows (see file_reader), not of the file."""
    if head.startswith(UTF16_BOMS):
        raise UnreadableFile("undecodable_text", "UTF-16 text is not supported; export as UTF-8")
    lines = [line for line in head.split(b"\n") if line.strip()]
    if not lines:
        return
    if holds_control_bytes(lines[0]):
        raise UnreadableFile("binary_content", "control bytes in the first line")
    binary = sum(map(holds_control_bytes, lines))
    if binary > MAX_CONTROL_LINE_SHARE * len(lines):
        raise UnreadableFile("binary_content", f"control bytes in {binary} of the first {len(lines)} lines")


def _decodes(head: bytes, encoding: str, complete: bool) -> bool:
    try:
        codecs.getincrementaldecoder(encoding)().decode(head, final=complete)
    except UnicodeDecodeError:
        return False
    return True


def text_encoding(head: bytes, declared: str | None, complete: bool) -> str:
    """The declared encoding if the head decodes in it; else UTF-8 (BOM or not), else GB18030 when it decodes.

    `complete` says the head is the whole file (so a character cut at its end is an error, not a block edge).
    """
    if declared is not None:
        if not _decodes(head.removeprefix(UTF8_BOM) if declared == "utf-8" else head, declared, complete):
            raise UnreadableFile("undecodable_text", f"the content does not decode as the declared {declared}")
        return declared
    if head.startswith(UTF8_BOM) or _decodes(head, "utf-8", complete):
        return "utf-8"
    if _decodes(head, "gb18030", complete):
        return "gb18030"
    raise UnreadableFile("undecodable_text", "neither UTF-8 nor GB18030")


def _field_counts(sample: str, delimiter: str, quote_char: str | None) -> list[int]:
    reader = python_csv_reader(io.StringIO(sample), delimiter, quote_char, strict=False)
    counts: list[int] = []
    try:
        for record in reader:
            if record:
                counts.append(len(record))
            if len(counts) > SNIFF_RECORDS:
                break
    except csv.Error:
        pass
    return counts[:-1] if len(counts) > 1 else counts  # the last record of a sample may be cut short


def sniff_delimiter(sample: str, quote_char: str | None) -> str:
    """The candidate that splits the header into the most columns, among those giving most records the header's
    width; a comma when none splits the header (a one-column file)."""
    best, best_score = ",", (0.0, 1)
    for delimiter in DELIMITERS:
        counts = _field_counts(sample, delimiter, quote_char)
        if not counts or counts[0] < 2:
            continue
        consistency = sum(1 for count in counts if count == counts[0]) / len(counts)
        score = (consistency, counts[0])
        if score > best_score:
            best, best_score = delimiter, score
    return best
