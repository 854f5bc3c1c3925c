"""Message templates as data: JSON files validated at load, rendered per person in their language.

A template file (`template_library/<name>.json`): `{"name", "channel", "purpose", "locales": {"en": {"subject",
"text", "html"}, "zh-CN": {...}}, "fallback_locale": "en", "fields": [context fields the caller must supply]}`.
Placeholders are `{{ profile.<field> }}`, `{{ context.<field> }}` (only those the template lists in `fields`),
`{{ recommendations }}` and `{{ unsubscribe_url }}`, each with an optional default: `{{ profile.first_name | "there" }}`.
A placeholder naming anything else fails at load with the template, locale and field named. HTML parts get every
value HTML-escaped; lists render joined with ", " (an item that is an object shows its `name`, else its
`product_id`). The language is the profile's (`zh-CN`, `zh`, `en-GB`...): exact match, then same language, then the
template's fallback locale.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cdp.profiles.model import Profile

LIBRARY = Path(__file__).with_name("template_library")
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*(?:\|\s*\"([^\"]*)\"\s*)?\}\}")
STRAY_BRACES = re.compile(r"\{\{|\}\}")

ProfileField = Callable[[Profile], Any]
PROFILE_FIELDS: dict[str, ProfileField] = {
    "first_name": lambda p: p.attributes.first_name,
    "last_name": lambda p: p.attributes.last_name,
    "city": lambda p: p.attributes.city,
    "birthday": lambda p: p.attributes.birthday,
    "tier": lambda p: p.loyalty.loyalty_tier,
    "points": lambda p: p.loyalty.points_balance,
    "points_expiring": lambda p: p.loyalty.next_points_expiry.points if p.loyalty.next_points_expiry else None,
    "points_expire_at": lambda p: p.loyalty.next_points_expiry.date if p.loyalty.next_points_expiry else None,
    "favourite_category": lambda p: next(iter(p.behaviour.favourite_categories or []), None),
    "cart_items_count": lambda p: p.behaviour.cart_items_count,
    "last_order_at": lambda p: (p.behaviour.last_order_at or "")[:10] or None,
    "orders_count": lambda p: p.behaviour.orders_count,
}
BUILT_INS = ("recommendations", "unsubscribe_url")


class InvalidTemplate(ValueError):
    """A template file that cannot be used: names the template, the locale and the field or part at fault."""


class UnknownTemplate(KeyError):
    """No template of that name in the library."""


class LocaleParts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    subject: str = ""
    text: str = Field(min_length=1)
    html: str = ""


class Template(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9_]+$")
    channel: Literal["email", "sms", "push", "webhook"]
    purpose: Literal["marketing", "transactional"]
    locales: dict[str, LocaleParts] = Field(min_length=1)
    fallback_locale: str = "en"
    fields: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _usable(self) -> Template:
        if self.fallback_locale not in self.locales:
            raise InvalidTemplate(f"template {self.name}: fallback locale {self.fallback_locale} has no parts")
        for locale, parts in self.locales.items():
            if self.channel == "email" and not (parts.subject and parts.html):
                raise InvalidTemplate(f"template {self.name}, locale {locale}: email needs a subject, text and html")
            if self.channel == "email" and self.purpose == "marketing" and not all(
                "unsubscribe_url" in part for part in (parts.text, parts.html)
            ):
                raise InvalidTemplate(f"template {self.name}, locale {locale}: marketing email needs {{{{ unsubscribe_url }}}}")
            if self.channel == "push" and not parts.subject:
                raise InvalidTemplate(f"template {self.name}, locale {locale}: push needs a subject (the title)")
            for part_name, text in parts.model_dump().items():
                self._check_placeholders(locale, part_name, text)
        return self

    def _check_placeholders(self, locale: str, part: str, text: str) -> None:
        for match in PLACEHOLDER.finditer(text):
            field = match[1]
            root, _, name = field.partition(".")
            known = (
                (root == "profile" and name in PROFILE_FIELDS)
                or (root == "context" and name in self.fields)
                or (field in BUILT_INS)
            )
            if not known:
                raise InvalidTemplate(f"template {self.name}, locale {locale}, {part}: unknown field {field!r}")
        if STRAY_BRACES.search(PLACEHOLDER.sub("", text)):
            raise InvalidTemplate(f"template {self.name}, locale {locale}, {part}: malformed placeholder")

    def parts_for(self, language: str | None) -> LocaleParts:
        """The parts in the person's language: exact locale, then the same language, then the fallback."""
        if language:
            if language in self.locales:
                return self.locales[language]
            base = language.split("-")[0].lower()
            for locale, parts in self.locales.items():
                if locale.split("-")[0].lower() == base:
                    return parts
        return self.locales[self.fallback_locale]


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(_as_text(item) for item in value)
    if isinstance(value, dict):
        return str(value.get("name") or value.get("product_id") or "")
    return str(value)


def render_part(
    text: str, profile: Profile, context: dict[str, Any], recommendations: list[Any], unsubscribe_url: str,
    escape: bool,
) -> str:  # fmt: skip
    """One part with its placeholders filled (values HTML-escaped when `escape`)."""

    def value(match: re.Match[str]) -> str:
        field, default = match[1], match[2] or ""
        root, _, name = field.partition(".")
        if field == "recommendations":
            raw: Any = recommendations
        elif field == "unsubscribe_url":
            raw = unsubscribe_url
        elif root == "profile":
            raw = PROFILE_FIELDS[name](profile)
        else:
            raw = context.get(name)
        shown = _as_text(raw) or default
        return html.escape(shown) if escape else shown

    return PLACEHOLDER.sub(value, text)


def load_template(path: Path) -> Template:
    """Read and validate one template file; InvalidTemplate names the file and what is wrong."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise InvalidTemplate(f"template file {path.name}: {error}") from error
    try:
        template = Template.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        problem = first.get("ctx", {}).get("error") or first["msg"]
        raise InvalidTemplate(f"template file {path.name}: {'.'.join(map(str, first['loc']))}: {problem}") from error
    if template.name != path.stem:
        raise InvalidTemplate(f"template file {path.name} names itself {template.name!r}")
    return template


def load_library(paths: Iterable[Path]) -> dict[str, Template]:
    return {template.name: template for template in map(load_template, sorted(paths))}


@cache
def shipped_templates() -> dict[str, Template]:
    """Every template shipped in the core layer, validated once per container."""
    return load_library(LIBRARY.glob("*.json"))


def template_named(name: str, library: dict[str, Template] | None = None) -> Template:
    templates = shipped_templates() if library is None else library
    if name not in templates:
        raise UnknownTemplate(name)
    return templates[name]
