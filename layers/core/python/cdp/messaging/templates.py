"""The journey message templates, rendered from profile attributes."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


class UnknownTemplate(ValueError):
    """A journey named a template that does not exist."""


def _first_name(profile: dict[str, Any]) -> str:
    return str(profile.get("first_name") or "there")


def render_email(template: str, profile: dict[str, Any], unsubscribe_url: str) -> RenderedEmail:
    if template != "welcome_email":
        raise UnknownTemplate(template)
    name = _first_name(profile)
    text = (
        f"Hi {name},\n\nWelcome! Thanks for joining us. Here is 10% off your first order: WELCOME10.\n\n"
        f"Unsubscribe: {unsubscribe_url}\n"
    )
    body = (
        f"<p>Hi {html.escape(name)},</p><p>Welcome! Thanks for joining us. Here is 10% off your first order: "
        f'<strong>WELCOME10</strong>.</p><p><a href="{html.escape(unsubscribe_url)}">Unsubscribe</a></p>'
    )
    return RenderedEmail(subject=f"Welcome, {name}!", text=text, html=body)


def render_sms(template: str, profile: dict[str, Any]) -> str:
    if template != "first_order_sms":
        raise UnknownTemplate(template)
    return (
        f"Hi {_first_name(profile)}, your WELCOME10 code for 10% off is still waiting for you. Reply STOP to opt out."
    )
