"""Coupons on the local stack: one code per person across merged accounts, idempotent occasions, the cap under
concurrent issuers, codes only for people their message can reach, clear refusals, and redemption from dropped order
files (once per code)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from cdp.adapters.coupon_store import CouponStore
from cdp.adapters.identity_store import IdentityStore
from cdp.adapters.privacy_store import PrivacyStore
from cdp.adapters.suppression_store import SuppressionStore
from cdp.coupons.issue import issue_coupon
from cdp.coupons.offers import load_offers, parse_offers
from cdp.identity.resolution import resolve_batch
from cdp.messaging.reach import CarrierReach
from cdp.messaging.suppression import Suppressions
from cdp_local.stack import LOCAL_ERASURE_SALT, LocalStack

NOW = datetime.now(UTC)


def _coupons(stack: LocalStack) -> CouponStore:
    return CouponStore(stack.physical_id("ProfilesTable"))


def _profiles(stack: LocalStack, *identifier_sets: list[tuple[str, str]]) -> list[str]:
    identity = IdentityStore(stack.physical_id("ProfilesTable"), stack.physical_id("LedgerTable"))
    resolved = resolve_batch(identity, list(identifier_sets), "test", NOW)
    return [profile_id for profile_id in resolved.profile_ids if profile_id]


def _issue(
    stack: LocalStack, offer: str, profile_id: str, occasion: str, carriers: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    request = {"offer": offer, "profile_id": profile_id, "occasion_key": occasion}
    return dict(stack.invoke("IssueCouponFunction", request | ({"carriers": carriers} if carriers else {})))


def _known(stack: LocalStack, profile_id: str, *consents: str, **addresses: str) -> None:
    """Put the person's addresses and explicit grants (`<channel>:<purpose>`) on their profile."""
    values = {"consent": {name: {"granted": True} for name in consents}, **addresses}
    PrivacyStore(stack.physical_id("ProfilesTable"), stack.physical_id("LedgerTable")).profiles.update_item(
        Key={"pk": f"PROFILE#{profile_id}", "sk": "PROFILE"},
        UpdateExpression="SET " + ", ".join(f"#{name} = :{name}" for name in values),
        ExpressionAttributeNames={f"#{name}": name for name in values},
        ExpressionAttributeValues={f":{name}": value for name, value in values.items()},
    )


def _reach(stack: LocalStack, *carriers: tuple[str, str]) -> CarrierReach:
    """The sending service's consent and suppression rules over the stack's tables, as the coupon step checks them."""
    privacy = PrivacyStore(stack.physical_id("ProfilesTable"), stack.physical_id("LedgerTable"))
    suppressions = Suppressions(SuppressionStore(stack.physical_id("ProfilesTable")), LOCAL_ERASURE_SALT, "GB")
    return CarrierReach(carriers, lambda pid: privacy.profile_consistently(pid, follow_redirects=True), suppressions, NOW)


ONE_CODE = parse_offers(
    json.dumps({"offers": [{"name": "one_code", "description": "a single pool code", "codes": {"pool": ["ONLY-ONE"]},
                            "total_cap": 1, "per_customer_limit": 1, "valid_from": "2026-01-01T00:00:00Z",
                            "valid_until": "2027-12-31T23:59:59Z", "code_valid_days": 7, "minimum_order": 0,
                            "discount": {"amount": 5}}]})  # fmt: skip
)


def test_a_code_is_spent_only_on_someone_its_message_can_reach(stack: LocalStack) -> None:
    # Given an offer of one code, Bea who never agreed to marketing email, Dan who agreed but unsubscribed, and Cal
    bea, dan, cal = _profiles(stack, [("email", "bea@example.com")], [("email", "dan@example.com")],
                              [("email", "cal@example.com")])  # fmt: skip
    _known(stack, bea, email="bea@example.com")
    _known(stack, dan, "email:marketing", email="dan@example.com")
    _known(stack, cal, "email:marketing", email="cal@example.com")
    Suppressions(SuppressionStore(stack.physical_id("ProfilesTable")), LOCAL_ERASURE_SALT, "GB").add(
        dan, "email", "dan@example.com", "unsubscribed", NOW
    )
    store, email = _coupons(stack), ("email", "marketing")

    def issue(person: str, occasion: str) -> Any:
        return issue_coupon("one_code", person, occasion, store, ONE_CODE, NOW, reach=_reach(stack, email))

    # When their journeys reach the coupon step in that order, and Cal's step is retried
    outcomes = [issue(bea, "journey:bea:gift"), issue(dan, "journey:dan:gift"), issue(cal, "journey:cal:gift")]
    retried = issue(cal, "journey:cal:gift")
    # Then Bea and Dan are refused with the sending service's reason, and the one code goes to Cal, once
    assert [(outcome.status, outcome.reason) for outcome in outcomes] == [
        ("refused", "unreachable:no_consent"), ("refused", "unreachable:suppressed:unsubscribed"), ("issued", "issued")]  # fmt: skip
    assert outcomes[2].code == "ONLY-ONE" and (retried.status, retried.code) == ("already_issued", "ONLY-ONE")
    assert store.offer_totals()["one_code"] == {
        "issued": 1, "refused_unreachable:no_consent": 1, "refused_unreachable:suppressed:unsubscribed": 1}  # fmt: skip
    # And Bea's limit was not used: once she agrees, only the spent cap stops her
    _known(stack, bea, "email:marketing", email="bea@example.com")
    assert issue(bea, "journey:bea:gift-again").reason == "cap_reached"


