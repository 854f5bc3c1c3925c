"""Settings of the tracking function: the messageId dedupe window, where shop webhook secrets live and where the
exports that shops' data requests ask for are written."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from cdp.settings import CoreSettings


class TrackingSettings(CoreSettings):
    dedupe_window_days: int = Field(default=7, alias="TRACKING_DEDUPE_WINDOW_DAYS", ge=1, le=365)
    shop_secret_prefix: str = Field(default="/cdp/shopify/", alias="SHOP_SECRET_PARAMETER_PREFIX", min_length=1)
    privacy_exports_bucket: str = Field(alias="PRIVACY_EXPORTS_BUCKET", min_length=1)

    @property
    def dedupe_window(self) -> timedelta:
        """A messageId seen within this window is a replay and changes nothing."""
        return timedelta(days=self.dedupe_window_days)
