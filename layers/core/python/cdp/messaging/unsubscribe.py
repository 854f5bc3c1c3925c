"""One-click unsubscribe (RFC 8058) and the preference page: signed, expiring links, and what they change.

A link is `<base url>?token=<payload>.<signature>`: the payload (base64url) names the profile, channel, purpose and
expiry (`<profile id>|<channel>|<purpose>|<unix seconds>`), the signature is HMAC-SHA256 of the encoded payload
under the newest signing key. Keys rotate without breaking recent links: a token verifies under any key still
listed (newest first), so a retired key is dropped from the list only once the links it signed have expired. The
token holds no address, and it is compared in constant time.

What a link does is a consent statement through the consent path (`cdp.records.consents`), so consent alone stops
the next send, plus a suppression entry for the profile's current address (`unsubscribed`, marketing only). A
one-click POST is taken once: the same token posted again answers 409 and changes nothing (the register of used
tokens is the tracking API's replay register, remembered until the token expires). Every refusal is a 4xx:
malformed 400, forged 403, unknown or erased profile 404, replayed 409, expired 410.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from itertools import islice
from typing import Any, Protocol
from urllib.parse import urlencode

from cdp.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from cdp.identifiers import normalise_phone
from cdp.messaging.suppression import SMS_OPT_OUT, UNSUBSCRIBED, Suppressions
from cdp.privacy.consent import CHANNELS, PURPOSES, consent_granted, newest_per_key
from cdp.privacy.erasure import live_profiles_holding
from cdp.privacy.ports import ConsentChange, ConsentStore, LiveProfiles
from cdp.privacy.requests import ID_PATTERN, ConsentRequest
from cdp.records.consents import record_consent_request
from cdp.records.ports import RecordPrivacy
from cdp.tracking.ports import Register

MIN_KEY_BYTES = 32
MAX_TOKEN_CHARS = 400
TOKEN = re.compile(r"^([A-Za-z0-9_-]{8,300})\.([A-Za-z0-9_-]{43})$")  # payload . 32-byte signature, base64url
EXPIRY = re.compile(r"^[0-9]{1,11}$")  # unix seconds
USED_TOKENS_SOURCE = "unsubscribe"  # the replay register's source name for one-click tokens
PREFERENCE_PURPOSES = ("marketing",)  # what the page offers per channel (transactional mail is not opt-in)
ADDRESS_OF_CHANNEL = {"email": "email", "sms": "phone"}
ONE_CLICK_SOURCE = "one_click_unsubscribe"
PREFERENCES_SOURCE = "preference_page"
SMS_STOP_SOURCE = "sms_stop"
OPT_OUT_BATCH = 100  # numbers looked up per BatchGetItem


class LinkExpired(DomainError):
    status = HTTPStatus.GONE


class ConfigurationProblem(RuntimeError):
    """The signing keys are missing or too short."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def checked_keys(keys: list[bytes]) -> list[bytes]:
    """The signing keys, newest first; refused when there is none or one is shorter than 32 bytes."""
    if not keys or any(len(key) < MIN_KEY_BYTES for key in keys):
        raise ConfigurationProblem(f"unsubscribe signing keys: give at least one, each of {MIN_KEY_BYTES}+ bytes")
    return keys


@dataclass(frozen=True)
class UnsubscribeToken:
    profile_id: str
    channel: str
    purpose: str
    expires_at: datetime

    def payload(self) -> str:
        fields = (self.profile_id, self.channel, self.purpose, str(int(self.expires_at.timestamp())))
        return _b64("|".join(fields).encode("ascii"))

    def signed(self, key: bytes) -> str:
        payload = self.payload()
        return f"{payload}.{_b64(hmac.new(key, payload.encode('ascii'), hashlib.sha256).digest())}"


def _parsed_payload(payload: str) -> UnsubscribeToken:
    try:
        fields = _unb64(payload).decode("ascii").split("|")
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise Invalid("malformed unsubscribe token") from error
    if len(fields) != 4:
        raise Invalid("malformed unsubscribe token")
    profile_id, channel, purpose, expiry = fields
    if not (ID_PATTERN.match(profile_id) and channel in CHANNELS and purpose in PURPOSES and EXPIRY.match(expiry)):
        raise Invalid("malformed unsubscribe token")
    return UnsubscribeToken(profile_id, channel, purpose, datetime.fromtimestamp(int(expiry), UTC))


def verified_token(text: object, keys: list[bytes], now: datetime) -> UnsubscribeToken:
    """The token's content once its signature matches one of `keys` and it has not expired; else a 4xx error."""
    if not isinstance(text, str) or len(text) > MAX_TOKEN_CHARS or not (match := TOKEN.match(text)):
        raise Invalid("malformed unsubscribe token")
    payload, signature = match[1], _unb64(match[2])
    token = _parsed_payload(payload)
    expected = (hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest() for key in keys)
    if not any(hmac.compare_digest(signature, digest) for digest in expected):
        raise Forbidden("this unsubscribe link is not valid")
    if token.expires_at <= now:
        raise LinkExpired("this unsubscribe link has expired; use the link in a more recent message")
    return token


@dataclass(frozen=True)
class SignedLinks:
    """The `UnsubscribeLinks` port: links under `base_url`, signed with the newest key, valid for `validity`."""

    base_url: str
    keys: Callable[[], list[bytes]]
    validity: timedelta
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def link(self, profile_id: str, channel: str, purpose: str = "marketing") -> str:
        token = UnsubscribeToken(profile_id, channel, purpose, self.clock() + self.validity)
        return f"{self.base_url}?{urlencode({'token': token.signed(checked_keys(self.keys())[0])})}"