def test_the_coupon_step_checks_each_carrying_channel(stack: LocalStack) -> None:
    # Given Eve, who agreed to marketing SMS only and has no phone number, and Fay, who agreed to SMS and has one
    eve, fay = _profiles(stack, [("email", "eve@example.com")], [("phone", "+447700900077")])
    _known(stack, eve, "sms:marketing", email="eve@example.com")
    _known(stack, fay, "sms:marketing", phone="+447700900077")
    carriers = [{"channel": "email", "purpose": "marketing"}, {"channel": "sms", "purpose": "marketing"}]
    # When the journey step asks for codes its email or SMS will carry
    answers = [_issue(stack, "winback15", person, f"journey:{person}:winback", carriers) for person in (eve, fay)]
    # Then Eve cannot be reached by either (the email's reason is reported) and Fay gets her code by SMS
    assert [(answer["status"], answer["reason"]) for answer in answers] == [
        ("refused", "unreachable:no_consent"), ("issued", "issued")]  # fmt: skip


def test_many_accounts_of_one_person_get_one_code(stack: LocalStack) -> None:
    # Given three sign-ups of one person: an email, a phone, a device, each its own profile
    email, phone, device = _profiles(stack, [("email", "wool@example.com")], [("phone", "+447700900001")],
                                     [("anonymous_id", "device-1")])  # fmt: skip
    # When the email account is issued the welcome code, then the identity graph links all three accounts
    first = _issue(stack, "welcome10", email, "journey:welcome:run-1")
    _profiles(stack, [("email", "wool@example.com"), ("phone", "+447700900001"), ("anonymous_id", "device-1")])
    # Then every account of the person is refused another code, and a retried occasion gets the same code
    assert first["status"] == "issued" and first["code"].startswith("WELCOME-")
    for account, occasion in ((phone, "journey:welcome:run-2"), (device, "journey:welcome:run-3")):
        assert _issue(stack, "welcome10", account, occasion) | {"expires_at": None} == {
            "status": "refused", "reason": "customer_limit", "offer": "welcome10", "code": None, "expires_at": None}  # fmt: skip
    again = _issue(stack, "welcome10", device, "journey:welcome:run-1")
    assert (again["status"], again["code"]) == ("already_issued", first["code"])
    assert _coupons(stack).offer_totals()["welcome10"] == {"issued": 1, "refused_customer_limit": 2}


def test_codes_issued_before_a_merge_are_kept_and_only_one_redeems(stack: LocalStack) -> None:
    # Given two accounts of one person, each issued the welcome code before the graph linked them
    first_account, second_account = _profiles(stack, [("email", "twin@example.com")], [("phone", "+447700900002")])
    codes = [
        _issue(stack, "welcome10", account, f"signup:{account}")["code"] for account in (first_account, second_account)
    ]
    _profiles(stack, [("email", "twin@example.com"), ("phone", "+447700900002")])
    # When both codes are used on orders dropped as a file
    orders = ["order_id,line_id,email,ordered_at,currency,quantity,unit_price,status,coupon"]
    at = datetime.now(UTC).isoformat()
    orders += [f"T-{n},1,twin@example.com,{at},GBP,1,30.00,completed,{code.lower()}" for n, code in enumerate(codes)]
    stack.client("s3").put_object(Bucket=stack.physical_id("RawBucket"), Key="orders/twin.csv",
                                  Body=("\n".join(orders) + "\n").encode())  # fmt: skip
    stack.deliver_queued_messages()
    # Then the person keeps one redemption; the duplicate is refused for the person's limit
    totals = _coupons(stack).offer_totals()["welcome10"]
    assert (totals["issued"], totals["redeemed"], totals["refused_redemption:person_limit"]) == (2, 1, 1)
    assert _issue(stack, "welcome10", second_account, "later")["reason"] == "customer_limit"


