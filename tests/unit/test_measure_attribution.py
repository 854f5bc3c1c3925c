"""Attribution: windows per event, click before delivery, last touch, one order counted once, never before the
message, the same rule for journeys and campaigns, and the rules refused when malformed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cdp.measure.attribution import attribute
from cdp.measure.rules import InvalidMeasurementRules, MeasurementRules, Touch, load_rules, parse_rules
from measure_tables import DAY, HOUR, NOW, message, messages, order, orders

DEFAULT = MeasurementRules().touches
T0 = NOW - 30 * DAY


def attributed(message_rows: list[dict], order_rows: list[dict], touches: tuple[Touch, ...] = DEFAULT) -> list[dict]:
    table = attribute(orders(order_rows), messages(message_rows), touches)
    return [{name: row[name] for name in ("order_id", "message_key", "touch", "origin", "revenue")}
            for row in table.to_pylist()]


@pytest.mark.parametrize(
    ("events", "order_after", "expected_touch"),
    [
        ([("clicked", 0 * HOUR)], 5 * DAY - HOUR, "clicked"),  # inside the click window
        ([("clicked", 0 * HOUR)], 5 * DAY + HOUR, None),  # past it
        ([("delivered", 0 * HOUR)], 23 * HOUR, "delivered"),
        ([("delivered", 0 * HOUR)], 25 * HOUR, None),  # a delivery counts one day only
        ([("opened", 0 * HOUR)], HOUR, None),  # opens are not in the default rule
        ([("delivered", 0 * HOUR), ("clicked", 2 * HOUR)], 3 * HOUR, "clicked"),  # the click outranks the delivery
        ([("clicked", 0 * HOUR), ("delivered", 0 * HOUR)], 3 * DAY, "clicked"),  # the delivery's window is over, the click's not
    ],
)
def test_each_event_counts_within_its_own_window(events, order_after, expected_touch) -> None:
    # Given one message's events and an order some time after its first event
    rows = [message("P1", event, T0 + offset) for event, offset in events]
    # When orders are attributed with the default rule (clicked 5 days, else delivered 1 day)
    result = attributed(rows, [order("O1", "P1", T0 + order_after, 40.0)])
    # Then the order is the message's conversion through the expected event, or no one's
    assert [row["touch"] for row in result] == ([expected_touch] if expected_touch else [])


def test_two_messages_one_order_is_counted_once_for_the_last_touch() -> None:
    # Given two delivered messages, a campaign's and then a journey's, and one order after both
    rows = [
        message("P1", "delivered", T0, "spring_sale", "campaign", key="campaign-1"),
        message("P1", "delivered", T0 + 2 * HOUR, "welcome", "journey", key="journey-1"),
    ]
    # When the order is attributed
    result = attributed(rows, [order("O1", "P1", T0 + 3 * HOUR, 80.0)])
    # Then it is one conversion, with its whole revenue, of the later (journey) message only
    assert result == [{"order_id": "O1", "message_key": "journey-1", "touch": "delivered", "origin": "journey", "revenue": 80.0}]


def test_a_click_on_an_older_message_beats_a_newer_delivery() -> None:
    # Given a campaign clicked, then a journey message delivered later, then an order
    rows = [
        message("P1", "clicked", T0, "spring_sale", "campaign", key="campaign-1"),
        message("P1", "delivered", T0 + DAY, "welcome", "journey", key="journey-1"),
    ]
    # When attributed: the click is the higher-priority touch, whatever its age within its window
    result = attributed(rows, [order("O1", "P1", T0 + DAY + HOUR, 10.0)])
    # Then the campaign converted
    assert [row["message_key"] for row in result] == ["campaign-1"]


def test_an_order_before_the_message_is_not_its_conversion() -> None:
    # Given an order placed an hour before the message was delivered and clicked
    rows = [message("P1", "delivered", T0), message("P1", "clicked", T0 + HOUR)]
    # When attributed
    result = attributed(rows, [order("O0", "P1", T0 - HOUR, 25.0), order("O1", "P1", T0, 30.0)])
    # Then neither the earlier order nor one at the very moment of delivery counts
    assert result == []


def test_only_the_profiles_own_messages_count_and_each_order_once() -> None:
    # Given P1 messaged, P2 not; both order twice after it
    rows = [message("P1", "delivered", T0)]
    order_rows = [order("O1", "P1", T0 + HOUR, 10.0), order("O2", "P1", T0 + 2 * HOUR, 20.0),
                  order("O3", "P2", T0 + HOUR, 99.0)]  # fmt: skip
    # When attributed
    result = attributed(rows, order_rows)
    # Then both of P1's orders are the message's conversions, P2's are no one's
    assert [(row["order_id"], row["revenue"]) for row in result] == [("O1", 10.0), ("O2", 20.0)]


def test_the_rule_is_configurable() -> None:
    # Given a rule counting opens for two days only
    touches = parse_rules({"touches": [{"event": "opened", "window_hours": 48}]}).touches
    rows = [message("P1", "opened", T0), message("P1", "clicked", T0 + HOUR)]
    # When an order comes a day later
    result = attributed(rows, [order("O1", "P1", T0 + DAY, 10.0)], touches)
    # Then it is attributed through the open (clicks are not in this rule)
    assert [row["touch"] for row in result] == ["opened"]


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"touches": []}, "touches"),
        ({"touches": [{"event": "clicked", "window_hours": 0}]}, "touches.0.window_hours"),
        ({"touches": [{"event": "bounced", "window_hours": 1}]}, "touches.0.event"),
        ({"touches": [{"event": "clicked", "window_hours": 1}, {"event": "clicked", "window_hours": 2}]}, "touches"),
        ({"confidence": 1.5}, "confidence"),
        ({"dormant_segment": "Dormant!"}, "dormant_segment"),
        ({"surprise": 1}, "surprise"),
        ({"report_days": 0}, "report_days"),
        ({"report_days": "a quarter"}, "report_days"),
    ],
)
def test_malformed_rules_are_refused_with_the_field(document, field) -> None:
    with pytest.raises(InvalidMeasurementRules) as refused:
        parse_rules(document)
    assert refused.value.status == 400
    assert field in [error["field"] for error in refused.value.fields or []]


def test_the_shipped_rules_are_the_documented_default(tmp_path: Path) -> None:
    assert load_rules() == MeasurementRules()
    broken = tmp_path / "rules.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(InvalidMeasurementRules):
        load_rules(broken)
    assert json.loads(load_rules().model_dump_json())["touches"][0] == {"event": "clicked", "window_hours": 120.0}
