"""Reads a source's write key from an HTTP Basic Authorization header, as Segment clients send it."""

from __future__ import annotations

import base64
import binascii


def write_key_from_authorization(header: str | None) -> str | None:
    """`Basic base64(writeKey:)` -> writeKey; None for anything else."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    write_key = decoded.split(":", 1)[0]
    return write_key or None
