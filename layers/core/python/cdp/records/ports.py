"""What applying canonical records needs from storage: the profile ledger, and beside it identity and privacy's.

`ProfileLedger.apply_ledger_batch` writes each profile's new ledger items with the changes `changes(profile item,
new items)` computes (the domain's fold, passed in): the store decides nothing itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from cdp.coupons.ports import CouponLedger
from cdp.events import DomainEvent
from cdp.identity.ports import IdentityRepository
from cdp.privacy.ports import ConsentStore, ErasedRegister

LedgerItems = list[dict[str, Any]]
ProfileChanges = Callable[[dict[str, Any], LedgerItems], dict[str, Any]]
# What to do once profiles are written (their new states by id): the events it raises (live segments).
ProfilesWritten = Callable[[Mapping[str, dict[str, Any]], datetime], list[DomainEvent]]


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
        self, items_by_profile: Mapping[str, LedgerItems], changes: ProfileChanges, now: datetime
    ) -> dict[str, LedgerItems]: ...
