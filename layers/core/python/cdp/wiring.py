"""The composition root: the one module that builds adapters from settings, for the handlers.

Each builder reads its settings on first use (never at import) and is cached for the container's life, so a warm
invocation reuses clients and tables. Handlers call one builder, pass what it returns to one use case, and map the
result; domain code never imports this module (it receives what is built here). Builders import heavy adapters
(pyarrow) inside themselves, so the HTTP and journey handlers stay light.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, time, timedelta
from functools import cache, partial
from typing import TYPE_CHECKING, Any

from cdp.adapters import event_bus, message_feedback, object_store
from cdp.adapters import privacy_store as privacy_store_module
from cdp.adapters.clients import reset_clients
from cdp.adapters.coupon_store import CouponStore
from cdp.adapters.curated_stream import CuratedStreams
from cdp.adapters.daily_models import DailyModelObjects
from cdp.adapters.event_ledger import MessageRegister
from cdp.adapters.identity_store import IdentityStore
from cdp.adapters.live_segment_store import LiveSegmentStore
from cdp.adapters.loyalty_store import LoyaltyStore
from cdp.adapters.privacy_store import PrivacyStore
from cdp.adapters.profile_store import ProfileStore
from cdp.adapters.recommendation_store import RecommendationStore
from cdp.adapters.shop_data import ShopData
from cdp.adapters.sources import ShopSecretStore, WriteKeyDirectory
from cdp.adapters.suppression_store import SuppressionStore
from cdp.events import DomainEvent
from cdp.ingest.ports import CuratedBatchPorts, IngestPorts
from cdp.journeys.router import RouterParts
from cdp.messaging.feedback import FeedbackParts
from cdp.messaging.ports import Channel, DeferredMessages, MessageEvents
from cdp.messaging.reach import CarrierReach
from cdp.messaging.service import SendingParts
from cdp.messaging.suppression import Suppressions
from cdp.messaging.unsubscribe import SignedLinks, UnsubscribeParts, checked_keys
from cdp.segments.definitions import load_library
from cdp.segments.realtime import LiveSegments
from cdp.settings import (
    AudienceExportSettings,
    CoreSettings,
    CuratedSettings,
    ErasureBuckets,
    FeedbackSettings,
    IngestSettings,
    JourneySettings,
    SegmentSettings,
    SegmentSnapshotSettings,
    SendingSettings,
    TableSettings,
    UnsubscribeSettings,
    load_settings,
)
from cdp.tracking.apply import TrackingPorts
from cdp.tracking.settings import TrackingSettings
from cdp.tracking.shopify_privacy import PrivacyPorts

if TYPE_CHECKING:
    from cdp.adapters.campaign_store import CampaignStore
    from cdp.adapters.report_store import S3ReportStore
    from cdp.adapters.segment_definitions import SegmentDefinitions
    from cdp.adapters.segment_shard_work import SegmentShardWork
    from cdp.adapters.segment_snapshots import SegmentSnapshots
    from cdp.campaigns.deliver import WorkerParts
    from cdp.campaigns.manage import ManageParts
    from cdp.campaigns.ports import Sending
    from cdp.campaigns.run import StartParts
    from cdp.measure.report import MeasurementParts
    from cdp.messaging.ports import MessageEvents
    from cdp.segments.compute import SegmentRunParts
    from cdp.segments.sharded import Sharding
    from cdp.settings import CampaignApiSettings


def core() -> CoreSettings:
    return load_settings(CoreSettings)


@cache
def identity_store() -> IdentityStore:
    return IdentityStore(core().profiles_table, core().ledger_table)


def identity_history() -> IdentityStore:
    """The identity store for the rule preview, which needs only the two tables' names."""
    tables = load_settings(TableSettings)
    return IdentityStore(tables.profiles_table, tables.ledger_table)


@cache
def privacy_store() -> PrivacyStore:
    return PrivacyStore(core().profiles_table, core().ledger_table)


@cache
def profile_store() -> ProfileStore:
    return ProfileStore(core().profiles_table, core().ledger_table)


def erasure_salt() -> str:
    """The erasure salt, read once per container from the SSM parameter the settings name."""
    return privacy_store_module.erasure_salt(core().erasure_salt_parameter)


def publisher() -> Callable[[Iterable[DomainEvent]], int]:
    """Publishes domain events to the platform's bus."""
    return partial(event_bus.publish, core().event_bus_name)


def daily_models(bucket: str) -> DailyModelObjects:
    """The fitted models kept per day in the bucket the segment runs work in."""
    return DailyModelObjects(bucket)


