"""Whether the messages that will carry a coupon code can reach a person, by the sending service's own rules
(consent for the channel and purpose, the suppression list, an address): the coupon step's `Reachability`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cdp.messaging.ports import ReadProfile, SuppressionList
from cdp.messaging.rules import unreachable_reason
from cdp.profiles.read import profile_view


@dataclass(frozen=True)
class CarrierReach:
    """The carriers' (channel, purpose) pairs, checked against the live profile read strongly consistently."""

    carriers: Sequence[tuple[str, str]]
    profiles: ReadProfile
    suppressions: SuppressionList
    now: datetime

    def unreachable(self, profile_id: str) -> str | None:
        """None when one carrier can reach the person, else the first carrier's reason."""
        item = self.profiles(profile_id)
        if item is None:
            return "profile_not_found"
        profile = profile_view(item, self.now)
        first: str | None = None
        for channel, purpose in self.carriers:
            reason = unreachable_reason(profile, channel, purpose, self.suppressions)
            if reason is None:
                return None
            first = first or reason
        return first
