"""Export (GDPR art. 15/20, PIPL art. 45): everything held about a person, as one JSON document.

Follows redirects, and includes the profiles merged into the person's profile. Every read is paginated. The profile
is the typed one the API and journeys read (`cdp.profiles.model.Profile`, in sections); the records it was built
from are exported beside it, so the bookkeeping the profile item keeps for exactly-once application is not lost.
`export_identifiers` exports by identifiers (a shop's `customers/data_request`): every live profile holding one.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from cdp.canonical import Identifier
from cdp.errors import NotFound
from cdp.identity.resolution import current_profile_id
from cdp.keys import MEMBER_PREFIX, RECORD_PREFIX
from cdp.privacy.erasure import live_profiles_holding, merged_profiles
from cdp.privacy.ports import PersonalData
from cdp.privacy.requests import ID_PATTERN, json_default
from cdp.profiles.read import profile_view

PROFILE_ITEM_KINDS = {"PROFILE": "profile", "IDENTIFIER#": "identifiers", "EDGE#": "merge_edges", "MESSAGE#": "journey_messages",
                      "CONSENT#": "consent_history"}


def _json_ready(value: Any) -> Any:
    return json.loads(json.dumps(value, default=json_default))


def _kind(key: str, kinds: dict[str, str]) -> str | None:
    return next((kind for prefix, kind in kinds.items() if key.startswith(prefix)), None)


def _without_keys(items: list[dict[str, Any]], *names: str) -> list[dict[str, Any]]:
    return [{name: value for name, value in item.items() if name not in names} for item in items]


def export_profile(store: PersonalData, profile_id: str) -> dict[str, Any] | None:
    """The person's data in sections; None when there is no such profile."""
    live = current_profile_id(store, profile_id)
    if live is None:
        return None
    profiles = merged_profiles(store, live)
    sections: dict[str, list[dict[str, Any]]] = defaultdict(list)
    records: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for pid in profiles:
        for item in store.profile_items(pid):
            if kind := _kind(str(item["sk"]), PROFILE_ITEM_KINDS):
                sections[kind].append(item)
        for item in store.ledger_items(pid):
            if str(item["pk"]).startswith(RECORD_PREFIX):
                source = {"source": item["source"], "applied_at": item["applied_at"]}
                records[str(item["entity"])].append({**item["record"], **source})
    bound = store.items_naming(profiles)
    sections["segment_memberships"] = [item for item in bound if str(item["pk"]).startswith(("SEGMENT#", "TIMER#"))]
    profile = next(item for item in sections["profile"] if item["profile_id"] == live)
    return _json_ready(
        {
            "profile_id": live,
            "merged_profiles": profiles[1:],
            "profile": profile_view(profile).as_json(),
            "consents": profile.get("consent", {}),
            "consent_history": sorted(_without_keys(sections["consent_history"], "pk", "sk"), key=lambda h: str(h["recorded_at"])),
            "identifiers": sorted(
                {str(item["sk"])[len(MEMBER_PREFIX) :] for item in sections["identifiers"]}
                | {str(item["pk"]).removeprefix("IDENTITY#") for item in bound if item["sk"] == "IDENTITY"}
                | {f"{name}#{profile[name]}" for name in ("customer_id", "email", "phone") if profile.get(name)}
            ),
            "merge_edges": _without_keys(sections["merge_edges"], "pk", "sk"),
            "journey_messages": _without_keys(sections["journey_messages"], "pk", "sk"),
            "records": dict(records),
            "segment_memberships": sorted(str(item["pk"]).removeprefix("SEGMENT#") for item in sections["segment_memberships"]),
        }
    )


def export_identifiers(store: PersonalData, identifiers: list[Identifier]) -> list[dict[str, Any]]:
    """The export of each live profile holding one of the identifiers (none when nobody holds them)."""
    exports = (export_profile(store, profile_id) for profile_id in live_profiles_holding(store, identifiers))
    return [exported for exported in exports if exported is not None]


def export_of(store: PersonalData, profile_id: str) -> dict[str, Any]:
    """GET /v1/profiles/{id}/export: the person's export; NotFound for an unknown or malformed id."""
    exported = export_profile(store, profile_id) if ID_PATTERN.match(profile_id) else None
    if exported is None:
        raise NotFound("no such profile")
    return exported
