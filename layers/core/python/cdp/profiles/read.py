"""The profile as the API shows it: storage keys removed, numbers as JSON numbers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

STORAGE_ATTRIBUTES = ("pk", "sk")


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, set, tuple)):
        return [_plain(item) for item in value]
    return value


def public_profile(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _plain(value) for key, value in item.items() if key not in STORAGE_ATTRIBUTES}
