"""S3 ObjectCreated handler: ingests each dropped file (or hands a large one to the state machine) and reports."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import S3Model
from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp import wiring
from cdp.ingest.pipeline import DroppedFile, ingest_dropped_file, is_manifest
from cdp.observability import logger, metrics, observed_handler
from cdp.settings import IngestSettings, load_settings


@observed_handler
@event_parser(model=S3Model)
def handler(event: S3Model, context: LambdaContext) -> dict[str, Any]:
    settings = load_settings(IngestSettings)
    reports = []
    for record in event.Records:
        dropped_object = record.s3.object
        if dropped_object is None:  # only ObjectCreated events reach this function
            continue
        key = unquote_plus(dropped_object.key)
        if is_manifest(key):
            logger.info("manifest dropped; it is read with its data file", extra={"key": key})
            continue
        dropped = DroppedFile(
            bucket=record.s3.bucket.name, key=key, version_id=dropped_object.versionId, etag=dropped_object.eTag or ""
        )
        # Lambda's retries of one asynchronous event share its request id, so a retry may take over its own claim.
        report = ingest_dropped_file(
            wiring.ingest_ports(), dropped, settings, now=datetime.now(UTC), owner=context.aws_request_id
        )
        metrics.add_metric(name="RowsAccepted", unit="Count", value=report.rows_accepted)
        metrics.add_metric(name="RowsQuarantined", unit="Count", value=report.rows_quarantined)
        reports.append(report.as_dict())
    return {"files": reports}