def objects() -> Any:
    """The object store (S3): the `cdp.adapters.object_store` module implements the object ports."""
    return object_store


@cache
def segment_run_parts() -> SegmentRunParts:
    """The segment run's collaborators (pyarrow: only the segment function builds them)."""
    from datetime import timedelta

    from cdp.adapters.curated_parquet import CuratedParquet
    from cdp.adapters.prediction_function import PredictionFunction
    from cdp.adapters.segment_definitions import SegmentDefinitions
    from cdp.adapters.segment_snapshots import SegmentSnapshots
    from cdp.adapters.segment_store import SegmentStore
    from cdp.segments.compute import SegmentRunParts

    settings = load_settings(SegmentSettings)
    return SegmentRunParts(
        store=SegmentStore(settings.profiles_table, settings.scan_segments),
        behaviour=CuratedParquet(settings.curated_bucket),
        definitions=SegmentDefinitions(settings.profiles_table),
        snapshots=SegmentSnapshots(settings.curated_bucket),
        publish=partial(event_bus.publish, settings.event_bus_name),
        library=load_library(),
        announce_after=timedelta(seconds=settings.announce_after_seconds),
        predictions=PredictionFunction(settings.predictions_function, settings.curated_bucket)
        if settings.predictions_function else None,
    )


@cache
def segment_definitions() -> SegmentDefinitions:
    """The stored segment definitions (light: the definitions API loads no pyarrow)."""
    from cdp.adapters.segment_definitions import SegmentDefinitions

    return SegmentDefinitions(core().profiles_table)


@cache
def segment_snapshots() -> SegmentSnapshots:
    """The segment runs' membership snapshots (pyarrow: read by the audience export, a batch-layer function)."""
    from cdp.adapters.segment_snapshots import SegmentSnapshots

    return SegmentSnapshots(load_settings(SegmentSnapshotSettings).curated_bucket)


def audience_export_settings() -> AudienceExportSettings:
    return load_settings(AudienceExportSettings)


@cache
def audience_export_files() -> Any:
    """The exports bucket, where an audience too large to answer inline is stored and linked."""
    from cdp.adapters.export_files import S3ExportFiles

    return S3ExportFiles(audience_export_settings().exports_bucket)


