"""What applying canonical records needs from storage: the profile ledger, and beside it identity and privacy's.

`ProfileLedger.apply_ledger_batch` writes each profile's new ledger items with the changes `changes(profile item,
new items)` computes (the domain's fold, passed in), and, when given `decide`, the live segment decision on the
profile's new state (cdp.segments.realtime) in the same transaction: the store decides nothing itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from cdp.coupons.ports import CouponLedger
from cdp.events import DomainEvent
from cdp.identity.ports import IdentityRepository
from cdp.privacy.ports import ConsentStore, ErasedRegister
from cdp.segments.live_ports import MembershipChange

LedgerItems = list[dict[str, Any]]
ProfileChanges = Callable[[dict[str, Any], LedgerItems], dict[str, Any]]
# A profile's new state -> its live memberships and timers against those it stores (cdp.segments.realtime).
MembershipDecision = Callable[[dict[str, Any]], MembershipChange]


class AppliedRecords(NamedTuple):
    """What one profile's apply wrote: the ledger items, and the live decision written in the same transaction as
    the last of them (None when none was: no `decide`, no item applied by the last transaction, or no room left in
    it; the decision is then made after the write)."""

    items: LedgerItems
    membership: MembershipChange | None = None


class LiveDecisions(Protocol):
    """Live segments as record application uses them (cdp.segments.realtime.LiveSegments)."""

    def realtime_decisions(self, now: datetime) -> MembershipDecision: ...

    def announce(self, change: MembershipChange, item: dict[str, Any]) -> list[DomainEvent]: ...

    def after_update(self, profiles: Mapping[str, dict[str, Any]], now: datetime) -> list[DomainEvent]: ...


class ConsentRecords(ConsentStore, Protocol):
    """Consent writes, with the identity store that resolves whom a statement is about."""

    @property
    def identity(self) -> IdentityRepository: ...


class RecordPrivacy(ConsentRecords, ErasedRegister, Protocol):
    """Consent writes and the erased register, as record application uses them."""


class ProfileLedger(Protocol):
    """Profiles and the ledger of the records applied to them, with the identity and privacy stores beside them."""

    @property
    def identity(self) -> IdentityRepository: ...

    @property
    def privacy(self) -> RecordPrivacy: ...

    @property
    def coupons(self) -> CouponLedger: ...

    def apply_ledger_batch(
        self, items_by_profile: Mapping[str, LedgerItems], changes: ProfileChanges, now: datetime,
        decide: MembershipDecision | None = None,
    ) -> dict[str, AppliedRecords]: ...
