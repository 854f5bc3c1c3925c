"""Environment variables as pydantic models, parsed on first use (never at import) and cached."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from functools import cache
from typing import Annotated, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Json,
    NonNegativeInt,
    StringConstraints,
    ValidationError,
    field_validator,
)

from cdp.identifiers import COUNTRY_CALLING_CODES


def _with_calling_code(region: str) -> str:
    if region not in COUNTRY_CALLING_CODES:
        raise ValueError(f"{region!r} is no ISO 3166-1 alpha-2 region with a calling code")
    return region


PhoneRegion = Annotated[str, AfterValidator(_with_calling_code)]
"""The region national phone numbers are read in where a record names no country."""


class ConfigurationError(RuntimeError):
    """A required environment variable is missing or malformed."""


class TableSettings(BaseModel):
    """The two tables (all a read-only tool such as the rule preview needs)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    profiles_table: str = Field(alias="PROFILES_TABLE", min_length=1)
    ledger_table: str = Field(alias="LEDGER_TABLE", min_length=1)


class CoreSettings(TableSettings):
    """Resources every function needs."""

    event_bus_name: str = Field(alias="EVENT_BUS_NAME", min_length=1)
    journey_trigger_horizon_days: int = Field(alias="JOURNEY_TRIGGER_HORIZON_DAYS", ge=0)
    default_phone_region: PhoneRegion = Field(alias="DEFAULT_PHONE_REGION")
    erasure_salt_parameter: str = Field(alias="ERASURE_SALT_PARAMETER", min_length=1)  # an SSM SecureString's name

    @property
    def backfill_horizon(self) -> timedelta:
        """Activity older than this is history being loaded: it updates profiles but starts no journey."""
        return timedelta(days=self.journey_trigger_horizon_days)


class IngestSettings(CoreSettings):
    """The file-ingest functions' buckets, and when a file is too large for one function."""

    quarantine_bucket: str = Field(alias="QUARANTINE_BUCKET", min_length=1)
    curated_bucket: str = Field(alias="CURATED_BUCKET", min_length=1)
    large_file_threshold_bytes: int = Field(alias="LARGE_FILE_THRESHOLD_BYTES", gt=0)
    range_bytes: int = Field(alias="INGEST_RANGE_BYTES", gt=0)
    batch_bytes: int = Field(alias="INGEST_BATCH_BYTES", default=4 << 20, gt=0)  # about this much text per batch
    large_file_state_machine_arn: str = Field(alias="LARGE_FILE_STATE_MACHINE_ARN", default="")
    file_lease_seconds: int = Field(alias="FILE_LEASE_SECONDS", default=300, gt=0)
    large_file_lease_seconds: int = Field(alias="LARGE_FILE_LEASE_SECONDS", default=7200, gt=0)
    natural_key_retention_days: int = Field(alias="NATURAL_KEY_RETENTION_DAYS", default=400, ge=1)
    profile_batches_queue_url: str = Field(alias="PROFILE_BATCHES_QUEUE_URL", min_length=1)

    @property
    def natural_key_retention(self) -> timedelta:
        """How long an accepted natural key is remembered for cross-file dedupe (the ledger item's TTL)."""
        return timedelta(days=self.natural_key_retention_days)


class ErasureBuckets(CoreSettings):
    """The buckets the asynchronous S3 part of erasure rewrites."""

    raw_bucket: str = Field(alias="RAW_BUCKET", min_length=1)
    curated_bucket: str = Field(alias="CURATED_BUCKET", min_length=1)
    quarantine_bucket: str = Field(alias="QUARANTINE_BUCKET", min_length=1)
    exports_bucket: str = Field(alias="PRIVACY_EXPORTS_BUCKET", min_length=1)


