"""Identity rules as data: priority, limits, blocked values, and the JSON form's refusals (pure)."""

from __future__ import annotations

import pytest
from cdp.identity.rules import DEFAULT_RULES, IdentityRules, InvalidRules


def test_usable_identifiers_are_normalised_ranked_and_free_of_placeholders() -> None:
    # Given one input with every kind of identifier, placeholders and a custom id type from a mapping
    raw = [
        ("anonymous_id", "anon-1"),
        ("shopify_id", "S-9"),
        ("email", " Jane@Example.COM "),
        ("phone", "+00 000"),
        ("customer_id", "C1"),
        ("braze_id", "B-1"),
        ("email", "UNDEFINED"),
        ("phone", "N/A"),
        ("customer_id", None),
        ("email", "jane@example.com"),
        ("anonymous_id", "a" * 600),
        ("Bad Type!", "x"),
    ]
    # When the default rules pick the usable ones
    usable = DEFAULT_RULES.usable(raw)
    # Then placeholders, oversize values and bad type names are gone, duplicates merged, strongest first,
    # undeclared types after the declared ones in alphabetical order
    assert usable == [
        ("customer_id", "C1"),
        ("email", "jane@example.com"),
        ("anonymous_id", "anon-1"),
        ("braze_id", "B-1"),
        ("shopify_id", "S-9"),
    ]


def test_blocked_values_and_limits_are_configurable() -> None:
    # Given a rule set blocking a QA value and limiting emails to one
    rules = IdentityRules.from_json_text('{"blocked_values": ["abc123"], "limits": {"email": 1}}')
    # When identifiers are checked
    # Then the configured value is blocked (case-insensitively), the defaults' placeholders no longer are,
    # and limits fall back to 5 for types the rules do not name
    assert rules.usable([("customer_id", "ABC123"), ("customer_id", "anonymous")]) == [("customer_id", "anonymous")]
    assert (rules.limit("email"), rules.limit("phone"), rules.limit("ios.id")) == (1, 5, 5)
    assert rules.is_blocked("0000") and rules.is_blocked("--")
    assert IdentityRules.from_json(rules.to_json()) == rules


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"limit": {}}',
        '{"limits": {"email": 0}}',
        '{"limits": {"email": "5"}}',
        '{"priority": ["email", "email"]}',
        '{"priority": ["DROP TABLE"]}',
        '{"blocked_patterns": ["("]}',
        '{"priority": 5}',
    ],
)
def test_malformed_rule_sets_are_refused(text: str) -> None:
    # When / Then
    with pytest.raises(InvalidRules):
        IdentityRules.from_json_text(text)
