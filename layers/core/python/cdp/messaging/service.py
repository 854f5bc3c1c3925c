"""The one sending service: every journey step and campaign message goes through `send_message`.

Rules, checked at the moment of sending, in this order (the first that stops a message names the reason, recorded
on the send record and as a `messages` row): the profile exists (read strongly consistently, merges followed), the
request has not expired, its guards still hold, consent for the channel and purpose, the suppression list, an
address for the channel, then for marketing the frequency cap and quiet hours, which **defer** the message to the
earliest allowed moment (skipped as `expired` if that is past `expires_at`).

The cap holds under concurrent senders: a marketing send reads the person's `CapWindow` for the channel, and its claim
writes the window with this send added in the same transaction, only if the window's version is still the one read.
A claim that finds the window changed (another send took or gave back a slot) writes nothing and decides again from
the window as it now is; each such loss means another send took a slot, so after `limit + 1` losses the cap is full
and the message is deferred. A send that fails at the provider with nothing sent gives its slot back.

Exactly once per `request.key()`: decisions without a send are written conditionally (never over a sent or claimed
record); a send first claims the record with a conditional write carrying a fresh token, then calls the provider,
then records the outcome under that token. A record claimed by another sender answers `already_sent` without a
provider call. A claim older than the lease (longer than any sender can run) was left by a sender that crashed
between claim and outcome: whether the provider took the message is unknown, so it is marked `unknown` and never
resent (at most once; docs/sending.md says why). A provider error that says nothing was sent (`ProviderError`)
records `failed`, and that record can be claimed again by a retry.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cdp.messaging.feedback import message_tag_value
from cdp.messaging.ports import (
    CapWindow,
    CapWindowChanged,
    Channel,
    MessageEvents,
    ProviderError,
    ReadProfile,
    RenderedMessage,
    SendRecords,
    SuppressionList,
    UnsubscribeLinks,
)
from cdp.messaging.requests import MessageRequest, SendOutcome
from cdp.messaging.rules import FrequencyCap, QuietHours, address_of, failed_guard, unreachable_reason, zone_of
from cdp.messaging.templates import Template, render_part
from cdp.profiles.model import Profile
from cdp.profiles.read import profile_view

BLOCKING_STATUSES = frozenset({"sent", "claimed", "unknown"})  # a record in these is never claimed again


class SendInterrupted(RuntimeError):
    """The provider failed in a way that may be retried (throttling, unavailable); nothing was sent. The caller
    (Step Functions Retry, SQS redelivery) retries with the same request, which may claim the record again."""


@dataclass(frozen=True)
class SendingParts:
    """What `send_message` works with: ports, the template library and the deployment's rules."""

    profiles: ReadProfile
    records: SendRecords
    suppressions: SuppressionList
    channels: Mapping[str, Channel]
    unsubscribe_links: UnsubscribeLinks
    events: MessageEvents
    templates: Mapping[str, Template]
    caps: Mapping[str, FrequencyCap]  # per channel; a channel without one is not capped
    quiet_hours: QuietHours
    shop_timezone: str
    claim_lease: timedelta = timedelta(minutes=15)
    new_token: Callable[[], str] = field(default=lambda: uuid.uuid4().hex)


def send_message(request: MessageRequest, parts: SendingParts, now: datetime) -> SendOutcome:
    """Send `request` now if every rule allows it, else skip or defer it; the outcome is recorded either way."""
    outcome, profile_id = _decide_and_send(request, parts, now)
    if outcome.reason != "already_sent":
        parts.events.record([message_row(request, profile_id, outcome, now)])
    return outcome


def message_row(request: MessageRequest, profile_id: str, outcome: SendOutcome, now: datetime) -> dict[str, Any]:
    """The curated `messages` row of one outcome."""
    return {
        "message_key": request.key(), "profile_id": profile_id, "origin": request.origin,
        "origin_name": request.origin_name, "step": request.step, "variant": request.variant,
        "occurrence": request.occurrence, "channel": request.channel, "purpose": request.purpose,
        "template": request.template, "event": outcome.status, "reason": outcome.reason, "at": now,
        "provider_message_id": outcome.message_id,
    }  # fmt: skip


def _decide_and_send(request: MessageRequest, parts: SendingParts, now: datetime) -> tuple[SendOutcome, str]:
    template = parts.templates.get(request.template)
    item = parts.profiles(request.profile_id)
    profile = profile_view(item, now) if item is not None else None
    profile_id = profile.identity.profile_id if profile is not None else request.profile_id
    problem = _template_problem(request, template)
    if problem is not None:
        return _settle(request, SendOutcome(status="failed", reason=problem), parts, now, profile_id), profile_id
    if profile is None:  # no record: it would put an item back under an erased person's key
        return _skipped("profile_not_found"), profile_id
    decision = _rules(request, profile, parts, now)
    if decision is not None:
        return _settle(request, decision, parts, now, profile_id), profile_id
    assert template is not None
    return _time_and_send(request, profile, template, parts, now), profile_id


def _time_and_send(
    request: MessageRequest, profile: Profile, template: Template, parts: SendingParts, now: datetime
) -> SendOutcome:
    """Defer by the cap and quiet hours, or claim and send; decided again while other sends change the window."""
    profile_id = profile.identity.profile_id
    cap = parts.caps.get(request.channel) if request.purpose == "marketing" else None
    for _attempt in range(cap.limit + 2 if cap is not None else 1):
        window = parts.records.cap_window(profile_id, request.channel) if cap is not None else None
        decision = _timing(request, profile, parts, now, cap, window)
        if decision is not None:
            return _settle(request, decision, parts, now, profile_id)
        try:
            return _claim_and_send(request, profile, template, parts, now, cap, window)
        except CapWindowChanged:
            continue
    raise SendInterrupted("frequency_cap_contention")


