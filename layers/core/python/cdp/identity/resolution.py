"""Identity resolution of a batch: which profile each input's identifiers belong to (one person, one profile).

`resolve_batch` reads every identifier of the batch at once, and the live profile behind each profile they are bound
to (redirect chains followed in rounds of batched reads), then decides input by input in a canonical order
(strongest identifiers first), so the same inputs in any order give the same profiles:
- no identifier usable (all missing or blocked): a guest, `None`;
- none bound: a new profile holding them (up to each type's limit); new profiles are written several to a
  transaction, before any decision that binds to or merges a profile;
- bound to one profile: that profile; free identifiers are bound to it within their limits, an identifier over its
  limit is not bound, and that is logged and recorded as a `limit` edge;
- bound to several profiles: starting from the profile of the strongest identifier, each other profile is merged
  in (see cdp.identity.merge: survivor, guardrails, edges) or, when the rules forbid it, left as it is with its
  identifiers and a `conflict` edge; the input resolves to the merged (or strongest) profile.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cdp.errors import ConcurrentChange
from cdp.identity.merge import MergeEdge, merge_profiles
from cdp.identity.ports import IdentityRepository, Redirects
from cdp.identity.rules import DEFAULT_RULES, Identifier, IdentityRules
from cdp.keys import identifier_text, parse_identifier
from cdp.observability import logger
from cdp.profiles.aggregates import aggregate_profile

MAX_ATTEMPTS = 5
TRANSACTION_ITEMS = 100  # DynamoDB's limit on the items of one TransactWriteItems
CREATE_IDENTIFIERS = 49  # 1 profile + 2 items per identifier within one transaction

__all__ = ["Identifier", "MergeEdge", "ResolvedBatch", "current_profile_id", "live_profile_ids", "resolve_batch"]


@dataclass
class ResolvedBatch:
    """One profile id (or None for a guest) per input set, the profiles created and the merges made."""

    profile_ids: list[str | None]
    created: set[str] = field(default_factory=set)
    merges: list[MergeEdge] = field(default_factory=list)


@dataclass(frozen=True)
class _Creation:
    """A new profile decided on, not yet written: its item, the identifiers it is created with, the input's."""

    profile: dict[str, Any]
    kept: list[Identifier]
    identifiers: list[Identifier]

    @property
    def items(self) -> int:
        return 1 + 2 * len(self.kept)


def live_profile_ids(store: Redirects, profile_ids: Iterable[str]) -> dict[str, str | None]:
    """The live profile each id is or was merged into (None: no such profile), all followed at once."""
    return store.live_profile_ids(profile_ids)


def current_profile_id(store: Redirects, profile_id: str) -> str | None:
    """The live profile `profile_id` is or was merged into (following redirects); None if there is no such profile."""
    return store.live_profile_ids([profile_id])[profile_id]


def new_profile_item(profile_id: str, now: datetime) -> dict[str, Any]:
    """A new, empty profile: every aggregate at its zero (from `aggregate_profile`) and an empty consent map."""
    return {
        "profile_id": profile_id,
        "created_at": now.isoformat(),
        "updated_at": now.isoformat(),
        **aggregate_profile([]),
        "consent": {},
    }


