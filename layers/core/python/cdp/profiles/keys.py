"""Primary keys of every item the platform stores (see README: table design)."""

from __future__ import annotations

import hashlib

PROFILE_SK = "PROFILE"


def profile_key(profile_id: str) -> dict[str, str]:
    return {"pk": f"PROFILE#{profile_id}", "sk": PROFILE_SK}


def identity_key(identifier_type: str, value: str) -> dict[str, str]:
    return {"pk": f"IDENTITY#{identifier_type}#{value}", "sk": "IDENTITY"}




def message_id_key(source_id: str, message_id: str) -> dict[str, str]:
    return {"pk": f"MESSAGEID#{source_id}#{message_id}", "sk": "MESSAGEID"}


def file_key(bucket: str, key: str, version: str) -> dict[str, str]:
    return {"pk": f"FILE#{bucket}/{key}", "sk": f"VERSION#{version}"}


def segment_member_key(segment: str, profile_id: str) -> dict[str, str]:
    return {"pk": f"SEGMENT#{segment}", "sk": f"PROFILE#{profile_id}"}


def journey_message_key(profile_id: str, journey: str, step: str) -> dict[str, str]:
    return {"pk": f"PROFILE#{profile_id}", "sk": f"MESSAGE#{journey}#{step}"}


def source_key(write_key: str) -> dict[str, str]:
    """Sources are stored under a hash of their write key, never the key itself."""
    digest = hashlib.sha256(write_key.encode("utf-8")).hexdigest()
    return {"pk": f"SOURCE#{digest}", "sk": "SOURCE"}
