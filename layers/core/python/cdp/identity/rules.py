"""Identity rules as data: identifier priority, per-profile limits and blocked values (Segment's three rules).

Priority orders identifier types strongest first; types a rule set does not list rank after the listed ones in
alphabetical order, as Segment ranks undeclared external ids. A limit is the most values of one type a profile
may hold (customer_id 1: two customer ids never share a profile). Blocked values never resolve: exact values
(compared case-insensitively) and regular expressions (Segment's suggested `^[0-]*$` for zeroes and dashes).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cdp.identifiers import normalise_email, normalise_phone

Identifier = tuple[str, str]

DEFAULT_LIMIT = 5
MAX_VALUE_LENGTH = 512
_TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_.]{0,63}$")


class InvalidRules(ValueError):
    """A rule set that cannot be applied (unknown keys, bad limits, bad patterns)."""


@dataclass(frozen=True)
class IdentityRules:
    """Priority, limits and blocked values; plain data, loadable from JSON."""

    priority: tuple[str, ...] = ("customer_id", "email", "phone", "anonymous_id")
    limits: Mapping[str, int] = field(
        default_factory=lambda: {"customer_id": 1, "email": 5, "phone": 5, "anonymous_id": 100}
    )
    blocked_values: frozenset[str] = frozenset(
        {"", "null", "none", "nil", "undefined", "-1", "0", "anonymous", "test@test.com", "n/a", "na", "unknown"}
    )
    blocked_patterns: tuple[str, ...] = (r"^[0\-+ ]*$",)
    _compiled: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False, default=())

    def __post_init__(self) -> None:
        for identifier_type in (*self.priority, *self.limits):
            if not _TYPE_PATTERN.match(identifier_type):
                raise InvalidRules(f"identifier type {identifier_type!r} is not a lowercase name")
        if len(set(self.priority)) != len(self.priority):
            raise InvalidRules("priority lists a type twice")
        if any(not isinstance(limit, int) or limit < 1 for limit in self.limits.values()):
            raise InvalidRules("limits must be positive integers")
        try:
            object.__setattr__(self, "_compiled", tuple(re.compile(pattern) for pattern in self.blocked_patterns))
        except re.error as error:
            raise InvalidRules(f"blocked pattern does not compile: {error}") from error
        object.__setattr__(self, "blocked_values", frozenset(value.lower() for value in self.blocked_values))

    def limit(self, identifier_type: str) -> int:
        return self.limits.get(identifier_type, DEFAULT_LIMIT)

    def rank(self, identifier_type: str) -> tuple[int, str]:
        """Sort key: listed types by position, then the others alphabetically."""
        if identifier_type in self.priority:
            return (self.priority.index(identifier_type), "")
        return (len(self.priority), identifier_type)

    def is_blocked(self, value: str) -> bool:
        return value.lower() in self.blocked_values or any(pattern.match(value) for pattern in self._compiled)

    def normalise(self, identifier_type: str, value: object, phone_region: str | None = None) -> Identifier | None:
        """The identifier as stored, or None when unusable or blocked: emails and phones through
        `cdp.identifiers` (national phone numbers read in `phone_region`), other types trimmed."""
        if value is None or not _TYPE_PATTERN.match(identifier_type):
            return None
        text: str | None = str(value).strip()
        if identifier_type == "email":
            text = normalise_email(text)
        elif identifier_type == "phone":
            text = normalise_phone(text, phone_region)
        if text is None or len(text) > MAX_VALUE_LENGTH or self.is_blocked(text):
            return None
        return (identifier_type, text)

    def usable(self, identifiers: Iterable[tuple[str, object]], phone_region: str | None = None) -> list[Identifier]:
        """The usable identifiers of one input, normalised, deduplicated, strongest first (value order breaks ties)."""
        normalised = {self.normalise(kind, value, phone_region) for kind, value in identifiers}
        return sorted((i for i in normalised if i is not None), key=lambda i: (self.rank(i[0]), i[1]))

    def to_json(self) -> dict[str, Any]:
        return {
            "priority": list(self.priority),
            "limits": dict(self.limits),
            "blocked_values": sorted(self.blocked_values),
            "blocked_patterns": list(self.blocked_patterns),
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> IdentityRules:
        """A rule set from its JSON form; missing keys keep the defaults, unknown keys are refused."""
        unknown = set(document) - {"priority", "limits", "blocked_values", "blocked_patterns"}
        if unknown:
            raise InvalidRules(f"unknown rule keys: {sorted(unknown)}")
        defaults = cls()
        try:
            return cls(
                priority=tuple(document.get("priority", defaults.priority)),
                limits=dict(document.get("limits", defaults.limits)),
                blocked_values=frozenset(document.get("blocked_values", defaults.blocked_values)),
                blocked_patterns=tuple(document.get("blocked_patterns", defaults.blocked_patterns)),
            )
        except (TypeError, AttributeError) as error:
            raise InvalidRules(f"malformed rule set: {error}") from error

    @classmethod
    def from_json_text(cls, text: str) -> IdentityRules:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise InvalidRules(f"rule set is not JSON: {error}") from error
        if not isinstance(document, dict):
            raise InvalidRules("rule set must be a JSON object")
        return cls.from_json(document)


DEFAULT_RULES = IdentityRules()
