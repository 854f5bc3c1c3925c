"""Journeys end to end in the template's stack: tracking calls publish bus events, the router enters or stops runs,
the generated ASL runs in moto's Step Functions interpreter and every send goes through the real send_message.

One scenario table for the abandoned cart (sent, exit on goal mid-wait, suppressed, capped then deferred, quiet hours
deferred, re-entry refused, retried step not re-sent) and a holdout test; each counts the state transitions of its
executions from their history.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_string
from typing import Any

import pytest
from cdp.adapters.coupon_store import CouponStore
from cdp.journeys.compiler import state_name
from cdp.journeys.definition import shipped_definitions
from cdp.messaging.assignment import assign
from cdp_local.runner import create_local_source, http_api
from cdp_local.stack import ACCOUNT_ID, LocalStack
from moto.ses.models import ses_backends
from moto.sns.models import sns_backends

from tests.integration.privacy_flow import drop, profile_of, table_items

CART = "AbandonedCartJourneyStateMachine"
OLD_SIGNUP = "2020-01-01T00:00:00Z"  # history: updates the profile, starts no welcome journey


@dataclass(frozen=True)
class Scenario:
    name: str
    email_consent: bool = True
    parameters: dict[str, str] = field(default_factory=dict)
    wait_scale: float = 0.0
    order_after_seconds: float | None = None  # an order arrives this long after the checkout
    checkouts: int = 1
    fail_first_send_after_sending: bool = False


def _quiet_now() -> str:
    """Quiet hours from an hour ago to three hours from now (UTC, the shop's zone): a send now is deferred."""
    now = datetime.now(UTC)
    return f"{(now - timedelta(hours=1)):%H:%M}-{(now + timedelta(hours=3)):%H:%M}"


def _quiet_elsewhere() -> dict[str, str]:
    """Quiet hours six to eight hours from now (UTC, the shop's zone): no send of a scenario falls in them (its sends
    come within two hours of now, or a day and an hour later), whatever the time of day the test runs at."""
    now = datetime.now(UTC)
    return {"QuietHours": f"{(now + timedelta(hours=6)):%H:%M}-{(now + timedelta(hours=8)):%H:%M}", "ShopTimezone": "UTC"}


SCENARIOS = [
    Scenario("sent"),
    Scenario("exit_on_goal_mid_wait", wait_scale=1.0, order_after_seconds=0.5, parameters={"JourneyWaitSeconds": json.dumps(
        {"abandoned_cart.wait_before_reminder": 4, "post_purchase.wait_for_delivery": 0, "post_purchase.wait_before_cross_sell": 0})}),
    Scenario("suppressed", email_consent=False),
    Scenario("capped_then_deferred", parameters={"FrequencyCaps": '{"email": {"limit": 1, "window_hours": 2}}',
                                                 "JourneyWaitSeconds": '{"abandoned_cart.wait_before_coupon": 60}'}),
    Scenario("quiet_hours_deferred", parameters={"QuietHours": _quiet_now(), "ShopTimezone": "UTC", "JourneyWaitSeconds": json.dumps(
        {"abandoned_cart.wait_before_reminder": 60, "abandoned_cart.wait_before_coupon": 6 * 3600})}),
    Scenario("reentry_refused", checkouts=2),
    Scenario("retried_step_not_resent", fail_first_send_after_sending=True),
]  # fmt: skip
EXPECTED: dict[str, dict[str, Any]] = {
    "sent": {"status": "SUCCEEDED", "outcomes": {"cart_reminder": ["sent"], "cart_coupon": ["sent"]}, "emails": 2},
    "exit_on_goal_mid_wait": {"status": "ABORTED", "outcomes": {}, "emails": 0, "entry_outcome": "goal"},
    "suppressed": {"status": "SUCCEEDED", "outcomes": {"cart_reminder": ["skipped:no_consent"],
                                                       "cart_coupon": ["skipped:no_consent"]}, "emails": 0},
    "capped_then_deferred": {"status": "SUCCEEDED", "emails": 2, "outcomes": {
        "cart_reminder": ["sent"], "cart_coupon": ["deferred:frequency_cap", "sent"]}},
    "quiet_hours_deferred": {"status": "SUCCEEDED", "emails": 2, "outcomes": {
        "cart_reminder": ["deferred:quiet_hours", "sent"], "cart_coupon": ["sent"]}},
    "reentry_refused": {"status": "SUCCEEDED", "outcomes": {"cart_reminder": ["sent"], "cart_coupon": ["sent"]},
                        "emails": 2},
    "retried_step_not_resent": {"status": "SUCCEEDED", "emails": 2, "outcomes": {
        "cart_reminder": ["skipped:already_sent"], "cart_coupon": ["sent"]}},
}  # fmt: skip


def _customers_csv(customers: list[tuple[str, bool]]) -> bytes:
    lines = ["customer_id,email,first_name,country,signup_at,email_consent,sms_consent"]
    lines += [
        f"{cid},{cid.lower()}@example.com,Ann,GB,{OLD_SIGNUP},{str(consent).lower()},false"
        for cid, consent in customers
    ]
    return ("\n".join(lines) + "\n").encode()


def _track(stack: LocalStack, write_key: str, calls: list[dict[str, Any]]) -> None:
    authorization = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
    response = http_api(stack).handle(
        "POST", "/v1/batch", {"host": "localhost", "content-type": "application/json", "authorization": authorization},
        json.dumps({"batch": calls}).encode(),
    )  # fmt: skip
    assert response.status == 200, response.body


def _cart(customer_id: str, message_id: str) -> list[dict[str, Any]]:
    """A product added to the cart, then a checkout started with it."""
    product = {"product_id": "P1", "sku": "SKU-1", "name": "Green tea", "price": 12.5, "quantity": 2}
    call = {"type": "track", "userId": customer_id}
    return [
        {**call, "messageId": f"{message_id}-add", "event": "Product Added", "properties": {"cart_id": f"cart-{customer_id}", **product}},
        {**call, "messageId": message_id, "event": "Checkout Started",
         "properties": {"cart_id": f"cart-{customer_id}", "products": [product]}},
    ]  # fmt: skip


def _order(customer_id: str) -> dict[str, Any]:
    return {"type": "track", "messageId": f"order-{customer_id}", "userId": customer_id, "event": "Order Completed",
            "properties": {"order_id": f"O-{customer_id}", "total": 25, "currency": "GBP",
                           "products": [{"product_id": "P1", "sku": "SKU-1", "price": 12.5, "quantity": 2}]}}  # fmt: skip


def send_outcomes(
    stack: LocalStack, execution_arn: str, journey: str = "abandoned_cart"
) -> tuple[dict[str, list[str]], int]:
    """Each send step's outcomes in order (`sent`, `skipped:<reason>`, `deferred:<reason>`), and the execution's
    state transitions (what Standard workflows bill), from its history."""
    send_states = {state_name(step.name): step.name for step in shipped_definitions()[journey].send_steps()}
    history = stack.client("stepfunctions").get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    outcomes: dict[str, list[str]] = {}
    for event in history:
        details = event.get("stateExitedEventDetails", {})
        if event["type"] == "TaskStateExited" and details.get("name") in send_states:
            step = send_states[details["name"]]
            result = json.loads(details["output"])["steps"][step]
            outcomes.setdefault(step, []).append(
                "sent" if result["status"] == "sent" else f"{result['status']}:{result['reason']}"
            )
    transitions = sum(event["type"].endswith("StateEntered") for event in history)
    return outcomes, transitions


@pytest.fixture
def scenario_stack(request: pytest.FixtureRequest) -> Iterator[LocalStack]:
    scenario: Scenario = request.param
    with LocalStack(parameters={**_quiet_elsewhere(), **scenario.parameters}, wait_scale=scenario.wait_scale) as stack:
        yield stack


def _fail_once_after_acting(stack: LocalStack, monkeypatch: pytest.MonkeyPatch,
                            function: str = "SendMessageFunction") -> None:  # fmt: skip
    """The function's first invocation does its work (sends, issues), then its Lambda fails (a timeout after the side
    effect), so Step Functions retries the task."""
    handler_of = stack._handler_of
    failed: list[bool] = []

    def flaky(logical_id: str) -> Any:
        handler = handler_of(logical_id)
        if logical_id != function:
            return handler

        def act_then_fail(event: Any, context: Any) -> Any:
            result = handler(event, context)
            if not failed:
                failed.append(True)
                raise TimeoutError("Task timed out after its side effect")
            return result

        return act_then_fail

    monkeypatch.setattr(stack, "_handler_of", flaky)


@pytest.mark.parametrize("scenario_stack", SCENARIOS, ids=[s.name for s in SCENARIOS], indirect=True)
def test_abandoned_cart_scenarios(scenario_stack: LocalStack, request: pytest.FixtureRequest,
                                  monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    stack = scenario_stack
    scenario: Scenario = request.node.callspec.params["scenario_stack"]
    expected = EXPECTED[scenario.name]
    # Given: a customer (not held out of the cart journey) with or without email consent
    customer = next(f"C{n}" for n in range(200) if _messaged(stack, f"C{n}", scenario.email_consent))
    write_key = create_local_source(stack)
    if scenario.fail_first_send_after_sending:
        _fail_once_after_acting(stack, monkeypatch)
    sent_before = len(ses_backends[ACCOUNT_ID][stack.region].sent_messages)
    # When: they start a checkout (twice, for re-entry), and for the goal scenario order half a second later
    for number in range(scenario.checkouts):
        _track(stack, write_key, _cart(customer, f"checkout-{number}"))
    if scenario.order_after_seconds is not None:
        time.sleep(scenario.order_after_seconds)
        _track(stack, write_key, [_order(customer)])
    stack.wait_for_executions(timeout=60)
    # Then: one run, ending as expected, each step's outcomes as the table says, and the emails sent
    [execution] = stack.executions(CART)
    assert execution["status"] == expected["status"]
    outcomes, transitions = send_outcomes(stack, execution["executionArn"])
    assert outcomes == expected["outcomes"]
    profile_id = profile_of(stack, customer)["profile_id"]
    assert _cart_emails_sent(stack, profile_id) == expected["emails"]
    if scenario.order_after_seconds is None:  # nothing else messages them: SES saw exactly the cart's emails
        assert len(ses_backends[ACCOUNT_ID][stack.region].sent_messages) - sent_before == expected["emails"]
    entry = _entry(stack, profile_id)
    assert entry["outcome"] == expected.get("entry_outcome", "completed") and entry["active"] is False
    if scenario.name == "sent":
        assert transitions <= 12, transitions


def _cart_emails_sent(stack: LocalStack, profile_id: str) -> int:
    """The cart journey's send records of this profile that say sent."""
    items = stack.client("dynamodb").query(
        TableName=stack.physical_id("ProfilesTable"), ConsistentRead=True,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :cart)",
        ExpressionAttributeValues={":pk": {"S": f"PROFILE#{profile_id}"}, ":cart": {"S": "MESSAGE#journey#abandoned_cart#"}},
    )["Items"]  # fmt: skip
    return sum(item["status"]["S"] == "sent" for item in items)


def _entry(stack: LocalStack, profile_id: str) -> dict[str, Any]:
    item = stack.client("dynamodb").get_item(
        TableName=stack.physical_id("ProfilesTable"), ConsistentRead=True,
        Key={"pk": {"S": f"PROFILE#{profile_id}"}, "sk": {"S": "JOURNEY#abandoned_cart"}},
    )["Item"]  # fmt: skip
    return {name: next(iter(value.values())) for name, value in item.items()}


def _messaged(stack: LocalStack, customer_id: str, consent: bool) -> bool:
    """Create the customer (from a customers file) and say whether the cart journey messages them (not held out)."""
    drop(stack, f"customers/{customer_id}.csv", _customers_csv([(customer_id, consent)]))
    stack.wait_for_executions(timeout=30)
    profile_id = profile_of(stack, customer_id)["profile_id"]
    return assign(profile_id, "abandoned_cart", 10, {"main": 50, "short_wait": 50}) != "holdout"


def test_held_out_customers_are_recorded_and_never_messaged() -> None:
    # Given: customers with consent, forty at a time until the 10% split holds one out (profile ids are random, so
    # forty hold none out once in about seventy runs)
    with LocalStack() as stack:
        customers: list[str] = []
        profiles: dict[str, str] = {}
        held: set[str] = set()
        while not held:
            batch = [f"H{n}" for n in range(len(customers), len(customers) + 40)]
            drop(stack, f"customers/holdout-{len(customers)}.csv", _customers_csv([(c, True) for c in batch]))
            stack.wait_for_executions(timeout=60)
            customers += batch
            profiles |= {c: profile_of(stack, c)["profile_id"] for c in batch}
            held = {
                c
                for c, p in profiles.items()
                if assign(p, "abandoned_cart", 10, {"main": 50, "short_wait": 50}) == "holdout"
            }
        # When: every one starts a checkout
        _track(stack, create_local_source(stack), [call for c in customers for call in _cart(c, f"checkout-{c}")])
        stack.wait_for_executions(timeout=600)  # 36 runs side by side: minutes on a busy 2-core machine
        # Then: one run per messaged customer, none for the held out, whose entries say holdout
        assert len(stack.executions(CART)) == len(customers) - len(held)
        entries = [i for i in table_items(stack, "ProfilesTable") if i["sk"]["S"] == "JOURNEY#abandoned_cart"]
        by_variant = {i["pk"]["S"].removeprefix("PROFILE#"): i["variant"]["S"] for i in entries}
        assert {c for c in customers if by_variant[profiles[c]] == "holdout"} == held


def _email_texts(stack: LocalStack) -> dict[str, str]:
    """Each address's emails, their parts decoded and joined."""
    texts: dict[str, str] = {}
    for message in ses_backends[ACCOUNT_ID][stack.region].sent_messages:
        mime = message_from_string(message.raw_data)
        parts = [part.get_payload(decode=True).decode() for part in mime.walk() if not part.is_multipart()]
        texts[mime["To"]] = texts.get(mime["To"], "") + "\n".join(parts)
    return texts


def _issuances(stack: LocalStack, profile_id: str, offer: str) -> list[dict[str, Any]]:
    """The profile's issued coupons of the offer (one item per occasion)."""
    items = stack.client("dynamodb").query(
        TableName=stack.physical_id("ProfilesTable"), ConsistentRead=True,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :offer)",
        ExpressionAttributeValues={":pk": {"S": f"PROFILE#{profile_id}"}, ":offer": {"S": f"COUPON#{offer}#"}},
    )["Items"]  # fmt: skip
    return [{name: next(iter(value.values())) for name, value in item.items()} for item in items]


