"""Streams an object's bytes in bounded blocks: gzip undone on the fly, text checked and transcoded to UTF-8.

Nothing here holds more than one block (plus the decompressor's window and one unfinished line), whatever the
object's size.
"""

from __future__ import annotations

import gzip
import io
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


def _decompressed_blocks(stream: BinaryIO, block_bytes: int) -> Iterator[bytes]:
    """Gzip members inflated block by block; a cut-off or corrupt stream is an UnreadableFile when it is met.

    Python's gzip module is used rather than pyarrow's CompressedInputStream because it also checks each
    member's CRC-32 and length trailer, so silently corrupted content is refused, not ingested.
    """
    inflated = gzip.GzipFile(fileobj=stream, mode="rb")
    produced = 0
    while True:
        try:
            block = read_fully(inflated, block_bytes)  # type: ignore[arg-type]
        except EOFError as error:
            raise UnreadableFile("truncated_gzip", f"after {produced} decompressed bytes: {error}") from error
        except (OSError, zlib.error) as error:
            raise UnreadableFile("corrupt_gzip", f"after {produced} decompressed bytes: {error}") from error
        if not block:
            return
        produced += len(block)
        yield block


class ByteBlocks:
    """The decompressed content of a stream as blocks of at most `block_bytes`; `first` is there to sniff."""

    def __init__(self, stream: BinaryIO, compression: str | None, block_bytes: int) -> None:
        head = read_fully(stream, block_bytes)
        self.compressed = head.startswith(GZIP_MAGIC)
        if compression == "gzip" and not self.compressed:
            raise UnreadableFile("not_gzip", "declared gzip, but the content has no gzip header")
        if self.compressed:
            self._blocks = _decompressed_blocks(_Prefixed(head, stream), block_bytes)  # type: ignore[arg-type]
        else:
            self._blocks = self._plain(head, stream, block_bytes)
        self.first = next(self._blocks, b"")

    @staticmethod
    def _plain(head: bytes, stream: BinaryIO, block_bytes: int) -> Iterator[bytes]:
        block = head
        while block:
            yield block
            block = read_fully(stream, block_bytes)

    def __iter__(self) -> Iterator[bytes]:
        if self.first:
            yield self.first
        yield from self._blocks


def _as_utf8(lines: bytes, encoding: str, first_line: int, undecodable_lines: set[int]) -> bytes:
    """Whole lines as UTF-8; a line that does not decode gets U+FFFD for its bad bytes and its number noted."""
    try:
        text = lines.decode(encoding)
    except UnicodeDecodeError:
        parts = lines.split(b"\n")
        for number, part in enumerate(parts):
            try:
                parts[number] = part.decode(encoding).encode("utf-8")
            except UnicodeDecodeError:
                parts[number] = part.decode(encoding, errors="replace").encode("utf-8")
                undecodable_lines.add(first_line + number)
        return b"\n".join(parts)
    return lines if encoding == "utf-8" else text.encode("utf-8")


def utf8_blocks(blocks: ByteBlocks, encoding: str, undecodable_lines: set[int], max_line_bytes: int) -> Iterator[bytes]:
    """The blocks as UTF-8 (BOM removed), cut at line ends so that each line is decoded whole (a newline is never
    part of a character in UTF-8, GBK or GB18030). A line that does not decode in `encoding` is passed on with its
    bad bytes as U+FFFD and its number (the first line is 1) added to `undecodable_lines` before the block holding
    it is returned, for the record reader to reject the row it belongs to; the rest of the file is read on.
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
        yield _as_utf8(lines, encoding, line, undecodable_lines)
        line += lines.count(b"\n")
    if pending:
        yield _as_utf8(pending, encoding, line, undecodable_lines)
