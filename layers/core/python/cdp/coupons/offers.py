"""Coupon offers as data: where codes come from, how many may be issued in all and to one person, when, and the
minimum order they apply to.

A shop edits `offers.json` (packaged beside this module); `load_offers` validates it and names every problem
(`InvalidOffers`). Codes are either `generated` (a prefix and a random unique part, `WELCOME-7KQ2M9XA`) or taken in
order from a `pool` the shop supplies (codes made in its shop system); a pool caps the offer at its size. An issued
code is valid `code_valid_days` after issue, never past the offer's `valid_until`. `minimum_order` is the order
total (face value in the order's currency) a redemption needs. `discount` is what a code gives, a `percent` of the
order or an `amount` off it: measurement counts it as the coupon's cost when an order export carries no discount.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from cdp.data_files import parse_data_file

OFFERS_FILE = Path(__file__).with_name("offers.json")
CODE_PATTERN = r"^[A-Z0-9][A-Z0-9-]{3,39}$"


class InvalidOffers(ValueError):
    """An offers file that cannot be used; the message names every problem and where it is."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GeneratedCodes(Strict):
    prefix: str = Field(pattern=r"^[A-Z][A-Z0-9]{1,15}$")


class CodeSource(Strict):
    generated: GeneratedCodes | None = None
    pool: list[str] | None = Field(default=None, min_length=1, max_length=100_000)

    @model_validator(mode="after")
    def _one_source(self) -> CodeSource:
        if (self.generated is None) == (self.pool is None):
            raise ValueError("give exactly one of `generated` or `pool`")
        if self.pool is not None:
            bad = [code for code in self.pool if not _is_code(code)]
            if bad:
                raise ValueError(f"pool codes must match {CODE_PATTERN}: {bad[:3]}")
            if len(set(self.pool)) != len(self.pool):
                raise ValueError("pool codes must be unique")
        return self


class Discount(Strict):
    percent: Decimal | None = Field(default=None, gt=0, le=100)
    amount: Decimal | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_kind(self) -> Discount:
        if (self.percent is None) == (self.amount is None):
            raise ValueError("give exactly one of `percent` or `amount`")
        return self

    def on(self, order_total: float) -> float:
        """What the code takes off an order of this total (an amount never more than the order)."""
        if self.percent is not None:
            return order_total * float(self.percent) / 100
        return min(float(self.amount or 0), order_total)


def _is_code(code: str) -> bool:
    return re.fullmatch(CODE_PATTERN, code) is not None


class Offer(Strict):
    name: str = Field(pattern=r"^[a-z0-9_]{1,40}$")
    description: str = Field(default="", max_length=500)
    codes: CodeSource
    total_cap: int = Field(ge=1, le=100_000_000)
    per_customer_limit: int = Field(ge=1, le=100)
    valid_from: AwareDatetime
    valid_until: AwareDatetime
    code_valid_days: int = Field(ge=1, le=3660)
    minimum_order: Decimal = Field(default=Decimal(0), ge=0)
    discount: Discount

    @model_validator(mode="after")
    def _window(self) -> Offer:
        if self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        return self

    @property
    def cap(self) -> int:
        """The total cap, never more than the pool holds."""
        return min(self.total_cap, len(self.codes.pool)) if self.codes.pool is not None else self.total_cap

    def gave(self, code: str) -> bool:
        """Whether a code is one of this offer's: from its pool, or generated under its prefix."""
        if self.codes.generated is not None:
            return code.startswith(f"{self.codes.generated.prefix}-")
        return code in (self.codes.pool or ())

    def open_at(self, now: datetime) -> bool:
        return self.valid_from <= now < self.valid_until

    def code_expires_at(self, issued_at: datetime) -> datetime:
        return min(issued_at + timedelta(days=self.code_valid_days), self.valid_until)


class OfferCatalogue(Strict):
    offers: list[Offer] = Field(max_length=1000)

    @model_validator(mode="after")
    def _unique_names(self) -> OfferCatalogue:
        names = [offer.name for offer in self.offers]
        if len(set(names)) != len(names):
            raise ValueError("offer names must be unique")
        return self

    def get(self, name: str) -> Offer | None:
        return next((offer for offer in self.offers if offer.name == name), None)

    def offer_of(self, code: str) -> Offer | None:
        """The offer a code was issued from, or None for a code the shop made elsewhere."""
        return next((offer for offer in self.offers if offer.gave(code)), None)


def parse_offers(text: str, origin: str = "offers") -> OfferCatalogue:
    """Validated offers from JSON text; InvalidOffers names each problem as `<path>: <message>`."""
    return parse_data_file(OfferCatalogue, text, origin, InvalidOffers)


@cache
def load_offers(path: Path = OFFERS_FILE) -> OfferCatalogue:
    """The shop's offers file, validated once per process."""
    return parse_offers(path.read_text(encoding="utf-8"), path.name)
