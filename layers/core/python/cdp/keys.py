"""Primary keys of every item the platform stores, in both tables.

ProfilesTable: `PROFILE#<id>` with sort keys `PROFILE` (the profile), `IDENTIFIER#<type>#<value>` (membership),
`EDGE#<at>#<edge id>` (identity edges), `CONSENT#...` (consent history), `MESSAGE#<request key>` (send records), `CAP#<channel>` (frequency-cap windows), `JOURNEY#<name>` (journey entry records); `IDENTITY#<type>#<value>` / `IDENTITY` (an identifier's owner); `SEGMENT#<name>` / `PROFILE#<id>`;
`ERASED` / `<digest>` (the erased register); `SUPPRESSED#<channel>#<address digest>` / `SUPPRESSED`;
`DEFERRED#<bucket>` / `<until>#<request key>#<profile id>` (deferred messages, in 8 buckets); `CAMPAIGNS` / `CAMPAIGN#<name>` (campaigns),
`CAMPAIGN#<name>` / `RUN#<id>` (their runs); `ERASURE#<id>` / `ERASURE`; `SOURCE#<digest of write key>` / `SOURCE`;
`TIMER#<minute>` / `<segment>#<profile id>` (live segment timers), `TIMERS` / `SWEPT`, `SEGMENTS#RFM` / `CUT_POINTS`.
LedgerTable: `RECORD#<entity>#<natural key>` / `RECORD`, `FILE#<bucket>/<key>` / `VERSION#<version>`,
`MESSAGEID#<source>#<id>` / `MESSAGEID`, `NATURALKEY#<entity>#<key>` / `NATURALKEY`.
"""

from __future__ import annotations

import hashlib

from cdp.canonical import Identifier

PROFILE_PREFIX = "PROFILE#"
PROFILE_SK = "PROFILE"
IDENTITY_SK = "IDENTITY"
MEMBER_PREFIX = "IDENTIFIER#"
EDGE_PREFIX = "EDGE#"
CONSENT_PREFIX = "CONSENT#"
RECORD_PREFIX = "RECORD#"
RECORD_SK = "RECORD"
ERASED_PARTITION = "ERASED"
BY_PROFILE_INDEX = "ByProfile"  # LedgerTable's index of records by their profile_id
BY_PROVIDER_MESSAGE_INDEX = "ByProviderMessage"  # ProfilesTable's index of send records by provider_message_id
Key = dict[str, str]


def identifier_text(identifier: Identifier) -> str:
    """`<type>#<value>`, as memberships, edges and ledger records name an identifier."""
    return f"{identifier[0]}#{identifier[1]}"


def parse_identifier(text: str) -> Identifier:
    identifier_type, _, value = text.partition("#")
    return (identifier_type, value)


def count_attribute(identifier_type: str) -> str:
    """The profile item's count of identifiers of a type (kept by binds and merges, checked against the limits)."""
    return f"identifier_count_{identifier_type}"


def profile_pk(profile_id: str) -> str:
    return f"{PROFILE_PREFIX}{profile_id}"


def profile_id_of(pk: str) -> str:
    return pk.removeprefix(PROFILE_PREFIX)


def profile_key(profile_id: str) -> Key:
    return {"pk": profile_pk(profile_id), "sk": PROFILE_SK}


def identity_key(identifier: Identifier) -> Key:
    return {"pk": f"IDENTITY#{identifier_text(identifier)}", "sk": IDENTITY_SK}


def identifier_of_identity_pk(pk: str) -> Identifier:
    """The identifier an `IDENTITY#<type>#<value>` key names."""
    return parse_identifier(pk.removeprefix("IDENTITY#"))


def member_key(profile_id: str, identifier: Identifier) -> Key:
    return {"pk": profile_pk(profile_id), "sk": f"{MEMBER_PREFIX}{identifier_text(identifier)}"}


def edge_key(profile_id: str, at: str, edge_id: str) -> Key:
    return {"pk": profile_pk(profile_id), "sk": f"{EDGE_PREFIX}{at}#{edge_id}"}


def consent_statement_key(profile_id: str, recorded_at: str, consent_key: str, content: str) -> Key:
    """A consent history item: put once, never changed; `content` (granted and source) tells statements apart."""
    digest = hashlib.sha256(content.encode()).hexdigest()[:16]
    return {"pk": profile_pk(profile_id), "sk": f"{CONSENT_PREFIX}{recorded_at}#{consent_key}#{digest}"}


def record_key(record_pk: str) -> Key:
    return {"pk": record_pk, "sk": RECORD_SK}


def erased_key(digest: str) -> Key:
    return {"pk": ERASED_PARTITION, "sk": digest}


def erasure_key(erasure_id: str) -> Key:
    return {"pk": f"ERASURE#{erasure_id}", "sk": "ERASURE"}


def message_id_key(source_id: str, message_id: str) -> Key:
    return {"pk": f"MESSAGEID#{source_id}#{message_id}", "sk": "MESSAGEID"}


def file_key(bucket: str, key: str, version: str) -> Key:
    return {"pk": f"FILE#{bucket}/{key}", "sk": f"VERSION#{version}"}


