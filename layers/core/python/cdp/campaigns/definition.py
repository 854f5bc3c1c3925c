"""A campaign as data: who (a segment, or a rule over segments), what (template, channel, purpose, variants), when
(a one-off time or a recurring cron/rate in the shop's time zone) and how fast (send rate, priority, expiry).

`parse_campaign` validates a document (a file in `campaigns/`, or an API body) and raises `Invalid` whose `fields`
name each problem's place (`variants.1.percent`, `schedule.cron`, `audience.rule.any.0.segment`). An inline rule is
the segment language's condition over memberships: `all` / `any` / `not` of `segment` conditions, resolved from the
membership snapshot (a field or behaviour condition is refused: it is a segment to define).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cdp.errors import Invalid, field_errors

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"  # also a MessageRequest origin_name
VARIANT_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
SEGMENT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_:. -]{0,127}$"  # rfm:Champions, lifecycle:active, big_spenders
RATE_PATTERN = re.compile(r"^[1-9][0-9]{0,5} (minute|minutes|hour|hours|day|days)$")
CRON_FIELDS = 6  # EventBridge cron: minutes hours day-of-month month day-of-week year
MAX_SEND_RATE = 10_000  # per second; the SES account's rate caps it further at run time
HOLDOUT = "holdout"
Channel = Literal["email", "sms", "push", "webhook"]
Purpose = Literal["marketing", "transactional"]
State = Literal["active", "paused", "cancelled"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


SNAPSHOT_KINDS = ("all", "any", "not", "segment")
SEGMENT_RUN_KINDS = ("field", "event", "orders")  # the segment language's other conditions


class SegmentRule(_Strict):
    """A condition of the segment language (docs/segments.md) over memberships only: exactly one of `all` / `any`
    (lists), `not` or `segment`. The same JSON as `cdp.segments.definitions.Condition`, whose module is not used
    here: it loads pyarrow, which the HTTP functions do not carry."""

    all: list[SegmentRule] | None = Field(None, min_length=1)
    any: list[SegmentRule] | None = Field(None, min_length=1)
    not_: SegmentRule | None = Field(None, alias="not")
    segment: str | None = Field(None, pattern=SEGMENT_PATTERN)

    @model_validator(mode="before")
    @classmethod
    def _snapshot_kinds(cls, data: Any) -> Any:
        if isinstance(data, dict):
            other = [kind for kind in SEGMENT_RUN_KINDS if kind in data]
            if other:
                raise ValueError(f"a {other[0]} condition needs the segment run: define it as a segment and name it here")
            kinds = [kind for kind in SNAPSHOT_KINDS if data.get(kind) is not None]
            if len(kinds) != 1:
                raise ValueError(f"a condition has exactly one of {', '.join(SNAPSHOT_KINDS)} (found {kinds or 'none'})")
        return data

    def segments(self) -> Iterator[str]:
        """Every segment the rule names."""
        if self.segment is not None:
            yield self.segment
        for child in (*(self.all or ()), *(self.any or ()), *((self.not_,) if self.not_ else ())):
            yield from child.segments()


class Audience(_Strict):
    """Exactly one of: `segment` (a name in the membership snapshot) or `rule` (a condition over segments)."""

    segment: str | None = Field(None, pattern=SEGMENT_PATTERN)
    rule: SegmentRule | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Audience:
        if (self.segment is None) == (self.rule is None):
            raise ValueError("an audience has exactly one of segment, rule")
        return self

    def segments(self) -> set[str]:
        """Every segment the audience reads."""
        return {self.segment} if self.segment else set(self.rule.segments()) if self.rule else set()


class Schedule(_Strict):
    """Exactly one of `at` (a local time, no offset), `cron` (EventBridge's six fields) or `rate` ("7 days");
    `timezone` (IANA) defaults to the shop's."""

    at: datetime | None = None
    cron: str | None = None
    rate: str | None = None
    timezone: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Schedule:
        if sum(value is not None for value in (self.at, self.cron, self.rate)) != 1:
            raise ValueError("a schedule has exactly one of at, cron, rate")
        return self

    @field_validator("at")
    @classmethod
    def _local(cls, at: datetime | None) -> datetime | None:
        if at is not None and at.tzinfo is not None:
            raise ValueError("a local time in the schedule's timezone, without an offset")
        return at.replace(microsecond=0) if at else at

    @field_validator("cron")
    @classmethod
    def _cron(cls, cron: str | None) -> str | None:
        if cron is not None and (len(cron.split()) != CRON_FIELDS or not re.fullmatch(r"[0-9A-Za-z*?/,#L -]+", cron)):
            raise ValueError("six fields: minutes hours day-of-month month day-of-week year, e.g. '0 10 ? * MON *'")
        return cron

    @field_validator("rate")
    @classmethod
    def _rate(cls, rate: str | None) -> str | None:
        if rate is not None and not RATE_PATTERN.fullmatch(rate):
            raise ValueError("'<n> minutes|hours|days', e.g. '7 days'")
        return rate

    @field_validator("timezone")
    @classmethod
    def _zone(cls, zone: str | None) -> str | None:
        if zone is not None:
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError) as error:
                raise ValueError(f"unknown IANA time zone {zone!r}") from error
        return zone

    def expression(self) -> str:
        """The EventBridge Scheduler expression: at(...), cron(...) or rate(...)."""
        if self.at is not None:
            return f"at({self.at.isoformat()})"
        return f"cron({self.cron})" if self.cron is not None else f"rate({self.rate})"

    def zone(self, shop_zone: str) -> ZoneInfo:
        return ZoneInfo(self.timezone or shop_zone)


