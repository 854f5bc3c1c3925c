"""A member's loyalty status as of a moment, from the folded ledger on the profile item and the rules (pure).

Balance: earned points sit in buckets by expiry day; each day's spending (redemptions, returns, cancellations)
takes from the buckets still valid that day, the soonest to expire first; what is left in buckets expiring after
today is the balance, and the part expiring within `expiring_notice_days` is `points_expiring` (first expiry in
`points_expire_at`). Points are valid until the start of their expiry day. Spending more than the valid balance
takes nothing from points earned later.

Tier: the rolling 12-month basis (this month and the eleven before) qualifies a tier; a tier the shop assigned
through a loyalty entry counts as reached on its date. An upgrade takes effect at once; a downgrade only once the
tier was held `keep_tier_days`. The stored tier (`loyalty_tier`, since `loyalty_tier_at`) is what the hourly review
last decided.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from cdp.loyalty.rules import LoyaltyRules

LEDGER_ATTRIBUTES = ("points_expiries", "points_spent", "points_by_month", "spend_by_month", "assigned_tier")
MONTHS_IN_BASIS = 12


@dataclass(frozen=True)
class Balance:
    points: int
    points_expiring: int
    points_expire_at: str | None


@dataclass(frozen=True)
class TierDecision:
    tier: str
    tier_since: str
    previous_tier: str | None

    @property
    def changed(self) -> bool:
        return self.tier != self.previous_tier


def is_member(item: dict[str, Any]) -> bool:
    """Has the profile any loyalty history (points, spend, an assigned or a decided tier)?"""
    return any(item.get(name) for name in (*LEDGER_ATTRIBUTES, "loyalty_tier"))


def balance(item: dict[str, Any], rules: LoyaltyRules, now: datetime) -> Balance:
    """Points valid now, and those of them expiring within the notice period."""
    buckets = {day: int(points) for day, points in (item.get("points_expiries") or {}).items()}
    for spent_on, spent in sorted((item.get("points_spent") or {}).items()):
        owed = int(spent)
        for day in sorted(day for day in buckets if day > spent_on and buckets[day] > 0):
            taken = min(owed, buckets[day])
            buckets[day] -= taken
            owed -= taken
            if owed == 0:
                break
    today = now.date().isoformat()
    notice_end = (now.date() + timedelta(days=rules.expiring_notice_days)).isoformat()
    valid = {day: points for day, points in buckets.items() if day > today and points > 0}
    expiring = {day: points for day, points in valid.items() if day <= notice_end}
    return Balance(sum(valid.values()), sum(expiring.values()), min(expiring) if expiring else None)


def _basis_months(now: datetime) -> set[str]:
    year, month = now.year, now.month
    months = set()
    for _ in range(MONTHS_IN_BASIS):
        months.add(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months


def basis_value(item: dict[str, Any], rules: LoyaltyRules, now: datetime) -> Decimal:
    """Net spend (`spend_12m`) or points earned (`points_12m`) in this month and the eleven before."""
    by_month = item.get("spend_by_month" if rules.tiers.basis == "spend_12m" else "points_by_month") or {}
    months = _basis_months(now)
    return sum((Decimal(str(value)) for month, value in by_month.items() if month in months), Decimal(0))


def decide_tier(item: dict[str, Any], rules: LoyaltyRules, now: datetime) -> TierDecision:
    """The member's tier now, given the tier stored by the last review (upgrade at once, downgrade after holding)."""
    tiers = rules.tiers
    target = tiers.qualified(basis_value(item, rules, now))
    assigned, assigned_at = item.get("assigned_tier"), item.get("assigned_tier_at")
    assigned_holds = assigned_at and now < datetime.fromisoformat(assigned_at) + timedelta(days=tiers.keep_tier_days)
    if assigned_holds and tiers.rank(assigned) > tiers.rank(target):
        target = str(assigned)
    stored, since = item.get("loyalty_tier"), item.get("loyalty_tier_at")
    at = now.isoformat()
    if tiers.rank(stored) < 0 or not since or tiers.rank(target) > tiers.rank(stored):
        return TierDecision(target, at, stored)
    if tiers.rank(target) == tiers.rank(stored):
        return TierDecision(str(stored), str(since), stored)
    if now < datetime.fromisoformat(since) + timedelta(days=tiers.keep_tier_days):
        return TierDecision(str(stored), str(since), stored)
    if tiers.downgrade_to == "one_level":
        target = tiers.levels[tiers.rank(stored) - 1].name
    return TierDecision(target, at, stored)
