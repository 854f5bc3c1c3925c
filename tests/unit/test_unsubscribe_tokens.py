"""Unsubscribe links: signed, expiring tokens that survive key rotation, and hundreds of hostile tokens and forms
answered with a 4xx error, never anything else."""

from __future__ import annotations

import base64
import random
import string
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import pytest
from cdp.errors import DomainError, Forbidden, Invalid
from cdp.messaging.unsubscribe import (
    ConfigurationProblem,
    LinkExpired,
    SignedLinks,
    UnsubscribeToken,
    checked_keys,
    verified_token,
)
from cdp.messaging.unsubscribe_page import form_fields

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
OLD_KEY, NEW_KEY, OTHER_KEY = b"o" * 32, b"n" * 40, b"x" * 32


def _token(key: bytes = NEW_KEY, expires_at: datetime = NOW + timedelta(days=90), **fields: str) -> str:
    values = {"profile_id": "p-1", "channel": "email", "purpose": "marketing", **fields}
    return UnsubscribeToken(values["profile_id"], values["channel"], values["purpose"], expires_at).signed(key)


def test_a_link_names_profile_channel_purpose_and_expiry_and_verifies() -> None:
    # Given: links signed with the newest of two keys
    links = SignedLinks("https://shop.example/v1/unsubscribe", lambda: [NEW_KEY, OLD_KEY], timedelta(days=90), lambda: NOW)
    # When
    url = links.link("p-1", "sms")
    token = parse_qs(urlsplit(url).query)["token"][0]
    # Then
    assert url.startswith("https://shop.example/v1/unsubscribe?token=")
    assert verified_token(token, [NEW_KEY], NOW) == UnsubscribeToken("p-1", "sms", "marketing", NOW + timedelta(days=90))


def test_rotation_keeps_recent_links_working_until_their_key_is_dropped() -> None:
    # Given: a link signed before the rotation, with the key that is now the previous one
    before = _token(OLD_KEY)
    # Then: it verifies while its key is listed, after the new one; links signed now verify too
    assert verified_token(before, [NEW_KEY, OLD_KEY], NOW).profile_id == "p-1"
    assert verified_token(_token(NEW_KEY), [NEW_KEY, OLD_KEY], NOW).profile_id == "p-1"
    # When: the old key is dropped, its links stop working
    with pytest.raises(Forbidden):
        verified_token(before, [NEW_KEY], NOW)


def test_an_expired_link_is_gone() -> None:
    with pytest.raises(LinkExpired) as refused:
        verified_token(_token(expires_at=NOW - timedelta(seconds=1)), [NEW_KEY], NOW)
    assert refused.value.status == HTTPStatus.GONE


def test_a_forged_link_is_forbidden() -> None:
    forged = _token(OTHER_KEY)
    tampered_payload = UnsubscribeToken("p-2", "email", "marketing", NOW + timedelta(days=1)).payload()
    tampered = f"{tampered_payload}.{_token().split('.')[1]}"
    for token in (forged, tampered):
        with pytest.raises(Forbidden):
            verified_token(token, [NEW_KEY, OLD_KEY], NOW)


@pytest.mark.parametrize("keys", [[], [b"short"], [NEW_KEY, b""]])
def test_missing_or_short_keys_fail_loudly(keys: list[bytes]) -> None:
    with pytest.raises(ConfigurationProblem):
        checked_keys(keys)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode("utf-8", "surrogatepass")).rstrip(b"=").decode()


def _hostile_tokens(count: int) -> list[object]:
    rng = random.Random(8058)
    valid = _token()
    payload, signature = valid.split(".")
    alphabet = string.printable + "éü\u202e\x00\ud800"
    fixed: list[object] = [
        None, "", ".", "..", valid + ".", "." + valid, valid.replace(".", ""), valid * 20, payload, signature,
        f"{payload}.{signature[:-1]}", f"{payload}.{signature}=", f"{payload}=.{signature}", 42, ["x"], {"a": 1},
        f"{_b64('p-1|email|marketing')}.{signature}", f"{_b64('p-1|email|marketing|1|x')}.{signature}",
        f"{_b64('p 1|email|marketing|9999999999')}.{signature}", f"{_b64('p-1|fax|marketing|9999999999')}.{signature}",
        f"{_b64('p-1|email|spam|9999999999')}.{signature}", f"{_b64('p-1|email|marketing|-5')}.{signature}",
        f"{_b64('p-1|email|marketing|99999999999999999999')}.{signature}", f"{_b64('é|email|marketing|1')}.{signature}",
        f"{_b64('../../etc|email|marketing|1')}.{signature}",
    ]
    generated: list[object] = []
    for _ in range(count - len(fixed)):
        shape = rng.randrange(4)
        if shape == 0:
            generated.append("".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 120))))
        elif shape == 1:  # a valid-looking payload of random fields, with a random signature
            fields = "|".join("".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12))) for _ in range(rng.randrange(1, 6)))
            generated.append(f"{_b64(fields)}.{_b64(''.join(rng.choice(string.ascii_letters) for _ in range(32)))}")
        elif shape == 2:  # one character of the valid token flipped
            position = rng.randrange(len(valid))
            generated.append(valid[:position] + rng.choice(string.ascii_letters + "-_.") + valid[position + 1 :])
        else:  # the valid token cut short or padded
            generated.append(valid[: rng.randrange(len(valid))] + "".join(rng.choice("A-_") for _ in range(rng.randrange(3))))
    return fixed + generated


def test_hundreds_of_hostile_tokens_are_refused_with_a_4xx() -> None:
    # Given: 400 malformed, truncated, tampered and random tokens
    tokens = _hostile_tokens(400)
    statuses = []
    for token in tokens:
        if token == _token():
            continue  # a flip that drew the same character
        # When / Then: each is refused as a domain error with a 4xx status, never anything else
        with pytest.raises(DomainError) as refused:
            verified_token(token, [NEW_KEY, OLD_KEY], NOW)
        statuses.append(int(refused.value.status))
    assert len(statuses) >= 390
    assert all(400 <= status < 500 for status in statuses)
    assert {400, 403} <= set(statuses)


def test_hundreds_of_hostile_forms_are_refused_with_a_4xx_or_read() -> None:
    rng = random.Random(2369)
    bodies = [b"", b"List-Unsubscribe=One-Click", b"%", b"%zz", b"\xff\xfe", b"a=" + b"x" * 20000, b"&".join([b"a=1"] * 50)]
    bodies += [bytes(rng.randrange(256) for _ in range(rng.randrange(0, 200))) for _ in range(300)]
    content_types = ["application/x-www-form-urlencoded", "multipart/form-data; boundary=XX", "multipart/form-data",
                     "text/plain", "", "application/json", "multipart/form-data; boundary=\"\""]
    for body in bodies:
        for content_type in content_types:
            try:
                fields = form_fields(body, content_type)
            except (Invalid, DomainError) as error:
                assert 400 <= int(error.status) < 500
            else:
                assert isinstance(fields, dict)
                assert all(isinstance(values, list) for values in fields.values())
