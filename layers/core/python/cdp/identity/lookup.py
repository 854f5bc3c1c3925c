"""Finding the live profile behind a profile id (following merge redirects) or behind one identifier."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cdp.canonical import IDENTIFIER_TYPES
from cdp.errors import Invalid, NotFound
from cdp.identity.ports import IdentityRepository
from cdp.identity.resolution import current_profile_id
from cdp.identity.rules import DEFAULT_RULES, IdentityRules
from cdp.profiles.model import Profile
from cdp.profiles.read import profile_view

PROFILE_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
LOOKUP_TYPES = IDENTIFIER_TYPES


class MalformedLookup(Invalid):
    """The request names no usable profile id or identifier."""


MAX_LOOKUP_BODY_BYTES = 4096


class IdentifierLookup(BaseModel):
    """The body of POST /v1/profiles/lookup: one identifier, e.g. `{"email": "jane@example.com"}`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    customer_id: str | None = Field(default=None, max_length=512)
    email: str | None = Field(default=None, max_length=512)
    phone: str | None = Field(default=None, max_length=512)
    anonymous_id: str | None = Field(default=None, max_length=512)


def identifier_in_body(body: str) -> dict[str, str]:
    """The `{type: value}` a lookup body names (checked further by `profile_by_identifier`); MalformedLookup for a
    body that is too large, not JSON, or holds anything but identifier strings."""
    if len(body.encode()) > MAX_LOOKUP_BODY_BYTES:
        raise MalformedLookup(f"body larger than {MAX_LOOKUP_BODY_BYTES} bytes")
    try:
        lookup = IdentifierLookup.model_validate_json(body)
    except ValidationError as error:
        raise MalformedLookup("; ".join(detail["msg"] for detail in error.errors())) from error
    return lookup.model_dump(exclude_none=True)


def live_profile(store: IdentityRepository, profile_id: str) -> dict[str, Any] | None:
    """The profile item `profile_id` is, or was merged into; None when unknown. MalformedLookup for a bad id."""
    if not PROFILE_ID_PATTERN.match(profile_id):
        raise MalformedLookup("a profile id is 1-64 letters, digits, '-' or '_'")
    live_id = current_profile_id(store, profile_id)
    return store.get_profile(live_id) if live_id else None


def profile_by_identifier(
    store: IdentityRepository, query: dict[str, str], phone_region: str, rules: IdentityRules = DEFAULT_RULES
) -> dict[str, Any] | None:
    """The live profile holding exactly one identifier given as `{type: value}` in any written form (a national
    phone number read in `phone_region`); None when nobody holds it."""
    if len(query) != 1 or next(iter(query)) not in LOOKUP_TYPES:
        raise MalformedLookup(f"give exactly one of {', '.join(LOOKUP_TYPES)}")
    [(identifier_type, value)] = query.items()
    identifier = rules.normalise(identifier_type, value, phone_region)
    if identifier is None:
        raise MalformedLookup(f"{identifier_type} is empty, malformed, too long or a blocked placeholder value")
    owner = store.owner_of(identifier)
    return live_profile(store, owner) if owner else None


def profile_of(store: IdentityRepository, profile_id: str) -> Profile:
    """GET /v1/profiles/{id}: the typed live profile with its identifiers; NotFound, or MalformedLookup."""
    item = live_profile(store, profile_id)
    if item is None:
        raise NotFound(f"no profile {profile_id}")
    return profile_view(item, identifiers=store.members(item["profile_id"]))


def profile_looked_up(store: IdentityRepository, query: dict[str, str], phone_region: str) -> Profile:
    """GET /v1/profiles/lookup?<type>=<value>: the typed live profile holding that identifier; NotFound otherwise."""
    item = profile_by_identifier(store, query, phone_region)
    if item is None:
        raise NotFound("no profile holds that identifier")
    return profile_view(item, identifiers=store.members(item["profile_id"]))
