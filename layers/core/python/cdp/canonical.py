"""The canonical vocabulary every part shares: the identifier types and each entity's natural key.

Cleaning, identity, record application, lookups, erasure and the storage keys all read these two tables from here,
so adding an identifier type or an entity's key column is one change.
"""

from __future__ import annotations

Identifier = tuple[str, str]  # (type, normalised value), e.g. ("email", "jane@example.com")

IDENTIFIER_TYPES: tuple[str, ...] = ("customer_id", "email", "phone", "anonymous_id")  # strongest first

NATURAL_KEYS: dict[str, tuple[str, ...]] = {
    "customers": ("customer_id",),
    "orders": ("order_id", "line_id"),
    "returns": ("return_id", "line_id"),
    "events": ("event_id",),
    "tickets": ("ticket_id", "updated_at"),
    "feedback": ("response_id",),
    "consents": ("customer_id", "email", "phone", "channel", "purpose", "recorded_at"),
    "loyalty": ("entry_id",),
}  # the columns that identify one source record of each entity (a duplicate has the same values)

IDENTIFIER_KEYED_ENTITIES: tuple[str, ...] = tuple(
    entity for entity, columns in NATURAL_KEYS.items() if set(columns) & set(IDENTIFIER_TYPES)
)  # natural keys that name a person, forgotten on erasure
