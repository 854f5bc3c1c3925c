"""One logger, tracer and metrics for the platform, and one decorator order for every handler.

The tracer records neither a handler's response nor its error (`observed_handler`): both can hold personal data.
The shared logger never writes personal data: `PersonalDataFilter` erases, in the message, its arguments and every
extra field, the values of personal keys (emails, phones, names, addresses, birthdays) and any email address or
E.164-like phone number found in free text, before Powertools formats the record.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

ERASED = "*****"
PERSONAL_KEYS = frozenset(
    {
        "email",
        "phone",
        "first_name",
        "last_name",
        "name",
        "full_name",
        "address",
        "address1",
        "address2",
        "street",
        "postal_code",
        "zip",
        "birthday",
    }
)
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE = re.compile(r"\+\d[\d ().-]{6,}\d")  # E.164 and its spaced or dashed forms
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def erase_personal_data(value: Any) -> Any:
    """A copy of `value` with personal keys' values and emails or phone numbers in text erased."""
    if isinstance(value, str):
        return PHONE.sub(ERASED, EMAIL.sub(ERASED, value))
    if isinstance(value, dict):
        return {
            key: ERASED if str(key).lower() in PERSONAL_KEYS else erase_personal_data(item)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple, set)):
        return [erase_personal_data(item) for item in value]
    return value


class PersonalDataFilter(logging.Filter):
    """Erases personal data from a record's message, arguments and extra fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = erase_personal_data(record.msg)
        if record.args:
            record.args = tuple(erase_personal_data(list(record.args)))
        for key in set(vars(record)) - _RECORD_ATTRIBUTES:
            setattr(record, key, ERASED if key.lower() in PERSONAL_KEYS else erase_personal_data(getattr(record, key)))
        return True


logger = Logger()
logger.addFilter(PersonalDataFilter())
tracer = Tracer()
metrics = Metrics()

Handler = Callable[[Any, Any], Any]


def observed_handler(handler: Handler) -> Handler:
    """Log context, trace and flush metrics around a Lambda handler, in the same order everywhere.

    The tracer never records a handler's response nor its exception as trace metadata: responses hold personal
    data (profiles, exports, consent), and traces are not a store of personal data.
    """
    traced = tracer.capture_lambda_handler(handler, capture_response=False, capture_error=False)
    decorated = logger.inject_lambda_context(clear_state=True)(traced)
    decorated = metrics.log_metrics(raise_on_empty_metrics=False)(decorated)
    return functools.wraps(handler)(decorated)
