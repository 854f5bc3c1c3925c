"""Request bodies as the tracking routes read them: base64 and gzip undone, size limits enforced on what was sent,
and the JSON read strictly.

Limits apply to the decoded JSON (Segment: 32 KB per call, 500 KB per batch); gzip is inflated only up to the limit,
so a small compressed body cannot expand into a large one in memory. JSON is RFC 8259 JSON only: `NaN` and
`Infinity` are refused, as are nesting deeper than DynamoDB's 32 levels and integers longer than Python reads.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from typing import Any


class BadBody(ValueError):
    """A body that cannot be read: invalid base64 or gzip, an unknown encoding, or over the size limit."""


GZIP_WINDOW = 16 + zlib.MAX_WBITS
MAX_JSON_DEPTH = 32


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


def _not_json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def nesting_depth(value: Any) -> int:
    """How many arrays and objects deep `value` goes (iterative, so no depth can exhaust the stack)."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        current, depth = pending.pop()
        children = current.values() if isinstance(current, dict) else current if isinstance(current, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in children)
    return deepest


def strict_json(text: str | bytes) -> Any:
    """`text` parsed as RFC 8259 JSON; BadBody for anything else (bad syntax, NaN, too deep, numbers too long)."""
    try:
        value = json.loads(text, parse_constant=_not_json_constant)
    except RecursionError:
        raise BadBody(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    except UnicodeDecodeError:
        raise BadBody("body is not UTF-8 JSON") from None
    except ValueError as error:
        raise BadBody(f"body is not valid JSON: {str(error).split(':')[0]}") from None
    if nesting_depth(value) > MAX_JSON_DEPTH:
        raise BadBody(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return value
