"""What a marketer sets about measurement, as validated data (`measurement.json` beside this module by default).

- `touches`: the attribution rule, in priority order. An order placed within `window_hours` after a message's
  `event` counts as that message's conversion; the first listed event with a qualifying message wins, and among
  those the latest message (last touch). Default: clicked within 5 days, else delivered within 1 day.
- `uplift_window_hours`: how long after assignment an order counts for the messaged-against-holdout comparison
  (both groups alike, so the comparison needs no message event).
- `confidence` and `power`: of the intervals and of the sample size still needed.
- `message_cost` per channel and `coupon_cost` (per redemption of a code none of the shop's offers gave, when
  orders carry no discount amount; a code an offer gave costs that offer's discount): ROI's costs, in the shop's
  currency.
- `dormant_segment` and `rfm_prefix`: which segments the win-back rate and the RFM migration read, and
  `compare_days`: against the snapshot of how many days ago (the last one on or before; else the oldest).
- `cohort_months`: how many months since signup the retention table shows.
- `report_days`: the period the headline, funnels, weekly rates, attribution and uplift cover: messages of the
  latest `report_days` days (null: all history). The scheduled run reads only the message partitions the period
  needs.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cdp.errors import Invalid, field_errors

RULES_FILE = Path(__file__).with_name("measurement.json")
TouchEvent = Literal["sent", "delivered", "opened", "clicked"]
Channel = Literal["email", "sms", "push", "webhook"]
MAX_WINDOW_HOURS = 90 * 24


DEFAULT_MESSAGE_COST: dict[Channel, float] = {"email": 0.0001, "sms": 0.00883, "push": 0.0, "webhook": 0.0}
"""US dollars per message: SES outbound email, an SMS to a US number (see docs/cost.md), push and webhooks free."""


class Touch(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event: TouchEvent
    window_hours: float = Field(gt=0, le=MAX_WINDOW_HOURS)


class MeasurementRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    touches: tuple[Touch, ...] = Field(
        default=(Touch(event="clicked", window_hours=120), Touch(event="delivered", window_hours=24)), min_length=1
    )
    uplift_window_hours: float = Field(default=120, gt=0, le=MAX_WINDOW_HOURS)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    power: float = Field(default=0.8, gt=0.5, lt=1)
    message_cost: dict[Channel, float] = Field(default_factory=lambda: dict(DEFAULT_MESSAGE_COST))
    coupon_cost: float = Field(default=0.0, ge=0)
    dormant_segment: str = Field(default="lifecycle_dormant", pattern=r"^[a-z0-9_]+$")
    rfm_prefix: str = Field(default="rfm_", pattern=r"^[a-z0-9_]+$")
    compare_days: int = Field(default=30, ge=1, le=365)
    cohort_months: int = Field(default=12, ge=1, le=60)
    report_days: int | None = Field(default=90, ge=1, le=3660)

    @field_validator("touches")
    @classmethod
    def _each_event_once(cls, touches: tuple[Touch, ...]) -> tuple[Touch, ...]:
        events = [touch.event for touch in touches]
        if len(set(events)) != len(events):
            raise ValueError("each event may be listed once")
        return touches

    @property
    def longest_window_hours(self) -> float:
        return max(touch.window_hours for touch in self.touches)


class InvalidMeasurementRules(Invalid):
    """A measurement rule set that cannot be applied; `fields` says where."""


def parse_rules(document: object) -> MeasurementRules:
    try:
        return MeasurementRules.model_validate(document)
    except ValidationError as error:
        raise InvalidMeasurementRules("invalid measurement rules", fields=field_errors(list(error.errors()))) from error


@cache
def load_rules(path: Path = RULES_FILE) -> MeasurementRules:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise InvalidMeasurementRules(f"{path.name} is not JSON: {error}") from error
    return parse_rules(document)
