"""Streams an object's bytes in bounded blocks: gzip undone on the fly, text checked and transcoded to UTF-8.

Nothing here holds more than one block (plus the decompressor's window and one unfinished line), whatever the
object's size.
"""

from __future__ import annotations

import gzip
import io
import re
import zlib
from collections.abc import Iterator
from typing import BinaryIO

from cdp.clean.table import UnreadableFile

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


class _Prefixed(io.RawIOBase):
    """A stream whose first bytes were already read (to look at them), put back in front of the rest."""

    def __init__(self, prefix: bytes, rest: BinaryIO) -> None:
        self._prefix = prefix
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._prefix:
            count = min(len(buffer), len(self._prefix))
            buffer[:count] = self._prefix[:count]
            self._prefix = self._prefix[count:]
            return count
        chunk = self._rest.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def read_fully(stream: BinaryIO, size: int) -> bytes:
    """Up to `size` bytes; short only at the end of the stream (network bodies may return less per read)."""
    parts: list[bytes] = []
    remaining = size
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


class ByteBlocks:
    """The decompressed content of a stream as blocks of at most `block_bytes`; `first` is there to sniff.

    A gzip stream cut short is not refused here: every byte inflated before the cut is yielded, then the blocks
    end and `truncated_after` says how many decompressed bytes there were (None: not truncated), for the reader
    to keep the complete records, quarantine the partial one and report the file. A corrupt stream (bad data or
    checksum) is an UnreadableFile("corrupt_gzip") when it is met. Python's gzip module is used rather than
    pyarrow's CompressedInputStream because it also checks each member's CRC-32 and length trailer, so silently
    corrupted content is refused, not ingested.
    """

    def __init__(self, stream: BinaryIO, compression: str | None, block_bytes: int) -> None:
        head = read_fully(stream, block_bytes)
        self.compressed = head.startswith(GZIP_MAGIC)
        self.truncated_after: int | None = None
        if compression == "gzip" and not self.compressed:
            raise UnreadableFile("not_gzip", "declared gzip, but the content has no gzip header")
        if self.compressed:
            self._blocks = self._inflated(_Prefixed(head, stream), block_bytes)  # type: ignore[arg-type]
        else:
            self._blocks = self._plain(head, stream, block_bytes)
        self.first = next(self._blocks, b"")

    @staticmethod
    def _plain(head: bytes, stream: BinaryIO, block_bytes: int) -> Iterator[bytes]:
        block = head
        while block:
            yield block
            block = read_fully(stream, block_bytes)

    def _inflated(self, stream: BinaryIO, block_bytes: int) -> Iterator[bytes]:
        """Gzip members inflated block by block, each block gathered from reads of at most one compressed chunk,
        so that a cut in the stream loses none of the bytes inflated before it."""
        inflated = gzip.GzipFile(fileobj=stream, mode="rb")
        produced = 0
        while True:
            parts: list[bytes] = []
            size = 0
            try:
                while size < block_bytes and (chunk := inflated.read1(block_bytes - size)):
                    parts.append(chunk)
                    size += len(chunk)
            except EOFError:
                self.truncated_after = produced + size
            except (OSError, zlib.error) as error:
                raise UnreadableFile("corrupt_gzip", f"after {produced + size} decompressed bytes: {error}") from error
            if parts:
                produced += size
                yield b"".join(parts)
            if self.truncated_after is not None or size < block_bytes:
                return

    def __iter__(self) -> Iterator[bytes]:
        if self.first:
            yield self.first
        yield from self._blocks


UNDECODABLE_TEXT = "undecodable_text"
BINARY_CONTENT = "binary_content"
TRUNCATED_GZIP = "truncated_gzip"


# Control bytes (NUL included) other than tab, newline, carriage return and form feed: text holds (almost) none. They
# are never part of a character in UTF-8, GBK or GB18030, so they are found in the raw bytes.
CONTROL_BYTES = bytes(set(range(32)) - {9, 10, 12, 13}) + b"\x7f"
_CONTROL_BYTE = re.compile(b"[" + re.escape(CONTROL_BYTES) + b"]")


def holds_control_bytes(data: bytes) -> bool:
    return len(data.translate(None, CONTROL_BYTES)) < len(data)


def _note_binary_lines(lines: bytes, first_line: int, line_faults: dict[int, str]) -> None:
    """A line holding a control byte is not text: its number is noted, for the record reader to quarantine its row
    (the whole block is checked at C speed first; most blocks hold none)."""
    if not holds_control_bytes(lines):
        return
    for found in _CONTROL_BYTE.finditer(lines):
        line_faults.setdefault(first_line + lines.count(b"\n", 0, found.start()), BINARY_CONTENT)


def _as_utf8(lines: bytes, encoding: str, first_line: int, line_faults: dict[int, str]) -> bytes:
    """Whole lines as UTF-8; a line that does not decode gets U+FFFD for its bad bytes and its number noted."""
    _note_binary_lines(lines, first_line, line_faults)
    try:
        text = lines.decode(encoding)
    except UnicodeDecodeError:
        parts = lines.split(b"\n")
        for number, part in enumerate(parts):
            try:
                parts[number] = part.decode(encoding).encode("utf-8")
            except UnicodeDecodeError:
                parts[number] = part.decode(encoding, errors="replace").encode("utf-8")
                line_faults.setdefault(first_line + number, UNDECODABLE_TEXT)
        return b"\n".join(parts)
    return lines if encoding == "utf-8" else text.encode("utf-8")


def utf8_blocks(blocks: ByteBlocks, encoding: str, line_faults: dict[int, str], max_line_bytes: int) -> Iterator[bytes]:
    """The blocks as UTF-8 (BOM removed), cut at line ends so that each line is decoded whole (a newline is never
    part of a character in UTF-8, GBK or GB18030). A line that is not text is passed on, its number (the first line
    is 1) and fault noted in `line_faults` before the block holding it is returned, for the record reader to
    quarantine the row it belongs to while the rest of the file is read on: `undecodable_text` (its bad bytes
    become U+FFFD), `binary_content` (a NUL or other control byte), `truncated_gzip` (the partial last line of a
    cut gzip stream).
    A line longer than max_line_bytes is an UnreadableFile("record_too_large")."""
    pending, line = b"", 1
    for number, block in enumerate(blocks):
        if number == 0 and encoding == "utf-8":
            block = block.removeprefix(UTF8_BOM)
        cut = block.rfind(b"\n") + 1
        if not cut:
            pending += block
            if len(pending) > max_line_bytes:
                raise UnreadableFile("record_too_large", f"line {line}: a line over {max_line_bytes} bytes")
            continue
        lines, pending = pending + block[:cut], block[cut:]
        yield _as_utf8(lines, encoding, line, line_faults)
        line += lines.count(b"\n")
    if pending:
        if blocks.truncated_after is not None:
            line_faults[line] = TRUNCATED_GZIP
        yield _as_utf8(pending, encoding, line, line_faults)
