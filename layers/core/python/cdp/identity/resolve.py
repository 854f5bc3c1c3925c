"""Today's callers' view of the identity rules (kept while cdp.profiles still imports it; see resolution.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cdp.identity.rules import DEFAULT_RULES, Identifier

IDENTIFIER_PRIORITY = DEFAULT_RULES.priority


def usable_identifiers(candidates: Mapping[str, object]) -> list[Identifier]:
    """The (type, value) pairs worth resolving on, strongest first, without blocked placeholder values."""
    return DEFAULT_RULES.usable(candidates.items())


def choose_profile(identifiers: Iterable[Identifier], bound: Mapping[Identifier, str]) -> str | None:
    """The profile bound to the strongest identifier that is bound at all (a customer id resolves on itself alone)."""
    identifiers = list(identifiers)
    if identifiers and identifiers[0][0] == "customer_id":
        identifiers = identifiers[:1]
    return next((bound[identifier] for identifier in identifiers if identifier in bound), None)
