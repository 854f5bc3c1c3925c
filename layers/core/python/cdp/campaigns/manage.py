"""The campaign API's use cases: create, list, show, pause, resume, cancel, each keeping the schedule in step.

State moves: active -> paused -> active (resume), active or paused -> cancelled (final). Pausing disables the
schedule and makes workers hold queued messages; cancelling deletes the schedule and makes workers skip them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cdp.campaigns.definition import NAME_PATTERN, Campaign, State, parse_campaign
from cdp.campaigns.ports import CampaignStore, Schedules
from cdp.errors import Invalid, NotFound

DEFAULT_PAGE, MAX_PAGE = 50, 100  # campaigns per page of the list


@dataclass(frozen=True)
class ManageParts:
    campaigns: CampaignStore
    schedules: Schedules
    shop_zone: str
    known_segments: Callable[[], set[str] | None]  # the latest snapshot's segments; None before the first run


def create_campaign(document: Any, parts: ManageParts, now: datetime) -> Campaign:
    """Validate, refuse unknown segments and one-off times already past, store, then schedule."""
    campaign = parse_campaign(document)
    if campaign.state != "active":
        raise Invalid("invalid campaign", [{"field": "state", "message": "a new campaign is active"}])
    known = parts.known_segments()
    unknown = sorted(campaign.audience.segments() - known) if known is not None else []
    if unknown:
        field = "audience.segment" if campaign.audience.segment else "audience.rule"
        raise Invalid("invalid campaign", [{"field": field, "message": f"unknown segment(s) {unknown}"}])
    at = campaign.schedule.at
    if at is not None and at.replace(tzinfo=campaign.schedule.zone(parts.shop_zone)) <= now:
        raise Invalid("invalid campaign", [{"field": "schedule.at", "message": "this time has passed"}])
    parts.campaigns.create(campaign, now)
    parts.schedules.put(campaign, parts.shop_zone, enabled=True)
    return campaign


def _campaign(name: str, parts: ManageParts) -> Campaign:
    campaign = parts.campaigns.get(name)
    if campaign is None:
        raise NotFound(f"no campaign {name!r}")
    return campaign


def show_campaign(name: str, parts: ManageParts) -> dict[str, Any]:
    """The definition, its state and its runs with their counters."""
    return {**_campaign(name, parts).model_dump(mode="json"), "runs": parts.campaigns.runs(name)}


def list_campaigns(parts: ManageParts, limit: str | None = None, next_token: str | None = None) -> dict[str, Any]:
    """One page of campaigns in name order (`limit`, 1 to MAX_PAGE, default DEFAULT_PAGE) from `next_token`, the
    `next` of the page before; `next` is None on the last page. `Invalid` for a malformed limit or token."""
    size = DEFAULT_PAGE if limit is None else int(limit) if re.fullmatch(r"[0-9]{1,3}", limit) else 0
    if not 1 <= size <= MAX_PAGE:
        raise Invalid("invalid query", [{"field": "limit", "message": f"a whole number from 1 to {MAX_PAGE}"}])
    if next_token is not None and not re.match(NAME_PATTERN, next_token):
        raise Invalid("invalid query", [{"field": "next", "message": "not a token this list gave"}])
    campaigns, after = parts.campaigns.page(size, next_token)
    listed = [{"name": c.name, "state": c.state, "channel": c.channel, "schedule": c.schedule.expression()}
              for c in campaigns]  # fmt: skip
    return {"campaigns": listed, "next": after}


MOVES: dict[str, tuple[State, tuple[State, ...]]] = {
    "pause": ("paused", ("active",)),
    "resume": ("active", ("paused",)),
    "cancel": ("cancelled", ("active", "paused")),
}


def change_state(name: str, action: str, parts: ManageParts, now: datetime) -> Campaign:
    """Pause, resume or cancel; `Conflict` when the campaign is not in a state the action starts from."""
    state, allowed_from = MOVES[action]
    _campaign(name, parts)
    campaign = parts.campaigns.set_state(name, state, allowed_from, now)
    if state == "cancelled":
        parts.schedules.delete(name)
    else:
        parts.schedules.put(campaign, parts.shop_zone, enabled=state == "active")
    return campaign
