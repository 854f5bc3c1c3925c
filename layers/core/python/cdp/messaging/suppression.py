"""The suppression list: addresses no message may go to, and why.

An address is normalised as identity resolution stores it (`cdp.identifiers`: email lower-cased with a punycode
domain, phone in E.164) and kept only as the sha256 of that text (`SUPPRESSED#<channel>#<digest>`), so the list
holds no address. Reasons accumulate on the item (a complained address that also unsubscribed keeps both).
`unsubscribed` stops marketing only (a receipt still reaches someone who left the newsletter); hard bounces,
complaints and SMS opt-outs (STOP: the carrier refuses every later SMS) stop every purpose. Erased people are
suppressed without an item of their own: the erased register already holds their identifiers' salted digests
(`cdp.privacy.erasure.identifier_digest`), looked up in the same request, so erasure deletes the suppression items of
their addresses.
"""

from __future__ import annotations

from datetime import datetime

from cdp.identifiers import normalise_email, normalise_phone
from cdp.keys import CHANNEL_OF_IDENTIFIER, address_digest
from cdp.messaging.ports import SuppressionStore
from cdp.privacy.erasure import identifier_digest

HARD_BOUNCE, COMPLAINT, UNSUBSCRIBED, SMS_OPT_OUT, ERASED = "hard_bounce", "complaint", "unsubscribed", "sms_opt_out", "erased"
REASONS = (ERASED, COMPLAINT, HARD_BOUNCE, SMS_OPT_OUT, UNSUBSCRIBED)  # the order `reason` reports them in
MARKETING_ONLY = frozenset({UNSUBSCRIBED})
IDENTIFIER_OF_CHANNEL = {channel: identifier for identifier, channel in CHANNEL_OF_IDENTIFIER.items()}


class UnknownReason(ValueError):
    """A suppression reason outside REASONS."""


def normalised_address(channel: str, address: str, phone_region: str) -> str | None:
    """The address as stored for its channel (email, E.164 phone; push tokens and webhook URLs trimmed), or None."""
    if channel == "email":
        return normalise_email(address)
    if channel == "sms":
        return normalise_phone(address, phone_region)
    text = address.strip() if isinstance(address, str) else ""
    return text or None


class Suppressions:
    """The `SuppressionList` port over a store of suppression items and the erased register."""

    def __init__(self, store: SuppressionStore, salt: str, phone_region: str) -> None:
        self.store = store
        self.salt = salt
        self.phone_region = phone_region

    def reason(self, profile_id: str, channel: str, address: str, purpose: str = "marketing") -> str | None:
        """Why nothing of `purpose` may go to this address on this channel, or None (an address that does not
        normalise is no one's: the sender has no address to use, which is its own skip reason)."""
        normalised = normalised_address(channel, address, self.phone_region)
        if normalised is None:
            return None
        identifier = IDENTIFIER_OF_CHANNEL.get(channel)
        erased_digest = identifier_digest(self.salt, (identifier, normalised)) if identifier else ""
        reasons, erased = self.store.lookup(channel, address_digest(normalised), erased_digest)
        if erased:
            return ERASED
        blocking = reasons if purpose == "marketing" else reasons - MARKETING_ONLY
        return next((reason for reason in REASONS if reason in blocking), None)

    def add(self, profile_id: str, channel: str, address: str, reason: str, at: datetime) -> None:
        """Suppress the address for `reason` (again: nothing changes); an address that does not normalise is
        ignored, as no message can reach it."""
        self.added(channel, address, reason, at)

    def added(self, channel: str, address: str, reason: str, at: datetime) -> bool:
        """`add`, answering whether this reason is new for the address."""
        if reason not in REASONS or reason == ERASED:
            raise UnknownReason(reason)
        normalised = normalised_address(channel, address, self.phone_region)
        if normalised is None:
            return False
        return self.store.add_reason(channel, address_digest(normalised), reason, at)

    def carrying(self, channel: str, normalised: list[str], reason: str) -> set[str]:
        """Which of these normalised addresses carry this very reason (batched reads)."""
        digests = {address_digest(address): address for address in normalised}
        found = self.store.reasons_of(channel, list(digests))
        return {digests[digest] for digest, reasons in found.items() if reason in reasons}

    def lift(self, channel: str, address: str, reason: str) -> None:
        """Take one reason off the address (a person who subscribes again is no longer `unsubscribed`)."""
        normalised = normalised_address(channel, address, self.phone_region)
        if normalised is not None:
            self.store.remove_reason(channel, address_digest(normalised), reason)
