"""Loyalty rules as data: how orders earn points, when points expire, and how tiers are reached and lost.

A shop edits `rules.json` (packaged beside this module); `load_rules` validates it and refuses a bad file with
every problem named (`InvalidLoyaltyRules`). Points per currency unit are per ISO currency: a currency the rules do
not list earns no points (there are no exchange rates in the platform). A category multiplier applies to the lines
of that category; the member day multiplies what a line bought on that day of the month earns. Tiers are reached by
the rolling 12-month net spend (`spend_12m`, face value in any currency) or by the points earned in those months
(`points_12m`); a tier is reached at once, and lost only after it was held `keep_tier_days`, then to the tier the
basis qualifies for (`qualified`) or one level down (`one_level`).
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cdp.data_files import parse_data_file

RULES_FILE = Path(__file__).with_name("rules.json")
CURRENCY_PATTERN = r"^[A-Z]{3}$"
NAME_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"


class InvalidLoyaltyRules(ValueError):
    """A rules file that cannot be applied; the message names every problem and where it is."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MemberDay(Strict):
    day_of_month: int = Field(ge=1, le=28)  # every month has it
    multiplier: Decimal = Field(gt=0, le=10)


class TierLevel(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    threshold: Decimal = Field(ge=0)


class TierRules(Strict):
    basis: Literal["spend_12m", "points_12m"]
    levels: list[TierLevel] = Field(min_length=1, max_length=20)
    keep_tier_days: int = Field(ge=0, le=3660)
    downgrade_to: Literal["qualified", "one_level"] = "qualified"

    @field_validator("levels")
    @classmethod
    def _ascending_from_zero(cls, levels: list[TierLevel]) -> list[TierLevel]:
        if levels[0].threshold != 0:
            raise ValueError("the first tier's threshold must be 0 (every member is in a tier)")
        thresholds = [level.threshold for level in levels]
        if thresholds != sorted(set(thresholds)):
            raise ValueError("tier thresholds must strictly increase")
        if len({level.name for level in levels}) != len(levels):
            raise ValueError("tier names must be unique")
        return levels

    def rank(self, tier: str | None) -> int:
        """A tier's position (0 = the entry tier); -1 for no tier or a name the rules no longer list."""
        names = [level.name for level in self.levels]
        return names.index(tier) if tier in names else -1

    def qualified(self, basis_value: Decimal) -> str:
        """The highest tier whose threshold the basis value reaches; the entry tier below every threshold (more
        refunded than bought in the window: a negative spend)."""
        reached = [level.name for level in self.levels if basis_value >= level.threshold]
        return reached[-1] if reached else self.levels[0].name


class LoyaltyRules(Strict):
    points_per_unit: dict[str, Decimal] = Field(min_length=1)
    category_multipliers: dict[str, Decimal] = {}
    points_expire_after_days: int = Field(ge=1, le=3660)
    expiring_notice_days: int = Field(ge=1, le=365)
    member_day: MemberDay | None = None
    tiers: TierRules

    @field_validator("points_per_unit")
    @classmethod
    def _currencies(cls, rates: dict[str, Decimal]) -> dict[str, Decimal]:
        for currency, rate in rates.items():
            if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
                raise ValueError(f"{currency!r} is not an ISO 4217 currency code")
            if not 0 <= rate <= 1000:
                raise ValueError(f"points per {currency} must be between 0 and 1000")
        return rates

    @field_validator("category_multipliers")
    @classmethod
    def _multipliers(cls, multipliers: dict[str, Decimal]) -> dict[str, Decimal]:
        for category, multiplier in multipliers.items():
            if not 0 <= multiplier <= 10:
                raise ValueError(f"the multiplier of {category!r} must be between 0 and 10")
        return multipliers

    @model_validator(mode="after")
    def _notice_within_lifetime(self) -> LoyaltyRules:
        if self.expiring_notice_days >= self.points_expire_after_days:
            raise ValueError("expiring_notice_days must be shorter than points_expire_after_days")
        return self


def parse_rules(text: str, origin: str = "loyalty rules") -> LoyaltyRules:
    """Validated rules from JSON text; InvalidLoyaltyRules names each problem as `<path>: <message>`."""
    return parse_data_file(LoyaltyRules, text, origin, InvalidLoyaltyRules)


@cache
def load_rules(path: Path = RULES_FILE) -> LoyaltyRules:
    """The shop's rules file, validated once per process."""
    return parse_rules(path.read_text(encoding="utf-8"), str(path.name))
