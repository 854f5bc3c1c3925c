"""Finding the live profile behind a profile id (following merge redirects) or behind one identifier."""

from __future__ import annotations

import re
from typing import Any

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
