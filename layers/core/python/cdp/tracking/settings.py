"""Settings of the tracking function: the messageId dedupe window, where shop webhook secrets live, where the
exports that shops' data requests ask for are written and the curated delivery stream of each entity it makes."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from cdp.settings import CoreSettings


class TrackingSettings(CoreSettings):
    dedupe_window_days: int = Field(default=7, alias="TRACKING_DEDUPE_WINDOW_DAYS", ge=1, le=365)
    shop_secret_prefix: str = Field(default="/cdp/shopify/", alias="SHOP_SECRET_PARAMETER_PREFIX", min_length=1)
    privacy_exports_bucket: str = Field(alias="PRIVACY_EXPORTS_BUCKET", min_length=1)
    curated_customers_stream: str = Field(alias="CURATED_CUSTOMERS_STREAM", min_length=1)
    curated_orders_stream: str = Field(alias="CURATED_ORDERS_STREAM", min_length=1)
    curated_events_stream: str = Field(alias="CURATED_EVENTS_STREAM", min_length=1)

    @property
    def curated_streams(self) -> dict[str, str]:
        """Entity -> the Firehose delivery stream that writes its curated Parquet."""
        return {
            "customers": self.curated_customers_stream,
            "orders": self.curated_orders_stream,
            "events": self.curated_events_stream,
        }

    @property
    def dedupe_window(self) -> timedelta:
        """A messageId seen within this window is a replay and changes nothing."""
        return timedelta(days=self.dedupe_window_days)
