"""Templates as data: every shipped template validates; bad ones fail at load naming template, locale and field;
rendering escapes HTML, picks the person's language with a fallback, and fills profile and context fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cdp.messaging.requests import MessageRequest
from cdp.messaging.service import render
from cdp.messaging.templates import LIBRARY, InvalidTemplate, load_template, shipped_templates
from cdp.profiles.read import profile_view
from fakes import FakeUnsubscribeLinks

JOURNEY_TEMPLATES = {"welcome_email", "first_order_nudge", "first_order_nudge_sms", "cart_reminder", "cart_coupon",
                     "browse_recommendation", "thank_you", "review_request", "cross_sell", "winback_offer",
                     "winback_offer_bigger", "birthday_greeting", "member_day", "points_expiring", "tier_upgrade",
                     "replenishment_reminder", "campaign_generic"}  # fmt: skip


@pytest.mark.parametrize("path", sorted(LIBRARY.glob("*.json")), ids=lambda path: path.stem)
def test_every_shipped_template_validates(path: Path) -> None:
    # Given / When
    template = load_template(path)
    # Then: both languages, and marketing email carries the unsubscribe link
    assert {"en", "zh-CN"} <= set(template.locales)


def test_the_journeys_templates_are_shipped() -> None:
    # Given / When / Then
    assert JOURNEY_TEMPLATES <= set(shipped_templates())



GOOD = {"name": "hello", "channel": "sms", "purpose": "marketing", "fallback_locale": "en", "fields": ["offer"],
        "locales": {"en": {"text": "Hi {{ profile.first_name }}: {{ context.offer }}"}, "zh-CN": {"text": "{{ context.offer }}"}}}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"locales": {"en": {"text": "{{ profile.shoe_size }}"}}}, "template hello, locale en, text: unknown field 'profile.shoe_size'"),
        ({"locales": {"en": {"text": "ok"}, "zh-CN": {"text": "{{ context.coupon_code }}"}}},
         "template hello, locale zh-CN, text: unknown field 'context.coupon_code'"),
        ({"locales": {"en": {"text": "{{ basket }}"}}}, "unknown field 'basket'"),
        ({"locales": {"en": {"text": "{{ profile.first_name"}}}, "malformed placeholder"),
        ({"fallback_locale": "fr"}, "fallback locale fr"),
        ({"channel": "email"}, "email needs a subject, text and html"),
        ({"channel": "email", "locales": {"en": {"subject": "s", "text": "t", "html": "h"}}},
         "marketing email needs {{ unsubscribe_url }}"),
        ({"channel": "fax"}, "channel"),
        ({"name": "other"}, "names itself"),
    ],
)
def test_a_bad_template_fails_at_load_with_a_clear_error(tmp_path: Path, change: dict, message: str) -> None:
    # Given
    path = tmp_path / "hello.json"
    path.write_text(json.dumps({**GOOD, **change}), encoding="utf-8")
    # When / Then
    with pytest.raises(InvalidTemplate, match=None) as error:
        load_template(path)
    assert message in str(error.value)
    assert "hello" in str(error.value)


def test_rendering_escapes_html_and_picks_the_language() -> None:
    # Given: a Chinese-speaking customer whose name holds markup, points, and a cart
    profile = profile_view({"profile_id": "p1", "first_name": "<b>Li</b>", "language": "zh", "points_balance": 120,
                            "loyalty_tier": "gold"})  # fmt: skip
    request = MessageRequest(profile_id="p1", origin="campaign", origin_name="member_day", step="send",
                             occurrence="r1", channel="email", template="member_day",
                             context={"offer": "双倍积分"})  # fmt: skip
    # When
    rendered = render(shipped_templates()["member_day"], profile, request, FakeUnsubscribeLinks())
    # Then
    assert rendered.subject == "会员日：双倍积分"
    assert "&lt;b&gt;Li&lt;/b&gt;" in rendered.html and "<b>Li</b>" not in rendered.html
    assert "<b>Li</b>" in rendered.text and "120" in rendered.text and "gold" in rendered.text
    assert rendered.unsubscribe_url == "https://shop.example/unsubscribe/p1/email"
    assert 'href="https://shop.example/unsubscribe/p1/email"' in rendered.html


def test_an_unknown_language_falls_back_and_lists_and_defaults_render() -> None:
    # Given
    profile = profile_view({"profile_id": "p1", "language": "fr-FR"})
    request = MessageRequest(profile_id="p1", origin="journey", origin_name="cart", step="reminder",
                             occurrence="r1", channel="email", template="cart_reminder",
                             context={"cart_items": [{"name": "Tea", "product_id": "T1"}, {"product_id": "C9"}]})  # fmt: skip
    # When
    rendered = render(shipped_templates()["cart_reminder"], profile, request, FakeUnsubscribeLinks())
    # Then
    assert rendered.text.startswith("Hi there,")
    assert "You left Tea, C9 in your cart" in rendered.text
