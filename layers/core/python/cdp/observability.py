"""One logger, tracer and metrics for the platform, and one decorator order for every handler."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()

Handler = Callable[[Any, Any], Any]


def observed_handler(handler: Handler) -> Handler:
    """Log context, trace and flush metrics around a Lambda handler, in the same order everywhere."""
    decorated = logger.inject_lambda_context(clear_state=True)(tracer.capture_lambda_handler(handler))
    decorated = metrics.log_metrics(raise_on_empty_metrics=False)(decorated)
    return functools.wraps(handler)(decorated)
