"""Merge preview: what a candidate rule set would do to today's profiles, computed in memory, changing nothing.

The evidence is what resolution saw: every ledger record's identifiers (in the order applied) and every identity
item. It is replayed through the candidate rules (blocked values, limits, priority, the customer-id guardrail, and
profiles a split separated never merging again) with an in-memory union of profiles, and the resulting groups are compared with today's profiles: a group holding
evidence of several profiles is a merge, a profile whose evidence falls into several groups is a split.

CLI (`cdp.preview_rules`; reads PROFILES_TABLE and LEDGER_TABLE, AWS credentials from the environment; prints JSON):
    python -m cdp.preview_rules candidate-rules.json
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cdp.identity.ports import IdentityHistory
from cdp.identity.rules import Identifier, IdentityRules
from cdp.keys import parse_identifier

EXAMPLES = 5


@dataclass
class PreviewReport:
    """Counts and a few examples (profile ids only: no identifier values) of what the rules would change."""

    profiles_now: int = 0
    profiles_after: int = 0
    merges: int = 0
    splits: int = 0
    identifiers_dropped: int = 0
    merge_examples: list[list[str]] = field(default_factory=list)
    split_examples: list[str] = field(default_factory=list)


class _Replay:
    """Union of groups under the rules: a group's identifiers, per-type counts and today's profiles in it."""

    def __init__(self, rules: IdentityRules, separated: Iterable[tuple[str, str]]) -> None:
        self.rules = rules
        self.separated = {frozenset(pair) for pair in separated}
        self.parent: dict[int, int] = {}
        self.counts: dict[int, Counter[str]] = {}
        self.profiles: dict[int, set[str]] = {}
        self.owner: dict[Identifier, int] = {}

    def find(self, group: int) -> int:
        while self.parent[group] != group:
            self.parent[group] = self.parent[self.parent[group]]
            group = self.parent[group]
        return group

    def _new_group(self) -> int:
        group = len(self.parent)
        self.parent[group] = group
        self.counts[group] = Counter()
        self.profiles[group] = set()
        return group

    def _bind(self, group: int, identifier: Identifier) -> None:
        if self.counts[group][identifier[0]] < self.rules.limit(identifier[0]):
            self.owner[identifier] = group
            self.counts[group][identifier[0]] += 1

    def _may_merge(self, first: int, second: int) -> bool:
        if self.counts[first]["customer_id"] and self.counts[second]["customer_id"]:
            return False
        if any(frozenset((one, other)) in self.separated for one in self.profiles[first] for other in self.profiles[second]):
            return False
        combined = self.counts[first] + self.counts[second]
        return all(count <= self.rules.limit(t) for t, count in combined.items())

    def resolve(self, profile_id: str, identifiers: list[Identifier]) -> int | None:
        if not identifiers:
            return None
        groups = list(dict.fromkeys(self.find(self.owner[i]) for i in identifiers if i in self.owner))
        target = groups[0] if groups else self._new_group()
        self.profiles[target].add(profile_id)
        for other in groups[1:]:
            if self._may_merge(target, other):
                self.parent[other] = target
                self.counts[target] += self.counts[other]
                self.profiles[target] |= self.profiles[other]
        for identifier in identifiers:
            if identifier not in self.owner:
                self._bind(target, identifier)
        return target


def preview_rules(
    identities: Iterable[tuple[Identifier, str]],
    records: Iterable[dict[str, Any]],
    rules: IdentityRules,
    separated: Iterable[tuple[str, str]] = (),
) -> PreviewReport:
    """Replay the evidence through `rules` and compare the groups with today's profiles (pure); `separated` are
    the profile pairs splits separated."""
    evidence: list[tuple[str, list[tuple[str, str]]]] = [
        (record["profile_id"], [parse_identifier(text) for text in record.get("identifiers") or []])
        for record in sorted(records, key=lambda r: (str(r.get("applied_at", "")), r["pk"]))
    ]
    evidence += [(profile_id, [identifier]) for identifier, profile_id in sorted(identities)]
    replay = _Replay(rules, separated)
    placed = [(profile_id, replay.resolve(profile_id, rules.usable(identifiers))) for profile_id, identifiers in evidence]
    profiles_of: defaultdict[int, set[str]] = defaultdict(set)
    groups_of: defaultdict[str, set[int]] = defaultdict(set)
    for profile_id, group in placed:
        groups_of.setdefault(profile_id, set())
        if group is not None:
            root = replay.find(group)
            profiles_of[root].add(profile_id)
            groups_of[profile_id].add(root)
    merged = sorted(sorted(profiles) for profiles in profiles_of.values() if len(profiles) > 1)
    split = sorted(profile_id for profile_id, groups in groups_of.items() if len(groups) > 1)
    evidence_identifiers = {identifier for _, identifiers in evidence for identifier in identifiers}
    return PreviewReport(
        profiles_now=len(groups_of),
        profiles_after=len(profiles_of),
        merges=len(merged),
        splits=len(split),
        identifiers_dropped=len(evidence_identifiers - set(replay.owner)),
        merge_examples=merged[:EXAMPLES],
        split_examples=split[:EXAMPLES],
    )


def preview_store(store: IdentityHistory, rules: IdentityRules) -> PreviewReport:
    """Scan identity items and ledger records (reads only) and preview `rules` over them."""
    return preview_rules(
        list(store.scan_identities()), list(store.scan_records()), rules, list(store.scan_split_pairs())
    )