def segment_member_key(segment: str, profile_id: str) -> Key:
    return {"pk": f"SEGMENT#{segment}", "sk": profile_pk(profile_id)}


MESSAGE_PREFIX = "MESSAGE#"
DEFERRED_PREFIX = "DEFERRED#"
DEFERRED_BUCKETS = 8  # deferred messages spread over this many partitions, so no one partition takes every write


def message_record_key(profile_id: str, request_key: str) -> Key:
    """The send record of one message request (`MessageRequest.key()`) to one profile."""
    return {"pk": profile_pk(profile_id), "sk": f"{MESSAGE_PREFIX}{request_key}"}


def cap_window_key(profile_id: str, channel: str) -> Key:
    """The profile's frequency-cap window for one channel: the marketing sends counted against the cap."""
    return {"pk": profile_pk(profile_id), "sk": f"CAP#{channel}"}


CHANNEL_OF_IDENTIFIER = {"email": "email", "phone": "sms"}  # identity identifiers that are a channel's address


def address_digest(normalised: str) -> str:
    """What the suppression list keeps of an address: the sha256 of its normalised text."""
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


def suppression_key(channel: str, address_digest: str) -> Key:
    """A suppressed address: the sha256 of the normalised address, never the address itself."""
    return {"pk": f"SUPPRESSED#{channel}#{address_digest}", "sk": "SUPPRESSED"}


def identifier_suppression_key(identifier: Identifier) -> Key | None:
    """The suppression item of an identifier that is a channel's address (email, phone), or None."""
    channel = CHANNEL_OF_IDENTIFIER.get(identifier[0])
    return suppression_key(channel, address_digest(identifier[1])) if channel else None


def deferred_pk(bucket: int) -> str:
    return f"{DEFERRED_PREFIX}{bucket}"


def deferred_message_key(until: str, profile_id: str, request_key: str) -> Key:
    """A deferred message to one person, in the bucket its person and request key hash to, ordered there by when it
    is due (ISO UTC time). A campaign's messages share their request key, so the person is part of both."""
    message = f"{request_key}#{profile_id}"
    bucket = int.from_bytes(hashlib.sha256(message.encode("utf-8")).digest()[:4], "big") % DEFERRED_BUCKETS
    return {"pk": deferred_pk(bucket), "sk": f"{until}#{message}"}


def source_key(write_key: str) -> Key:
    """Sources are stored under a hash of their write key, never the key itself."""
    digest = hashlib.sha256(write_key.encode("utf-8")).hexdigest()
    return {"pk": f"SOURCE#{digest}", "sk": "SOURCE"}


def natural_key_pk(entity: str, natural_key: str) -> str:
    return f"NATURALKEY#{entity}#{natural_key}"


def natural_key_file_pk(file_id: str) -> str:
    return f"NATURALKEYFILE#{file_id}"


def shop_pk(shop: str) -> str:
    """A Shopify shop's data-request records (`SHOP#<shop>` / `DATAREQUEST#<id>`)."""
    return f"SHOP#{shop}"


def timer_key(minute: str, segment: str, profile_id: str) -> Key:
    """A live segment's timer: re-check `segment` for the profile at `minute` (`YYYY-MM-DDTHH:MM`, UTC)."""
    return {"pk": f"TIMER#{minute}", "sk": f"{segment}#{profile_id}"}


def timer_pk(minute: str) -> str:
    return f"TIMER#{minute}"


TIMERS_SWEPT_KEY: Key = {"pk": "TIMERS", "sk": "SWEPT"}  # the last minute bucket every sweep has finished
RFM_CUT_POINTS_KEY: Key = {"pk": "SEGMENTS#RFM", "sk": "CUT_POINTS"}  # the last segment run's quintile cut points
def journey_entry_key(profile_id: str, journey: str) -> Key:
    """The profile's entry record of a journey: its active run and when it entered (`JOURNEY#<name>`)."""
    return {"pk": profile_pk(profile_id), "sk": f"JOURNEY#{journey}"}


CAMPAIGNS_PARTITION = "CAMPAIGNS"
CAMPAIGN_PREFIX = "CAMPAIGN#"


def campaign_key(name: str) -> Key:
    """A campaign's definition and state (ProfilesTable): every campaign in one partition, listed by a Query in name
    order (campaigns are few and rarely written)."""
    return {"pk": CAMPAIGNS_PARTITION, "sk": f"{CAMPAIGN_PREFIX}{name}"}


def campaign_run_key(name: str, run_id: str) -> Key:
    """One run of a campaign: its plan (snapshot, audience, split) and outcome counters (ProfilesTable)."""
    return {"pk": f"CAMPAIGN#{name}", "sk": f"RUN#{run_id}"}


def campaign_chunk_key(name: str, run_id: str, chunk: int) -> Key:
    """A run's marker that one chunk of its audience was enqueued (LedgerTable, expiring)."""
    return {"pk": f"CAMPAIGNRUN#{name}#{run_id}", "sk": f"CHUNK#{chunk:07d}"}


def campaign_rate_key(name: str, second: int) -> Key:
    """The sends a campaign's workers took in one epoch second (LedgerTable, expiring)."""
    return {"pk": f"CAMPAIGNRATE#{name}", "sk": f"SECOND#{second}"}