def identity_store_contacts() -> Any:
    """Profiles' contacts and consent for the audience export (cdp.segments.audience.Contacts)."""
    store = identity_store()

    class Contacts:
        def profiles(self, profile_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
            return store.get_profiles(profile_ids, ("profile_id", "email", "phone", "consent"))

    return Contacts()


@cache
def ingest_ports() -> IngestPorts:
    return ingest_ports_from(load_settings(IngestSettings))


def ingest_ports_from(settings: IngestSettings) -> IngestPorts:
    """The file-ingest collaborators for these settings (the local stack's tests pass a function's settings)."""
    from cdp.adapters.file_ledger import FileLedger
    from cdp.adapters.natural_key_ledger import NaturalKeyLedger
    from cdp.adapters.state_machines import start_execution
    from cdp.adapters.work_queue import send_json

    profiles = ProfileStore(settings.profiles_table, settings.ledger_table)
    return IngestPorts(
        objects=object_store,
        files=FileLedger(settings.ledger_table),
        natural_keys=lambda entity, owner, now: NaturalKeyLedger(
            settings.ledger_table, entity, owner, now, settings.natural_key_retention
        ),
        profiles=profiles,
        erased=profiles.privacy,
        queue_batch=partial(send_json, settings.profile_batches_queue_url),
        start_large_file=partial(start_execution, settings.large_file_state_machine_arn),
        publish=partial(event_bus.publish, settings.event_bus_name),
        salt=privacy_store_module.erasure_salt(settings.erasure_salt_parameter),
    )


@cache
def curated_batch_ports() -> CuratedBatchPorts:
    from cdp.adapters.file_ledger import FileLedger

    return CuratedBatchPorts(
        objects=object_store,
        files=FileLedger(core().ledger_table),
        profiles=profile_store(),
        publish=publisher(),
        salt=erasure_salt(),
        live_segments=live_segments(),
    )


def tracking_settings() -> TrackingSettings:
    return load_settings(TrackingSettings)


@cache
def write_keys() -> WriteKeyDirectory:
    return WriteKeyDirectory(core().profiles_table)


@cache
def shop_secrets() -> ShopSecretStore:
    return ShopSecretStore(tracking_settings().shop_secret_prefix)


@cache
def tracking_ports() -> TrackingPorts:
    settings = tracking_settings()
    return TrackingPorts(
        store=profile_store(),
        register=MessageRegister(settings.ledger_table),
        curated=CuratedStreams(settings.curated_streams),
        dedupe_window=settings.dedupe_window,
        backfill_horizon=settings.backfill_horizon,
        phone_region=settings.default_phone_region,
        salt=erasure_salt(),
        live_segments=live_segments(),
    )


@cache
def shopify_privacy_ports() -> PrivacyPorts:
    settings = tracking_settings()
    return PrivacyPorts(
        store=privacy_store(),
        shop_data=ShopData(
            settings.profiles_table, settings.ledger_table, settings.privacy_exports_bucket, settings.shop_secret_prefix
        ),
        register=MessageRegister(settings.ledger_table),
        dedupe_window=settings.dedupe_window,
        salt=erasure_salt(),
        phone_region=settings.default_phone_region,
    )


def erasure_buckets() -> ErasureBuckets:
    return load_settings(ErasureBuckets)


def ingest_settings() -> IngestSettings:
    return load_settings(IngestSettings)


def clock() -> datetime:
    """Now, in UTC: the moment journeys, campaign runs, coupons and the sending service decide at."""
    return datetime.now(UTC)


def sending_settings() -> SendingSettings:
    return load_settings(SendingSettings)


@cache
def sending_parts() -> SendingParts:
    """The sending service's collaborators: DynamoDB records, SES/SNS/webhook channels, the shipped templates."""
    from cdp.adapters.channels import SesEmail, SignedWebhook, SnsPush, SnsSms
    from cdp.adapters.clients import ssm_parameters
    from cdp.adapters.message_events import CuratedMessageEvents
    from cdp.adapters.send_records import SendRecordTable
    from cdp.messaging.rules import FrequencyCap, QuietHours
    from cdp.messaging.templates import shipped_templates

    settings = sending_settings()
    channels: dict[str, Channel] = {
        "email": SesEmail(settings.sender_email, settings.configuration_set), "sms": SnsSms(), "push": SnsPush(),
    }  # fmt: skip
    if settings.webhook_url:
        secret_name = settings.webhook_secret_parameter
        channels["webhook"] = SignedWebhook(
            settings.webhook_url, lambda: str(ssm_parameters().get(secret_name, decrypt=True, max_age=300))
        )
    start, end = (time.fromisoformat(clock) for clock in settings.quiet_hours.split("-"))
    return SendingParts(
        profiles=partial(privacy_store().profile_consistently, follow_redirects=True),
        records=SendRecordTable(settings.profiles_table),
        suppressions=suppressions(),
        channels=channels,
        unsubscribe_links=unsubscribe_links(),
        events=CuratedMessageEvents(CuratedStreams({"messages": settings.messages_stream})),
        templates=shipped_templates(),
        caps={channel: FrequencyCap(cap.limit, timedelta(hours=cap.window_hours))
              for channel, cap in settings.frequency_caps.items()},  # fmt: skip
        quiet_hours=QuietHours(start, end),
        shop_timezone=settings.shop_timezone,
        claim_lease=timedelta(seconds=settings.claim_lease_seconds),
    )


@cache
def deferred_messages() -> DeferredMessages:
    from cdp.adapters.send_records import DeferredMessageTable

    return DeferredMessageTable(core().profiles_table)


# ---- feedback: suppression list, unsubscribe links and routes, SMS STOP, SES feedback ----
def unsubscribe_settings() -> UnsubscribeSettings:
    return load_settings(UnsubscribeSettings)


@cache
def suppression_store() -> SuppressionStore:
    return SuppressionStore(core().profiles_table)


def suppressions() -> Suppressions:
    """The suppression list (`SuppressionList`), with the erased register in the same table."""
    return Suppressions(suppression_store(), erasure_salt(), core().default_phone_region)


def unsubscribe_signing_keys() -> list[bytes]:
    """The unsubscribe links' signing keys, newest first (Powertools Parameters cache them for five minutes)."""
    return checked_keys(message_feedback.signing_keys(unsubscribe_settings().unsubscribe_keys_parameter))


def unsubscribe_links() -> SignedLinks:
    """Signed one-click unsubscribe links (`UnsubscribeLinks`), for the sending service."""
    settings = unsubscribe_settings()
    return SignedLinks(settings.unsubscribe_base_url, unsubscribe_signing_keys, timedelta(days=settings.unsubscribe_link_days))


def unsubscribe_parts() -> UnsubscribeParts:
    return UnsubscribeParts(
        privacy=privacy_store(),
        read_profile=partial(privacy_store().profile_consistently, follow_redirects=True),
        suppressions=suppressions(),
        used_tokens=MessageRegister(core().ledger_table),
        keys=unsubscribe_signing_keys,
        salt=erasure_salt(),
    )


def sms_opt_outs() -> Iterator[str]:
    return message_feedback.sms_opt_outs()


@cache
def feedback_parts() -> FeedbackParts:
    from cdp.adapters.message_events import CuratedMessageEvents
    from cdp.adapters.send_records import SendRecordTable

    settings = load_settings(FeedbackSettings)
    return FeedbackParts(
        records=SendRecordTable(settings.profiles_table),
        suppressions=suppressions(),
        events=CuratedMessageEvents(CuratedStreams({"messages": settings.curated_messages_stream})),
    )


def reset_settings() -> None:
    """Read settings and the collaborators built from them afresh (another function's environment), keeping the
    clients."""
    for builder in (*_BUILDERS, *_LIVE_BUILDERS):
        builder.cache_clear()
    load_settings.cache_clear()


_BUILDERS: tuple[Any, ...] = (identity_store, privacy_store, profile_store, segment_run_parts, segment_definitions,
                              segment_snapshots, audience_export_files, ingest_ports, curated_batch_ports, write_keys,
                              shop_secrets, tracking_ports, shopify_privacy_ports, sending_parts, deferred_messages,
                              suppression_store, feedback_parts)  # fmt: skip


def reset() -> None:
    """Forget every built collaborator, setting, secret and client (a fresh process; the local stack calls this)."""
    reset_settings()
    privacy_store_module.erasure_salt.cache_clear()
    reset_clients()


# ---------------------------------------------------------------------- live segments


@cache
def live_segment_store() -> LiveSegmentStore:
    return LiveSegmentStore(core().profiles_table)


@cache
def live_segments() -> LiveSegments:
    """The library's live segments (decided from one profile), over the profiles table."""
    return LiveSegments(load_library(), live_segment_store())


_LIVE_BUILDERS = (live_segment_store, live_segments)


def journey_settings() -> JourneySettings:
    return load_settings(JourneySettings)


@cache
def journey_router_parts() -> RouterParts:
    """The journey router's collaborators: entry records, executions, message events, the live profile."""
    from cdp.adapters.journey_runs import JourneyEntryRecords, JourneyExecutions

    settings = journey_settings()
    return RouterParts(
        entries=JourneyEntryRecords(settings.profiles_table),
        runs=JourneyExecutions(settings.state_machine_arn_prefix),
        message_events=journey_message_events(),
        read_profile=partial(privacy_store().profile_consistently, follow_redirects=True),
        wait_overrides=settings.wait_seconds,
    )


_BUILDERS = (*_BUILDERS, journey_router_parts)


def journey_message_events() -> MessageEvents:
    """`assigned` / `holdout` rows to the curated `messages` stream (partitioned by the day of their `at`)."""
    from cdp.adapters.message_events import CuratedMessageEvents

    return CuratedMessageEvents(CuratedStreams({"messages": journey_settings().messages_stream}))


def loyalty_store() -> LoyaltyStore:
    """Members' profile items for the loyalty review, and where it saves its decisions (clients are cached)."""
    return LoyaltyStore(core().profiles_table)


def coupon_store() -> CouponStore:
    """Offers' totals, people's coupons and codes (clients are cached)."""
    return CouponStore(core().profiles_table)


def coupon_reach(carriers: Sequence[tuple[str, str]], now: datetime) -> CarrierReach:
    """Whether a coupon's carrying messages can reach a person: the sending service's consent and suppression."""
    return CarrierReach(carriers, partial(privacy_store().profile_consistently, follow_redirects=True), suppressions(), now)


def order_history() -> Any:
    """The curated orders resolved to live profiles, for recommendations (imports pyarrow: batch functions only)."""
    from cdp.adapters.order_history import CuratedOrderHistory

    return CuratedOrderHistory(load_settings(CuratedSettings).curated_bucket, identity_store())


def recommendation_store(computed_at: datetime) -> RecommendationStore:
    return RecommendationStore(core().profiles_table, computed_at)
def report_store() -> S3ReportStore:
    from cdp.adapters.report_store import S3ReportStore
    from cdp.settings import ReportSettings

    return S3ReportStore(load_settings(ReportSettings).curated_bucket)


def measurement_parts() -> MeasurementParts:
    """Curated tables, segment snapshots and identifier owners for the measurement (pyarrow: the measurement
    function only)."""
    from cdp.adapters.curated_tables import CuratedParquet, SnapshotStore
    from cdp.measure.report import MeasurementParts
    from cdp.settings import ReportSettings

    bucket = load_settings(ReportSettings).curated_bucket
    return MeasurementParts(CuratedParquet(bucket), SnapshotStore(bucket), identity_store())


# ---- campaigns: the API, the run start and the worker
def campaign_api_settings() -> CampaignApiSettings:
    from cdp.settings import CampaignApiSettings

    return load_settings(CampaignApiSettings)


@cache
def campaign_store() -> CampaignStore:
    from cdp.adapters.campaign_store import CampaignStore

    return CampaignStore(core().profiles_table, core().ledger_table)


def campaign_manage_parts() -> ManageParts:
    from cdp.adapters.campaign_delivery import SchedulerSchedules
    from cdp.adapters.segment_snapshot import latest_segments
    from cdp.campaigns.manage import ManageParts

    settings = campaign_api_settings()
    return ManageParts(
        campaigns=campaign_store(),
        schedules=SchedulerSchedules(settings.schedule_group, settings.start_function_arn, settings.scheduler_role_arn,
                                     settings.schedule_dead_letter_arn),
        shop_zone=settings.shop_time_zone,
        known_segments=partial(latest_segments, settings.curated_bucket),
    )  # fmt: skip


def campaign_start_parts() -> StartParts:
    from cdp.adapters.campaign_delivery import SesSendQuota, SqsSendQueue
    from cdp.adapters.segment_snapshot import SegmentSnapshots
    from cdp.campaigns.run import StartParts
    from cdp.settings import CampaignStartSettings

    settings = load_settings(CampaignStartSettings)
    return StartParts(
        campaigns=campaign_store(),
        snapshots=SegmentSnapshots(settings.curated_bucket),
        queue=SqsSendQueue(settings.sends_queue_url),
        events=campaign_message_events(settings.messages_stream),
        quota=SesSendQuota(),
    )


@cache
def campaign_worker_parts() -> WorkerParts:
    """Cached for the container's life: its StateCache is what keeps state reads to one per campaign per few
    seconds."""
    from datetime import timedelta

    from cdp.adapters.campaign_delivery import SqsSendQueue
    from cdp.campaigns.deliver import StateCache, WorkerParts
    from cdp.settings import CampaignWorkerSettings

    settings = load_settings(CampaignWorkerSettings)
    return WorkerParts(
        states=StateCache(campaign_store(), timedelta(seconds=settings.state_max_age_seconds)),
        sending=campaign_sending(),
        queue=SqsSendQueue(settings.sends_queue_url),
        budget=campaign_store(),
        campaigns=campaign_store(),
        hold_seconds=settings.hold_seconds,
        clock=clock,
    )


def campaign_sending() -> Sending:
    """The sending service, in-process, for campaign workers."""
    from cdp.campaigns.deliver import ServiceSending

    return ServiceSending(sending_parts(), deferred_messages())


def campaign_message_events(stream: str) -> MessageEvents:
    """Where campaigns record assigned and holdout rows: the curated `messages` stream."""
    from cdp.adapters.message_events import CuratedMessageEvents

    return CuratedMessageEvents(CuratedStreams({"messages": stream}))




def segment_sharding() -> Sharding | None:
    """When and how the scheduled segment run is sharded (None: no state machine to run shards)."""
    from cdp.adapters.segment_shard_work import SegmentShardWork
    from cdp.adapters.state_machines import start_execution
    from cdp.segments.sharded import Sharding
    from cdp.settings import SegmentShardingSettings

    settings = load_settings(SegmentShardingSettings)
    if not settings.sharded_run_state_machine_arn:
        return None
    return Sharding(
        threshold=settings.shard_threshold_profiles, shards=settings.shards,
        work=SegmentShardWork(settings.curated_bucket),
        start=lambda plan: start_execution(settings.sharded_run_state_machine_arn, plan["run_id"], plan),
    )  # fmt: skip


def segment_shard_work() -> SegmentShardWork:
    """Where the sharded segment run's steps leave their work (the curated bucket)."""
    from cdp.adapters.segment_shard_work import SegmentShardWork

    return SegmentShardWork(load_settings(SegmentSettings).curated_bucket)


_BUILDERS = (*_BUILDERS, campaign_store, campaign_worker_parts)
