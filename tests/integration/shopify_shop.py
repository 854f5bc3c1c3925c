"""Helpers of the Shopify webhook tests: the demo shop `make api` registers, and Shopify's signature of a body."""

from __future__ import annotations

import base64
import hashlib
import hmac

from cdp_local.runner import DEMO_SHOP_SECRET


def shopify_signature(body: bytes, secret: str = DEMO_SHOP_SECRET) -> str:
    """`X-Shopify-Hmac-Sha256`: the base64 HMAC-SHA256 of the raw body under the shop's secret."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