@dataclass(frozen=True)
class UnsubscribeParts:
    """What the unsubscribe routes use: consent writes, the profile (redirects followed), the suppression list,
    the used-token register and the signing keys."""

    privacy: RecordPrivacy
    read_profile: Callable[[str], dict[str, Any] | None]
    suppressions: Suppressions
    used_tokens: Register
    keys: Callable[[], list[bytes]]
    salt: str


@dataclass(frozen=True)
class Preferences:
    """What the page shows: the profile's current choice per `channel:purpose` offered."""

    token: UnsubscribeToken
    choices: dict[str, bool]


def _live_profile(parts: UnsubscribeParts, token: UnsubscribeToken) -> dict[str, Any]:
    profile = parts.read_profile(token.profile_id)
    if profile is None:
        raise NotFound("no such profile: it may have been erased")
    return profile


def _record(
    parts: UnsubscribeParts, profile: dict[str, Any], channel: str, purpose: str, granted: bool, source: str, now: datetime
) -> None:
    request = ConsentRequest.model_validate(
        {"profile_id": profile["profile_id"], "channel": channel, "purpose": purpose, "granted": granted,
         "recorded_at": now, "source": source}
    )
    record_consent_request(parts.privacy, request, parts.salt, now)
    address = profile.get(ADDRESS_OF_CHANNEL.get(channel, ""))
    if purpose != "marketing" or not isinstance(address, str):
        return
    if granted:
        parts.suppressions.lift(channel, address, UNSUBSCRIBED)
    else:
        parts.suppressions.add(profile["profile_id"], channel, address, UNSUBSCRIBED, now)


def preferences(parts: UnsubscribeParts, token_text: object, now: datetime) -> Preferences:
    """GET /v1/unsubscribe: the profile's current marketing choice per channel."""
    token = verified_token(token_text, parts.keys(), now)
    consent = _live_profile(parts, token).get("consent")
    choices = {f"{c}:{p}": consent_granted(consent, c, p) for c in CHANNELS for p in PREFERENCE_PURPOSES}
    return Preferences(token, choices)


def unsubscribe_one_click(parts: UnsubscribeParts, token_text: object, now: datetime) -> UnsubscribeToken:
    """POST /v1/unsubscribe with `List-Unsubscribe=One-Click`: withdraw the token's channel and purpose, once."""
    token = verified_token(token_text, parts.keys(), now)
    digest = hashlib.sha256(str(token_text).encode("ascii")).hexdigest()
    if parts.used_tokens.seen(USED_TOKENS_SOURCE, [digest], now):
        raise Conflict("this unsubscribe link was already used: you are unsubscribed")
    _record(parts, _live_profile(parts, token), token.channel, token.purpose, False, ONE_CLICK_SOURCE, now)
    parts.used_tokens.remember(USED_TOKENS_SOURCE, [digest], now, token.expires_at - now)
    return token


def save_preferences(parts: UnsubscribeParts, token_text: object, chosen: Mapping[str, bool], now: datetime) -> Preferences:
    """POST /v1/unsubscribe from the page: every offered `channel:purpose` set as chosen (unticked is withdrawn);
    only changes become statements."""
    current = preferences(parts, token_text, now)
    unknown = set(chosen) - set(current.choices)
    if unknown:
        raise Invalid("unknown preference", [{"field": "consent", "message": "not offered on this page"}])
    profile = _live_profile(parts, current.token)
    wanted = {key: bool(chosen.get(key, False)) for key in current.choices}
    for key, granted in wanted.items():
        if granted != current.choices[key]:
            channel, purpose = key.split(":")
            _record(parts, profile, channel, purpose, granted, PREFERENCES_SOURCE, now)
    return Preferences(current.token, wanted)


class OptOutStore(LiveProfiles, ConsentStore, Protocol):
    """Who holds a phone number, and consent writes."""


@dataclass
class OptOutSync:
    """What one pass over the SMS opt-out list did."""

    numbers: int = 0
    new: int = 0
    profiles: int = 0
    not_numbers: int = 0


def _batches(items: Iterable[str], size: int) -> Iterator[list[str]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def record_sms_opt_outs(
    numbers: Iterable[str], store: OptOutStore, suppressions: Suppressions, now: datetime
) -> OptOutSync:
    """Each number that replied STOP: an `sms:marketing` withdrawal for every live profile holding it, then the
    number suppressed (`sms_opt_out`). Numbers already suppressed for it are skipped (looked up 100 at a time), so
    running again (the list is read whole every time) records nothing twice; the suppression is written last, so a
    pass that failed between the two is completed by the next."""
    sync = OptOutSync()
    for listed in _batches(numbers, OPT_OUT_BATCH):
        sync.numbers += len(listed)
        normalised = [number for number in (normalise_phone(text) for text in listed) if number is not None]
        sync.not_numbers += len(listed) - len(normalised)
        done = suppressions.carrying("sms", normalised, SMS_OPT_OUT)
        for number in dict.fromkeys(normalised):
            if number in done:
                continue
            withdrawal = ConsentChange("sms", "marketing", False, now, SMS_STOP_SOURCE)
            for profile_id in live_profiles_holding(store, [("phone", number)]):
                store.record_consents(profile_id, [withdrawal], now, newest_per_key)
                sync.profiles += 1
            sync.new += suppressions.added("sms", number, SMS_OPT_OUT, now)
    return sync
