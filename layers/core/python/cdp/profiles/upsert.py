"""Applies cleaned customer records and orders to profiles: resolve or create, then one write per customer."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from cdp.adapters.event_bus import DomainEvent
from cdp.identity.resolve import Identifier, choose_profile, usable_identifiers
from cdp.observability import logger
from cdp.profiles.changes import CustomerChange, OrderChange

PROFILE_EVENTS_SOURCE = "cdp.profiles"


class ProfileWriter(Protocol):
    def find_bound_profiles(self, identifiers: Iterable[Identifier]) -> dict[Identifier, str]: ...
    def bind_identifiers(self, profile_id: str, identifiers: Iterable[Identifier]) -> list[Identifier]: ...
    def create_profile(
        self, identifiers: list[Identifier], change: CustomerChange | None, now: datetime
    ) -> str | None: ...
    def update_attributes(self, profile_id: str, change: CustomerChange) -> None: ...
    def apply_orders(self, profile_id: str, orders: list[OrderChange]) -> int: ...


@dataclass
class ProfileOutcome:
    """What a batch of records did to profiles, and the domain events it raises."""

    created: int = 0
    updated: int = 0
    orders_applied: int = 0
    profile_ids: list[str] = field(default_factory=list)
    events: list[DomainEvent] = field(default_factory=list)


def signed_up_event(profile_id: str, change: CustomerChange, now: datetime, backfill_horizon: timedelta) -> DomainEvent:
    """`Customer Signed Up`; signups older than the horizon are history being loaded, flagged so journeys skip them."""
    assert change.signed_up_at is not None
    return DomainEvent(
        source=PROFILE_EVENTS_SOURCE,
        detail_type="Customer Signed Up",
        detail={
            "profile_id": profile_id,
            "signed_up_at": change.signed_up_at.isoformat(),
            "source": change.consent_source,
            "backfill": change.signed_up_at < now - backfill_horizon,
        },
    )


def _resolve_or_create(
    store: ProfileWriter,
    identifiers: list[Identifier],
    bound: dict[Identifier, str],
    change: CustomerChange | None,
    now: datetime,
) -> tuple[str, bool]:
    """The profile these identifiers resolve to, creating it when none does; True when created.

    A new profile takes only identifiers that are still free: one already bound to another person's profile
    (a shared household phone, say) stays where it is, and the conflict is logged rather than overwritten.
    """
    for _attempt in range(3):
        profile_id = choose_profile(identifiers, bound)
        if profile_id is not None:
            return profile_id, False
        free = [identifier for identifier in identifiers if identifier not in bound]
        if len(free) < len(identifiers):
            logger.info("identifiers already bound elsewhere", extra={"skipped": len(identifiers) - len(free)})
        profile_id = store.create_profile(free, change, now)
        if profile_id is not None:
            bound.update({identifier: profile_id for identifier in free})
            return profile_id, True
        bound.update(store.find_bound_profiles(identifiers))  # a concurrent writer bound one first
    raise RuntimeError("could not resolve a profile after concurrent identity conflicts")


def upsert_customers(
    store: ProfileWriter, changes: list[CustomerChange], now: datetime, backfill_horizon: timedelta
) -> ProfileOutcome:
    """Resolve each record to a profile (creating it if new) and write its attributes and consent once."""
    outcome = ProfileOutcome()
    identifier_lists = [usable_identifiers(change.identifiers) for change in changes]
    bound = store.find_bound_profiles(i for identifiers in identifier_lists for i in identifiers)
    for change, identifiers in zip(changes, identifier_lists):
        if not identifiers:
            continue
        profile_id, created = _resolve_or_create(store, identifiers, bound, change, now)
        outcome.profile_ids.append(profile_id)
        if created:
            outcome.created += 1
            if change.signed_up_at is not None:
                outcome.events.append(signed_up_event(profile_id, change, now, backfill_horizon))
            continue
        store.update_attributes(profile_id, change)
        outcome.updated += 1
        free = [identifier for identifier in identifiers if identifier not in bound]
        if free:
            conflicts = store.bind_identifiers(profile_id, free)
            bound.update({identifier: profile_id for identifier in free if identifier not in conflicts})
    return outcome


def apply_orders(store: ProfileWriter, orders: list[tuple[str, OrderChange]], now: datetime) -> ProfileOutcome:
    """Add (customer id, order) pairs to their customers' profiles, one transaction per customer."""
    outcome = ProfileOutcome()
    by_customer: dict[str, list[OrderChange]] = defaultdict(list)
    for customer_id, order in orders:
        by_customer[customer_id].append(order)
    bound = store.find_bound_profiles(("customer_id", customer_id) for customer_id in by_customer)
    for customer_id, customer_orders in by_customer.items():
        profile_id, created = _resolve_or_create(store, [("customer_id", customer_id)], bound, None, now)
        outcome.created += created
        outcome.updated += not created
        outcome.orders_applied += store.apply_orders(profile_id, customer_orders)
    return outcome
