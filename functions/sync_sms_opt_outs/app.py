"""Scheduled: the SNS SMS opt-out list (STOP replies) recorded as SMS marketing withdrawals and suppressions."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp import wiring
from cdp.messaging.unsubscribe import record_sms_opt_outs
from cdp.observability import logger, metrics, observed_handler


@observed_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    sync = record_sms_opt_outs(wiring.sms_opt_outs(), wiring.privacy_store(), wiring.suppressions(), datetime.now(UTC))
    metrics.add_metric(name="SmsOptOutsRecorded", unit="Count", value=sync.new)
    logger.info("sms opt-out list read", extra=asdict(sync))
    return asdict(sync)