def _template_problem(request: MessageRequest, template: Template | None) -> str | None:
    if template is None:
        return f"template:unknown:{request.template}"
    if template.channel != request.channel:
        return f"template:channel:{template.channel}"
    missing = [name for name in template.fields if name not in request.context]
    return f"template:missing_context:{missing[0]}" if missing else None


def _skipped(reason: str) -> SendOutcome:
    return SendOutcome(status="skipped", reason=reason)


def _rules(request: MessageRequest, profile: Profile, parts: SendingParts, now: datetime) -> SendOutcome | None:
    """The first rule that stops the message (expiry, guards, consent, suppression, address), or None."""
    if request.expires_at is not None and now >= request.expires_at:
        return _skipped("expired")
    if (guard := failed_guard(request.guards, profile, request)) is not None:
        return _skipped(f"guard:{guard}")
    unreachable = unreachable_reason(profile, request.channel, request.purpose, parts.suppressions)
    return _skipped(unreachable) if unreachable is not None else None


def _timing(
    request: MessageRequest,
    profile: Profile,
    parts: SendingParts,
    now: datetime,
    cap: FrequencyCap | None,
    window: CapWindow | None,
) -> SendOutcome | None:
    """Defer a marketing message over the frequency cap (`window` as read) or in quiet hours to the earliest allowed
    moment; transactional messages are never deferred."""
    if request.purpose == "transactional":
        return None
    allowed = now
    if cap is not None and window is not None:
        allowed = cap.next_allowed(now, list(window.sends.values()), request.priority)
    opens = parts.quiet_hours.next_allowed(allowed, zone_of(profile, parts.shop_timezone))
    if opens <= now:
        return None
    if request.expires_at is not None and opens >= request.expires_at:
        return _skipped("expired")
    reason = "frequency_cap" if allowed > now else "quiet_hours"
    wait = math.ceil((opens - now).total_seconds())
    return SendOutcome(status="deferred", reason=reason, defer_until=opens, wait_seconds=wait)


def _settle(
    request: MessageRequest, outcome: SendOutcome, parts: SendingParts, now: datetime, profile_id: str
) -> SendOutcome:
    """Record a decision taken without sending; a record already sent or being sent answers `already_sent`."""
    blocking = parts.records.settle(request.model_copy(update={"profile_id": profile_id}), outcome, now)
    return outcome if blocking is None else _already(blocking)


def _already(record: dict[str, Any]) -> SendOutcome:
    return SendOutcome(status="skipped", reason="already_sent", message_id=record.get("provider_message_id"))


def _claim_and_send(
    request: MessageRequest,
    profile: Profile,
    template: Template,
    parts: SendingParts,
    now: datetime,
    cap: FrequencyCap | None,
    window: CapWindow | None,
) -> SendOutcome:
    """Claim (taking a slot of the cap's window, when capped), call the provider, record the outcome."""
    keyed = request.model_copy(update={"profile_id": profile.identity.profile_id})
    token = parts.new_token()
    taken = cap.with_send(window, token, now) if cap is not None and window is not None else None
    blocking = parts.records.claim(keyed, token, now, taken)
    if blocking is not None:
        return _answer_claimed(keyed, blocking, parts, now)
    address = address_of(profile, request.channel)
    assert address is not None
    rendered = render(template, profile, request, parts.unsubscribe_links)
    try:
        provider_id = parts.channels[request.channel].send(address, rendered)
    except ProviderError as error:
        outcome = SendOutcome(status="failed", reason=f"provider_error:{error.code}")
        parts.records.finish(keyed, token, outcome, now)
        if taken is not None:
            parts.records.release(keyed.profile_id, request.channel, token)
        if error.retryable:
            raise SendInterrupted(error.code) from error
        return outcome
    except Exception:
        # Whether the provider took it is unknown (a timeout, a dropped connection): never resent.
        parts.records.finish(keyed, token, SendOutcome(status="failed", reason="unknown"), now)
        raise
    outcome = SendOutcome(status="sent", reason="sent", message_id=provider_id)
    parts.records.finish(keyed, token, outcome, now)
    return outcome


def _answer_claimed(
    request: MessageRequest, record: dict[str, Any], parts: SendingParts, now: datetime
) -> SendOutcome:
    """Another sender holds or held the claim: nothing is sent; a claim older than the lease becomes `unknown`."""
    claimed_at = record.get("claimed_at")
    stale = record.get("status") == "claimed" and claimed_at and datetime.fromisoformat(claimed_at) < now - parts.claim_lease
    if stale and parts.records.mark_unknown(request, str(record.get("claim_token")), now):
        return SendOutcome(status="failed", reason="unknown")
    return _already(record)


def render(
    template: Template, profile: Profile, request: MessageRequest, links: UnsubscribeLinks
) -> RenderedMessage:
    """The template in the person's language, with their data, the caller's context and (marketing) an
    unsubscribe link."""
    parts = template.parts_for(profile.attributes.language)
    marketing = request.purpose == "marketing"
    unsubscribe_url = links.link(profile.identity.profile_id, request.channel) if marketing else ""
    recommendations = request.context.get("recommendations") or getattr(profile, "recommendations", None) or []

    def fill(text: str, escape: bool = False) -> str:
        return render_part(text, profile, request.context, recommendations, unsubscribe_url, escape)

    return RenderedMessage(
        subject=fill(parts.subject),
        text=fill(parts.text),
        html=fill(parts.html, escape=True),
        unsubscribe_url=unsubscribe_url or None,
        tags=(("profile_id", profile.identity.profile_id), ("message_key", message_tag_value(request.key()))),
    )