class Variant(_Strict):
    """An A/B arm: its share of the messaged audience and, optionally, its own template and template data."""

    name: str = Field(pattern=VARIANT_PATTERN)
    percent: int = Field(ge=0, le=100)
    template: str | None = Field(None, pattern=NAME_PATTERN)
    context: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _not_holdout(cls, name: str) -> str:
        if name == HOLDOUT:
            raise ValueError(f"{HOLDOUT!r} is the control group, not a variant")
        return name


class ExpiresAfter(_Strict):
    """How long after the run starts a message is still worth sending (then it is skipped as expired)."""

    days: int = Field(0, ge=0, le=30)
    hours: int = Field(0, ge=0, le=720)
    minutes: int = Field(0, ge=0, le=43_200)

    @model_validator(mode="after")
    def _positive(self) -> ExpiresAfter:
        if self.length <= timedelta(0) or self.length > timedelta(days=30):
            raise ValueError("between a minute and 30 days")
        return self

    @property
    def length(self) -> timedelta:
        return timedelta(days=self.days, hours=self.hours, minutes=self.minutes)


class Campaign(_Strict):
    """A campaign definition; `state` is where the API has put it (not part of a file)."""

    name: str = Field(pattern=NAME_PATTERN)
    description: str = Field("", max_length=500)
    audience: Audience
    template: str = Field(pattern=NAME_PATTERN)
    channel: Channel
    purpose: Purpose = "marketing"
    schedule: Schedule
    variants: list[Variant] = Field(default_factory=lambda: [Variant(name="main", percent=100)], min_length=1,
                                    max_length=10)  # fmt: skip
    holdout_percent: float = Field(0, ge=0, le=50)
    send_rate_per_second: int = Field(10, ge=1, le=MAX_SEND_RATE)
    priority: int = Field(50, ge=0, le=100)
    expires_after: ExpiresAfter = ExpiresAfter(hours=24)
    state: State = "active"

    @field_validator("variants")
    @classmethod
    def _split(cls, variants: list[Variant]) -> list[Variant]:
        names = [variant.name for variant in variants]
        if len(set(names)) != len(names):
            raise ValueError(f"variant names repeat: {names}")
        if sum(variant.percent for variant in variants) != 100:
            raise ValueError(f"variant percents sum to {sum(variant.percent for variant in variants)}, not 100")
        return variants

    def split(self) -> dict[str, int]:
        """The variants' weights, as `assign` takes them."""
        return {variant.name: variant.percent for variant in self.variants}

    def variant(self, name: str) -> Variant:
        return next(variant for variant in self.variants if variant.name == name)


MAX_DOCUMENT_BYTES = 64 * 1024


def parse_campaign(document: Any) -> Campaign:
    """A validated campaign, or `Invalid` naming every problem's field."""
    if isinstance(document, (str, bytes)):
        if len(document) > MAX_DOCUMENT_BYTES:
            raise Invalid(f"a campaign is at most {MAX_DOCUMENT_BYTES} bytes")
        try:
            document = json.loads(document)
        except ValueError as error:
            raise Invalid("the body is not JSON", [{"field": "", "message": str(error)}]) from error
    if not isinstance(document, dict):
        raise Invalid("a campaign is a JSON object", [{"field": "", "message": "expected an object"}])
    try:
        campaign = Campaign.model_validate(document)
    except ValidationError as error:
        raise Invalid("invalid campaign", field_errors(list(error.errors()))) from error
    return campaign


def load_campaign_files(directory: Path) -> list[Campaign]:
    """Every `*.json` campaign of a folder, in name order; a bad file raises `Invalid` naming the file."""
    campaigns = []
    for path in sorted(directory.glob("*.json")):
        try:
            campaigns.append(parse_campaign(path.read_text(encoding="utf-8")))
        except Invalid as error:
            raise Invalid(f"{path.name}: {error.message}", error.fields) from error
    return campaigns
