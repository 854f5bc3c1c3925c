"""Sends one journey message exactly once: claim the record, re-read the profile consistently, re-check eligibility,
deliver, mark sent. The profile is read after the claim, so a consent withdrawn before the send is honoured."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from pydantic import Field

from cdp.journeys.eligibility import Decision, EligibilityRequest, decide
from cdp.journeys.ports import JourneyMessageLog, ReadProfile
from cdp.messaging.mime import marketing_email
from cdp.messaging.ports import MessageSender
from cdp.messaging.templates import render_email, render_sms
from cdp.settings import MessagingSettings


class SendRequest(EligibilityRequest):
    template: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")


def unsubscribe_url(base_url: str, profile_id: str, channel: str) -> str:
    """A per-recipient one-click unsubscribe link that names the profile, never the address."""
    return f"{base_url}?{urlencode({'profile': profile_id, 'channel': channel})}"


def check_step(request: EligibilityRequest, read_profile: ReadProfile, messages: JourneyMessageLog, now: datetime) -> Decision:
    """Decide whether the step may message the profile (read strongly consistently, redirects followed) now,
    recording why not (unless it was already sent)."""
    profile = read_profile(request.profile_id)
    decision = decide(request, profile, messages.get(request.profile_id, request.journey, request.step), now)
    if not decision.eligible and decision.reason != "already_sent":
        messages.record_suppressed(request, decision.reason, now)
    return decision


def send_step_message(
    request: SendRequest,
    read_profile: ReadProfile,
    messages: JourneyMessageLog,
    sender: MessageSender,
    settings: MessagingSettings,
    now: datetime,
) -> dict[str, Any]:
    """Deliver the step's message unless it was already sent or the profile (read by `read_profile`, strongly
    consistent, once the message is claimed) stopped being eligible."""
    if not messages.claim(request, now):
        return {"status": "skipped", "reason": "already_sent", "message_id": None}
    profile = read_profile(request.profile_id)
    decision = decide(request, profile, previous_send=None, now=now)
    if not decision.eligible or profile is None:
        messages.record_suppressed(request, decision.reason, now)
        return {"status": "suppressed", "reason": decision.reason, "message_id": None}
    if request.channel == "email":
        link = unsubscribe_url(settings.unsubscribe_base_url, request.profile_id, "email")
        rendered = render_email(request.template, profile, link)
        message_id = sender.send_email(
            settings.sender_email,
            profile["email"],
            marketing_email(settings.sender_email, profile["email"], rendered, link),
        )
    else:
        message_id = sender.send_sms(profile["phone"], render_sms(request.template, profile))
    messages.mark_sent(request.profile_id, request.journey, request.step, message_id, now)
    return {"status": "sent", "reason": "sent", "message_id": message_id}
