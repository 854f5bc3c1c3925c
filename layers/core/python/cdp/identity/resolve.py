"""Deterministic identity rules: identifier priority, normalisation and blocked values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# Strongest first: a customer id outranks an email, which outranks a phone, which outranks a device.
IDENTIFIER_PRIORITY = ("customer_id", "email", "phone", "anonymous_id")
BLOCKED_VALUES = frozenset({"", "null", "none", "undefined", "-1", "0", "anonymous", "test@test.com", "n/a"})

Identifier = tuple[str, str]


def usable_identifiers(candidates: Mapping[str, object]) -> list[Identifier]:
    """The (type, value) pairs worth resolving on, in priority order, without blocked placeholder values."""
    identifiers: list[Identifier] = []
    for identifier_type in IDENTIFIER_PRIORITY:
        value = candidates.get(identifier_type)
        if value is None:
            continue
        text = str(value).strip()
        if identifier_type == "email":
            text = text.lower()
        if text.lower() in BLOCKED_VALUES or set(text.lstrip("+")) == {"0"}:
            continue
        identifiers.append((identifier_type, text))
    return identifiers


def choose_profile(identifiers: Iterable[Identifier], bound: Mapping[Identifier, str]) -> str | None:
    """The profile bound to the highest-priority identifier that is bound at all.

    A record that carries a customer id resolves on that id alone: two customer ids are never merged because
    they share an email or a phone (the weaker identifier is bound only where it is still free).
    """
    identifiers = list(identifiers)
    if identifiers and identifiers[0][0] == "customer_id":
        identifiers = identifiers[:1]
    for identifier in identifiers:
        if identifier in bound:
            return bound[identifier]
    return None