def test_welcome_messages_carry_the_code_the_coupon_step_issued_once_though_its_task_was_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with LocalStack() as stack:
        # Given: the coupon function's first answer is lost after it issued (its task is retried)
        _fail_once_after_acting(stack, monkeypatch, "IssueCouponFunction")
        # When: two customers sign up now, consenting to email and SMS, and their welcome journeys run
        now = datetime.now(UTC).isoformat(timespec="seconds")
        lines = ["customer_id,email,phone,first_name,country,signup_at,email_consent,sms_consent"]
        lines += [f"N{n},n{n}@example.com,+44770090012{n},Ann,GB,{now},true,true" for n in (1, 2)]
        drop(stack, "customers/new.csv", ("\n".join(lines) + "\n").encode())
        stack.wait_for_executions(timeout=60)
        # Then: both runs succeeded; each person holds exactly one welcome code, unique, issued by the journey
        executions = stack.executions("WelcomeJourneyStateMachine")
        assert [execution["status"] for execution in executions] == ["SUCCEEDED", "SUCCEEDED"]
        codes = {}
        for n in (1, 2):
            [issuance] = _issuances(stack, profile_of(stack, f"N{n}")["profile_id"], "welcome10")
            assert issuance["occasion"].startswith("journey:welcome-") and issuance["occasion"].endswith(":welcome_coupon")
            codes[n] = issuance["code"]
        assert len(set(codes.values())) == 2 and all(code.startswith("WELCOME-") for code in codes.values())
        assert CouponStore(stack.physical_id("ProfilesTable")).offer_totals()["welcome10"]["issued"] == 2
        # Then: the retried coupon task ran twice in one run, and answered the same code the second time
        assert sorted(_coupon_task_runs(stack, e["executionArn"]) for e in executions) == [1, 2]
        # Then: the welcome email and the SMS nudge carry the person's own code
        emails = _email_texts(stack)
        sms = {number: text for number, text in sns_backends[ACCOUNT_ID][stack.region].sms_messages.values()}
        for n, code in codes.items():
            assert code in emails[f"n{n}@example.com"] and code in sms[f"+44770090012{n}"]


def _coupon_task_runs(stack: LocalStack, execution_arn: str) -> int:
    """How many times the run invoked the coupon function (a retried task counts again)."""
    history = stack.client("stepfunctions").get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    return sum(event["type"] == "TaskScheduled" and "occasion_key" in event["taskScheduledEventDetails"]["parameters"]
               for event in history)  # fmt: skip
