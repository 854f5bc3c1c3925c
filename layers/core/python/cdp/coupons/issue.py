"""Issue one coupon of an offer to one person for one occasion: idempotent, within the cap and the per-person limit.

The person is the live profile after following merge redirects, together with every profile merged into it, so
many accounts of one person (the "wool party" farming coupons with fresh sign-ups) that the identity graph has
joined get what one person gets. The occasion key (a journey execution, a campaign run, a template render) makes a
retry return the code already issued for it instead of a second one. Issue reads the counts, then writes the
issuance on the condition that they are unchanged (`CouponLedger.issue`); a conflict re-reads and retries, so
concurrent issuers never pass the cap. Pool codes are handed out in pool order (the n-th issuance gets the n-th
code); generated codes are the offer's prefix and eight random characters, redrawn if ever taken.

Reach before spending. When the request names the messages that will carry the code, a person none of them could
reach (the sending service's own consent, suppression and address rules, `Reachability`) is refused as
`unreachable:<reason>` before the per-person limit and the cap are read: the code stays for someone it can reach,
and the person's limit is not used up. The occasion is looked up first, so a retried step still gets the code
already issued for it.

A person issued a code on each of two profiles before the profiles merged keeps both issuances (nothing is taken
back); the person's count then exceeds the limit, they get no more, redemption honours only as many as the limit,
and the run report counts the surplus as `duplicates_after_merge`.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from cdp.coupons.offers import Offer, OfferCatalogue
from cdp.coupons.ports import CodeTaken, CouponLedger, Issuance, IssueConflict, Reachability
from cdp.coupons.requests import OCCASION_PATTERN
from cdp.errors import Invalid
from cdp.retry import backoff

ISSUE_ATTEMPTS = 25
OCCASION = re.compile(OCCASION_PATTERN)
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud and typed without mistakes
RANDOM_PART = 8


@dataclass(frozen=True)
class CouponOutcome:
    status: Literal["issued", "already_issued", "refused"]
    reason: str  # issued | already_issued | unknown_offer | not_open | profile_not_found | unreachable:<why> |
    #              customer_limit | cap_reached | busy
    offer: str
    code: str | None = None
    expires_at: datetime | None = None


def generated_code(prefix: str) -> str:
    return f"{prefix}-{''.join(secrets.choice(CODE_ALPHABET) for _ in range(RANDOM_PART))}"


def _refused(ledger: CouponLedger, offer: str, reason: str) -> CouponOutcome:
    ledger.count_refusal(offer, reason)
    return CouponOutcome("refused", reason, offer)


def issue_coupon(
    offer_name: str,
    profile_id: str,
    occasion_key: str,
    ledger: CouponLedger,
    offers: OfferCatalogue,
    now: datetime,
    new_code: Callable[[str], str] = generated_code,
    reach: Reachability | None = None,
) -> CouponOutcome:
    """Issue (or find, for a repeated occasion) the person's code of this offer, or say why not; with `reach`, only
    to a person the carrying messages can reach."""
    if not OCCASION.match(occasion_key):
        raise Invalid("occasion_key must be 1-200 letters, digits or _.:#@/-")
    offer = offers.get(offer_name)
    if offer is None:
        return CouponOutcome("refused", "unknown_offer", offer_name)
    if not offer.open_at(now):
        return _refused(ledger, offer.name, "not_open")
    for attempt in range(ISSUE_ATTEMPTS):
        outcome = _try_issue(offer, profile_id, occasion_key, ledger, now, new_code, reach)
        if outcome is not None:
            return outcome
        backoff(attempt)
    return _refused(ledger, offer.name, "busy")


def _try_issue(
    offer: Offer,
    profile_id: str,
    occasion: str,
    ledger: CouponLedger,
    now: datetime,
    new_code: Callable[[str], str],
    reach: Reachability | None,
) -> CouponOutcome | None:
    """One read-decide-write round; None when a concurrent change means reading again."""
    person = ledger.person(profile_id)
    if person is None:
        return _refused(ledger, offer.name, "profile_not_found")
    held = ledger.person_coupons(offer.name, person)
    for issuance in held.issuances:
        if issuance.occasion == occasion:
            return CouponOutcome("already_issued", "already_issued", offer.name, issuance.code, issuance.expires_at)
    if reach is not None and (unreachable := reach.unreachable(person[0])) is not None:
        return _refused(ledger, offer.name, f"unreachable:{unreachable}")
    if sum(held.counts.values()) >= offer.per_customer_limit:
        return _refused(ledger, offer.name, "customer_limit")
    total = ledger.issued_total(offer.name)
    if total >= offer.cap:
        return _refused(ledger, offer.name, "cap_reached")
    code = offer.codes.pool[total] if offer.codes.pool is not None else new_code(offer.codes.generated.prefix)  # type: ignore[union-attr]
    issuance = Issuance(offer.name, person[0], occasion, code, now, offer.code_expires_at(now))
    try:
        ledger.issue(issuance, total, {profile: held.counts.get(profile, 0) for profile in person})
    except (CodeTaken, IssueConflict):
        return None
    return CouponOutcome("issued", "issued", offer.name, code, issuance.expires_at)