class CapSetting(BaseModel):
    """At most `limit` marketing messages per person on a channel in any `window_hours`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    limit: int = Field(ge=1)
    window_hours: float = Field(gt=0)


def _clock_window(text: str) -> str:
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", text):
        raise ValueError(f"{text!r} is no HH:MM-HH:MM window")
    return text


class SendingSettings(CoreSettings):
    """The sending service: sender, feedback configuration set, curated `messages` stream and the deployment's
    rules (frequency caps per channel as JSON, quiet hours as HH:MM-HH:MM local time, the shop's time zone)."""

    sender_email: str = Field(alias="SENDER_EMAIL", min_length=3)
    unsubscribe_base_url: str = Field(alias="UNSUBSCRIBE_BASE_URL", min_length=8)
    configuration_set: str = Field(alias="SES_CONFIGURATION_SET", min_length=1)
    messages_stream: str = Field(alias="CURATED_MESSAGES_STREAM", min_length=1)
    frequency_caps: Json[dict[Literal["email", "sms", "push", "webhook"], CapSetting]] = Field(alias="FREQUENCY_CAPS")
    quiet_hours: Annotated[str, AfterValidator(_clock_window)] = Field(alias="QUIET_HOURS")
    shop_timezone: str = Field(alias="SHOP_TIMEZONE", min_length=1)
    claim_lease_seconds: int = Field(alias="CLAIM_LEASE_SECONDS", default=900, ge=60)
    webhook_url: str = Field(alias="WEBHOOK_URL", default="")
    webhook_secret_parameter: str = Field(alias="WEBHOOK_SECRET_PARAMETER", default="")

    @field_validator("shop_timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"{name!r} is no IANA time zone") from error
        return name


class UnsubscribeSettings(CoreSettings):
    """Where unsubscribe links point, the SSM parameter of their signing keys, and how long a link works."""

    unsubscribe_base_url: str = Field(alias="UNSUBSCRIBE_BASE_URL", min_length=8)
    unsubscribe_keys_parameter: str = Field(alias="UNSUBSCRIBE_KEYS_PARAMETER", min_length=1)
    unsubscribe_link_days: int = Field(alias="UNSUBSCRIBE_LINK_DAYS", ge=1, le=3650)


class FeedbackSettings(CoreSettings):
    """The curated delivery stream of `messages` rows (feedback events)."""

    curated_messages_stream: str = Field(alias="CURATED_MESSAGES_STREAM", min_length=1)


class JourneySettings(CoreSettings):
    """The journey router: where the journeys' state machines are, and this deployment's wait overrides
    (`{"<journey>.<step>": seconds}`, shorter waits for a test deployment)."""

    state_machine_arn_prefix: str = Field(alias="JOURNEY_STATE_MACHINE_ARN_PREFIX", pattern=r"^arn:[^:]+:states:.*:stateMachine:")
    messages_stream: str = Field(alias="CURATED_MESSAGES_STREAM", min_length=1)
    wait_seconds: Json[dict[Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+\.[a-z0-9_]+$")], NonNegativeInt]] = Field(
        alias="JOURNEY_WAIT_SECONDS", default_factory=dict
    )


class CuratedSettings(CoreSettings):
    """Where the curated zone is, for scheduled functions reading it."""

    curated_bucket: str = Field(alias="CURATED_BUCKET", min_length=1)


SettingsT = TypeVar("SettingsT", bound=TableSettings)


@cache
def load_settings(model: type[SettingsT]) -> SettingsT:
    """Parse `model` from the environment once; a missing variable fails loudly with its name."""
    try:
        return model.model_validate(dict(os.environ))
    except ValidationError as error:
        names = ", ".join(str(detail["loc"][0]) for detail in error.errors())
        raise ConfigurationError(f"invalid or missing environment variables: {names}") from error


class SegmentSnapshotSettings(CoreSettings):
    """Where the segment runs keep their membership snapshots (the curated bucket), for the audience export."""

    curated_bucket: str = Field(alias="CURATED_BUCKET", min_length=1)


class AudienceExportSettings(SegmentSnapshotSettings):
    """The audience export: the largest answer sent inline, and where a larger one is stored and for how long its
    pre-signed link works."""

    exports_bucket: str = Field(alias="PRIVACY_EXPORTS_BUCKET", min_length=1)
    inline_limit_bytes: int = Field(alias="AUDIENCE_INLINE_LIMIT_BYTES", gt=0, le=5_000_000)
    link_seconds: int = Field(alias="AUDIENCE_LINK_SECONDS", ge=60, le=3600)

    @property
    def link_lifetime(self) -> timedelta:
        return timedelta(seconds=self.link_seconds)


class SegmentSettings(SegmentSnapshotSettings):
    """The segment run's prediction function (empty: no predictions) and how it reads and announces."""

    predictions_function: str = Field(alias="PREDICTIONS_FUNCTION_NAME", default="")
    scan_segments: int = Field(alias="SEGMENT_SCAN_SEGMENTS", default=4, ge=1, le=1000)
    announce_after_seconds: int = Field(alias="SEGMENT_ANNOUNCE_AFTER_SECONDS", default=900, ge=0)


class ReportSettings(CoreSettings):
    """Where the marketing reports are read from and written to (the curated bucket, under `reports/`)."""

    curated_bucket: str = Field(alias="CURATED_BUCKET", min_length=1)


class CampaignApiSettings(CoreSettings):
    """The campaign API: where schedules go and what they start; the shop's time zone; the snapshot's bucket."""

    curated_bucket: str = Field(alias="CURATED_BUCKET", min_length=1)
    shop_time_zone: str = Field(alias="SHOP_TIMEZONE", min_length=1)
    schedule_group: str = Field(alias="CAMPAIGN_SCHEDULE_GROUP", min_length=1)
    start_function_arn: str = Field(alias="START_CAMPAIGN_RUN_FUNCTION_ARN", min_length=1)
    scheduler_role_arn: str = Field(alias="CAMPAIGN_SCHEDULER_ROLE_ARN", min_length=1)
    schedule_dead_letter_arn: str = Field(alias="CAMPAIGN_SCHEDULE_DEAD_LETTER_ARN", min_length=1)


class CampaignStartSettings(CoreSettings):
    """The campaign start: the membership snapshot's bucket and the send queue."""

    curated_bucket: str = Field(alias="CURATED_BUCKET", min_length=1)
    sends_queue_url: str = Field(alias="CAMPAIGN_SENDS_QUEUE_URL", min_length=1)
    messages_stream: str = Field(alias="CURATED_MESSAGES_STREAM", min_length=1)


class CampaignWorkerSettings(CoreSettings):
    """The campaign worker: its queue (paused messages go back to it) and how long a paused message is held."""

    sends_queue_url: str = Field(alias="CAMPAIGN_SENDS_QUEUE_URL", min_length=1)
    hold_seconds: int = Field(alias="CAMPAIGN_HOLD_SECONDS", ge=1, le=900)
    state_max_age_seconds: int = Field(alias="CAMPAIGN_STATE_MAX_AGE_SECONDS", ge=0, le=60)


class SegmentShardingSettings(SegmentSettings):
    """When the scheduled segment run is sharded (that many live profiles or more; 0: every run) and into how many
    shards, and the state machine that runs the shards (empty: never sharded)."""

    sharded_run_state_machine_arn: str = Field(alias="SEGMENT_SHARDED_RUN_STATE_MACHINE_ARN", default="")
    shard_threshold_profiles: int = Field(alias="SEGMENT_SHARD_THRESHOLD_PROFILES", default=0, ge=0)
    shards: int = Field(alias="SEGMENT_SHARDS", default=4, ge=1, le=200)  # the plan travels in the execution input
