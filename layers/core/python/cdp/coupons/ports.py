"""What issuing and redeeming coupons need from storage, and the values they exchange with it.

A person is a live profile and the profiles merged into it: `person(profile_id)` lists them, the live one first.
`issue` writes one issuance atomically, on the conditions that the offer's issued total and each of the person's
profiles' counts for the offer are still those read (so neither the cap nor the per-person limit can be passed by
concurrent issuers), that the occasion was not issued before and that the code is new; it raises `CodeTaken` when
only the code was not new, `IssueConflict` when anything else changed meanwhile (read again and retry).
`Reachability` says whether the messages that will carry a code can reach the person, before a code is spent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class CodeTaken(Exception):
    """The generated code exists already (draw another)."""


class IssueConflict(Exception):
    """The offer's total or the person's counts changed since they were read, or the occasion was issued meanwhile."""


@dataclass(frozen=True)
class Issuance:
    offer: str
    profile_id: str
    occasion: str
    code: str
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class Coupon:
    """An issued code as stored, with its redemption when redeemed."""

    issuance: Issuance
    redeemed_order: str | None = None


@dataclass(frozen=True)
class PersonCoupons:
    """One person's issuances of one offer: the count on each of their profiles, and each issuance."""

    counts: dict[str, int]
    issuances: list[Issuance]
    redeemed: int


class CouponLedger(Protocol):
    def person(self, profile_id: str) -> list[str] | None:
        """The live profile `profile_id` is or was merged into, then every profile merged into it; None: no such
        profile."""
        ...

    def person_coupons(self, offer: str, profile_ids: list[str]) -> PersonCoupons: ...

    def issued_total(self, offer: str) -> int: ...

    def issue(self, issuance: Issuance, issued_total: int, counts: dict[str, int]) -> None: ...

    def count_refusal(self, offer: str, reason: str) -> None:
        """Count one refused issue or redemption attempt (for the run report)."""
        ...

    def coupon(self, code: str) -> Coupon | None: ...

    def redeem(self, issuance: Issuance, order_id: str, at: datetime) -> bool:
        """Mark the code redeemed by this order (and count it on the offer) unless it was redeemed by another order;
        True when it is now redeemed by this order (a replay of the same order is True and counts nothing)."""
        ...


class Reachability(Protocol):
    def unreachable(self, profile_id: str) -> str | None:
        """Why none of the messages carrying the code could reach this (live) profile's person (the sending
        service's reason for the first of them: `no_consent`, `suppressed:<why>`, `no_address`), or None."""
        ...
