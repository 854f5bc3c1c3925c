"""Finding the live profile behind a profile id (following merge redirects) or behind one identifier."""

from __future__ import annotations

import re
from typing import Any

from cdp.adapters.identity_store import IdentityStore
from cdp.identity.resolution import current_profile_id
from cdp.identity.rules import DEFAULT_RULES, IdentityRules

PROFILE_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
LOOKUP_TYPES = ("customer_id", "email", "phone", "anonymous_id")


class MalformedLookup(ValueError):
    """The request names no usable profile id or identifier."""


def live_profile(store: IdentityStore, profile_id: str) -> dict[str, Any] | None:
    """The profile item `profile_id` is, or was merged into; None when unknown. MalformedLookup for a bad id."""
    if not PROFILE_ID_PATTERN.match(profile_id):
        raise MalformedLookup("a profile id is 1-64 letters, digits, '-' or '_'")
    live_id = current_profile_id(store, profile_id)
    return store.get_profile(live_id) if live_id else None


def profile_by_identifier(
    store: IdentityStore, query: dict[str, str], phone_region: str, rules: IdentityRules = DEFAULT_RULES
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