def test_the_cap_is_never_passed_by_concurrent_issuers(stack: LocalStack) -> None:
    # Given twelve people and an offer of five pool codes
    people = _profiles(stack, *[[("email", f"vip{n}@example.com")] for n in range(12)])
    offer = load_offers().get("vip_gift")
    assert offer is not None and offer.cap == 5
    store = _coupons(stack)
    # When all of them ask at once
    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(lambda person: issue_coupon("vip_gift", person, "gift:2026", store, load_offers(), NOW),
                                 people))  # fmt: skip
    # Then exactly five got a code, each a different pool code, and seven were told the cap was reached
    issued = sorted(outcome.code or "" for outcome in outcomes if outcome.status == "issued")
    assert issued == sorted(offer.codes.pool or [])
    assert [outcome.reason for outcome in outcomes if outcome.status == "refused"] == ["cap_reached"] * 7
    assert store.offer_totals()["vip_gift"] == {"issued": 5, "refused_cap_reached": 7}


def test_redemption_from_orders_once_per_code_with_reasons(stack: LocalStack) -> None:
    # Given two customers, each issued a win-back code (minimum order 50)
    keen, thrifty = _profiles(stack, [("customer_id", "C-KEEN")], [("customer_id", "C-THRIFTY")])
    keen_code = _issue(stack, "winback15", keen, "campaign:winback:1")["code"]
    thrifty_code = _issue(stack, "winback15", thrifty, "campaign:winback:1")["code"]
    at = datetime.now(UTC).isoformat()
    orders = "\n".join([
        "order_id,line_id,customer_id,ordered_at,currency,quantity,unit_price,status,coupon",
        f"W-1,1,C-KEEN,{at},GBP,1,40.00,completed,{keen_code}",
        f"W-1,2,C-KEEN,{at},GBP,1,20.00,completed,{keen_code}",  # two lines: the order's total is 60
        f"W-2,1,C-KEEN,{at},GBP,1,90.00,completed,{keen_code}",  # the same code on another order
        f"W-3,1,C-THRIFTY,{at},GBP,1,30.00,completed,{thrifty_code}",  # below the minimum
        f"W-4,1,C-THRIFTY,{at},GBP,1,60.00,completed,NOSUCH-CODE",
    ]) + "\n"  # fmt: skip
    # When the file is dropped, then dropped again as a new version (a replay)
    for _ in range(2):
        stack.client("s3").put_object(Bucket=stack.physical_id("RawBucket"), Key="orders/winback.csv",
                                      Body=orders.encode())  # fmt: skip
        stack.deliver_queued_messages()
    # Then the keen customer's code redeemed once, by its first order; the others are refused with their reason
    totals = _coupons(stack).offer_totals()["winback15"]
    assert totals["issued"] == 2 and totals["redeemed"] == 1
    assert totals["refused_redemption:below_minimum"] >= 1 and totals["refused_redemption:already_redeemed"] >= 1
    stored = _coupons(stack).coupon(keen_code)
    assert stored is not None and stored.redeemed_order == "W-1"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"offer": "no_such_offer", "profile_id": "p", "occasion_key": "x"}, "unknown_offer"),
        ({"offer": "welcome10", "profile_id": "nobody", "occasion_key": "x"}, "profile_not_found"),
        ({"offer": "welcome10", "profile_id": "p", "occasion_key": "bad key with spaces"}, "invalid_request"),
        ({"offer": "welcome10", "profile_id": "p", "occasion_key": "x", "extra": 1}, "invalid_request"),
        ({"offer": "welcome10", "profile_id": "p", "occasion_key": "x", "carriers": [{"channel": "fax"}]}, "invalid_request"),
        ({"offer": "welcome10", "profile_id": "p", "occasion_key": "x", "carriers": [{"channel": "sms"}] * 9}, "invalid_request"),
        ({"offer": "WELCOME10; DROP", "profile_id": "p" * 500, "occasion_key": "x" * 5000}, "invalid_request"),
        ("not an object", "invalid_request"),
    ],
)
def test_bad_requests_are_refused_with_a_reason(stack: LocalStack, payload: Any, reason: str) -> None:
    # Given / When a journey step sends a bad or unanswerable request / Then it is refused, nothing issued
    answer = stack.invoke("IssueCouponFunction", payload)
    assert (answer["status"], answer["reason"]) == ("refused", reason)
