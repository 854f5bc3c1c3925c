"""S3 ObjectCreated handler: ingests each dropped file and reports its row accounting."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import S3Model
from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp.ingest.pipeline import DroppedFile, ingest_dropped_file
from cdp.observability import metrics, observed_handler
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
        dropped = DroppedFile(
            bucket=record.s3.bucket.name,
            key=unquote_plus(dropped_object.key),
            version_id=dropped_object.versionId,
            etag=dropped_object.eTag or "",
        )
        report = ingest_dropped_file(dropped, settings, now=datetime.now(UTC))
        metrics.add_metric(name="RowsAccepted", unit="Count", value=report.rows_accepted)
        metrics.add_metric(name="RowsQuarantined", unit="Count", value=report.rows_quarantined)
        reports.append(report.as_dict())
    return {"files": reports}
