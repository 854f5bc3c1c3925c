"""Streams an object's bytes in bounded blocks: gzip undone on the fly, text checked and transcoded to UTF-8.

Nothing here holds more than one block (plus the decompressor's window), whatever the object's size.
"""

from __future__ import annotations

import codecs
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


def utf8_blocks(blocks: ByteBlocks, encoding: str) -> Iterator[bytes]:
    """The blocks as UTF-8 (BOM removed), checked to decode in `encoding`; a byte that does not decode makes
    the file an UnreadableFile("undecodable_text") naming the line, even after earlier blocks were returned."""
    decoder = codecs.getincrementaldecoder(encoding)()
    lines_before = 1
    first = True
    for block in blocks:
        if first:
            block = block.removeprefix(UTF8_BOM) if encoding == "utf-8" else block
            first = False
        try:
            text = decoder.decode(block)
        except UnicodeDecodeError as error:
            line = lines_before + block.count(b"\n", 0, error.start)
            raise UnreadableFile("undecodable_text", f"line {line}: not {encoding}: {error.reason}") from error
        lines_before += block.count(b"\n")
        yield block if encoding == "utf-8" else text.encode("utf-8")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as error:
        raise UnreadableFile("undecodable_text", f"line {lines_before}: the text ends inside a character") from error