class _Resolver:
    """The state of one batch: bindings read once, kept current as the batch binds and creates."""

    def __init__(
        self, store: IdentityRepository, rules: IdentityRules, cause: str, now: datetime, bound: dict[Identifier, str]
    ) -> None:
        self.store = store
        self.rules = rules
        self.cause = cause
        self.now = now
        self.bound = bound
        self.live: dict[str, str] = {}
        self.result = ResolvedBatch(profile_ids=[])
        self.pending: list[_Creation] = []
        self.replaced: dict[str, str] = {}  # a creation that lost a race: the profile its input resolved to instead

    def follow(self, profile_ids: Iterable[str]) -> None:
        """Learn the live profile behind each of these ids not known yet (batched reads; unknown ids stay as they are)."""
        unknown = {profile_id for profile_id in profile_ids if profile_id not in self.live}
        if unknown:
            self.live.update({old: live or old for old, live in self.store.live_profile_ids(unknown).items()})

    def live_profile(self, profile_id: str) -> str:
        profile_id = self.replaced.get(profile_id, profile_id)
        self.follow([profile_id])
        return self.live[profile_id]

    def refresh(self, identifiers: Iterable[Identifier]) -> None:
        self.bound.update(self.store.find_bound(identifiers))
        self.live.clear()
        self.follow(self.bound.values())

    def resolve(self, identifiers: list[Identifier]) -> str:
        for _attempt in range(MAX_ATTEMPTS):
            try:
                return self._resolve_once(identifiers)
            except ConcurrentChange:
                logger.info("identity changed concurrently, re-reading", extra={"cause": self.cause})
                self.refresh(identifiers)
        raise RuntimeError("could not resolve identifiers after repeated concurrent changes")

    def _resolve_once(self, identifiers: list[Identifier]) -> str:
        if any(identifier in self.bound for identifier in identifiers):
            self.flush()  # the profiles this input may bind to or merge must exist first
        owner_of = {i: self.live_profile(self.bound[i]) for i in identifiers if i in self.bound}
        owners = list(dict.fromkeys(owner_of.values()))
        if not owners:
            return self._create(identifiers)
        target = owners[0]
        for other in owners[1:]:
            linked_by = [identifier for identifier, owner in owner_of.items() if owner == other]
            edge = merge_profiles(self.store, self.rules, target, other, linked_by, self.cause, self.now)
            if edge is not None:
                self._merged(edge)
                target = edge.to_profile
        self._bind_free(target, identifiers)
        return target

    def _merged(self, edge: MergeEdge) -> None:
        self.result.merges.append(edge)
        self.live = {old: edge.to_profile if live == edge.from_profile else live for old, live in self.live.items()}
        self.live[edge.from_profile] = self.live[edge.to_profile] = edge.to_profile
        self.bound.update({parse_identifier(text): edge.to_profile for text in edge.identifiers})

    def _create(self, identifiers: list[Identifier]) -> str:
        """A new profile with (at most a transaction's worth of) identifiers within limits, created with the next
        flush; any other identifiers are bound after creating it at once."""
        kept: list[Identifier] = []
        for identifier in identifiers:
            if sum(1 for kept_type, _ in kept if kept_type == identifier[0]) < self.rules.limit(identifier[0]):
                kept.append(identifier)
        kept = kept[:CREATE_IDENTIFIERS]
        profile_id = uuid.uuid4().hex
        self.pending.append(_Creation(new_profile_item(profile_id, self.now), kept, identifiers))
        self.bound.update({identifier: profile_id for identifier in kept})
        self.live[profile_id] = profile_id
        self.result.created.add(profile_id)
        if len(kept) < len(identifiers):
            self.flush()
            if profile_id in self.replaced:
                return self.replaced[profile_id]
            self._bind_free(profile_id, identifiers)
        return profile_id

    def flush(self) -> None:
        """Create the pending profiles, several to a transaction. When a transaction is cancelled (an identifier was
        bound meanwhile by another writer), its profiles are created one by one, and the input of each that still
        fails is resolved again: its profile id then stands for the profile it resolves to."""
        while self.pending:
            group, items = [], 0
            while self.pending and items + self.pending[0].items <= TRANSACTION_ITEMS:
                items += self.pending[0].items
                group.append(self.pending.pop(0))
            try:
                self.store.create_profiles([(creation.profile, creation.kept) for creation in group])
            except ConcurrentChange:
                for creation in group:
                    self._create_alone(creation)

    def _create_alone(self, creation: _Creation) -> None:
        try:
            self.store.create_profile(creation.profile, creation.kept)
        except ConcurrentChange:
            profile_id = creation.profile["profile_id"]
            logger.info("identity changed concurrently, re-reading", extra={"cause": self.cause})
            self.result.created.discard(profile_id)
            self.bound = {identifier: owner for identifier, owner in self.bound.items() if owner != profile_id}
            self.refresh(creation.identifiers)
            self.replaced[profile_id] = self.resolve(creation.identifiers)

    def _bind_free(self, profile_id: str, identifiers: list[Identifier]) -> None:
        """Bind the input's free identifiers within their limits; those over a limit are logged and recorded once."""
        refused: list[Identifier] = []
        for identifier in identifiers:
            if identifier in self.bound:
                continue
            if self.store.bind(profile_id, identifier, self.rules.limit(identifier[0]), self.now.isoformat()):
                self.bound[identifier] = profile_id
            else:
                refused.append(identifier)
        if not refused:
            return
        logger.warning(
            "identifiers over their type's limit, not bound",
            extra={"profile_id": profile_id, "count": len(refused), "cause": self.cause},
        )
        self.store.append_edge(
            profile_id,
            {
                "edge_id": uuid.uuid4().hex,
                "kind": "limit",
                "at": self.now.isoformat(),
                "to_profile": profile_id,
                "cause": self.cause,
                "identifiers": [identifier_text(identifier) for identifier in refused],
                "limits": {t: self.rules.limit(t) for t, _ in refused},
            },
        )


def resolve_batch(
    store: IdentityRepository,
    identifier_sets: list[list[Identifier]],
    cause: str,
    now: datetime,
    rules: IdentityRules = DEFAULT_RULES,
) -> ResolvedBatch:
    """Resolve each input's identifiers to a profile id (None for a guest), creating, binding and merging as needed."""
    usable = [rules.usable(identifiers) for identifiers in identifier_sets]
    resolver = _Resolver(store, rules, cause, now, store.find_bound(i for ids in usable for i in ids))
    resolver.follow(resolver.bound.values())
    resolved: dict[tuple[Identifier, ...], str] = {}
    for identifiers in sorted(
        {tuple(ids) for ids in usable if ids}, key=lambda ids: [(rules.rank(t), v) for t, v in ids]
    ):
        resolved[identifiers] = resolver.resolve(list(identifiers))
    resolver.flush()
    resolver.result.profile_ids = [resolver.live_profile(resolved[tuple(ids)]) if ids else None for ids in usable]
    return resolver.result
