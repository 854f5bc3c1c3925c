"""Request bodies as the tracking routes read them: base64 and gzip undone, size limits enforced on what was sent.

Limits apply to the decoded JSON (Segment: 32 KB per call, 500 KB per batch); gzip is inflated only up to the limit,
so a small compressed body cannot expand into a large one in memory.
"""

from __future__ import annotations

import base64
import binascii
import zlib


class BadBody(ValueError):
    """A body that cannot be read: invalid base64 or gzip, an unknown encoding, or over the size limit."""


GZIP_WINDOW = 16 + zlib.MAX_WBITS


def raw_body(body: str | None, is_base64_encoded: bool) -> bytes:
    """The bytes the client sent, before any content decoding."""
    if not body:
        return b""
    if not is_base64_encoded:
        return body.encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise BadBody("body is not valid base64") from None


def decoded_body(sent: bytes, content_encoding: str | None, limit: int) -> bytes:
    """`sent` with its Content-Encoding (identity or gzip) undone; BadBody when over `limit` bytes once decoded."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "gzip":
        inflater = zlib.decompressobj(GZIP_WINDOW)
        try:
            decoded = inflater.decompress(sent, limit + 1)
        except zlib.error:
            raise BadBody("body is not valid gzip") from None
        if len(decoded) <= limit and not inflater.eof:
            raise BadBody("body is not valid gzip")
    elif encoding == "identity":
        decoded = sent
    else:
        raise BadBody(f"unsupported Content-Encoding {encoding!r}: send identity or gzip")
    if len(decoded) > limit:
        raise BadBody(f"body larger than {limit // 1024} KB")
    return decoded
