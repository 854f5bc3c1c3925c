"""The large-file state machine's steps: plan line-aligned byte ranges, ingest one range, finish the file."""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp import wiring
from cdp.ingest.pipeline import DroppedFile, finish_large_file, ingest_file_range, plan_file_ranges
from cdp.ingest.ranges import ByteRange
from cdp.observability import metrics, observed_handler
from cdp.settings import IngestSettings, load_settings
from pydantic import BaseModel, ConfigDict, Field


class FileModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bucket: str = Field(min_length=3)
    key: str = Field(min_length=1)
    version_id: str | None
    etag: str

    def dropped(self) -> DroppedFile:
        return DroppedFile(bucket=self.bucket, key=self.key, version_id=self.version_id, etag=self.etag)


class PlanEvent(BaseModel):
    file: FileModel


class RangeModel(BaseModel):
    index: int = Field(ge=0)
    start: int = Field(ge=0)
    end: int | None = Field(ge=0)
    line_offset: int = Field(ge=0)
    header_end: int = Field(ge=0)
    format: str | None = None
    encoding: str | None = None
    delimiter: str | None = None


class RangeEvent(BaseModel):
    file: FileModel
    range: RangeModel


class ExecutionError(BaseModel):
    Error: str = ""
    Cause: str = ""


class FinishEvent(BaseModel):
    file: FileModel
    error: ExecutionError | None = None


@observed_handler
@event_parser(model=PlanEvent)
def plan_handler(event: PlanEvent, context: LambdaContext) -> dict[str, Any]:
    ranges = plan_file_ranges(wiring.ingest_ports(), event.file.dropped(), load_settings(IngestSettings))
    return {"ranges": [byte_range.as_dict() for byte_range in ranges]}


@observed_handler
@event_parser(model=RangeEvent)
def range_handler(event: RangeEvent, context: LambdaContext) -> dict[str, Any]:
    byte_range = ByteRange(**event.range.model_dump())
    report = ingest_file_range(
        wiring.ingest_ports(), event.file.dropped(), load_settings(IngestSettings), datetime.now(UTC), byte_range
    )
    return {"range": byte_range.index, "rows_in": report.rows_in, "file_error": report.file_error}


@observed_handler
@event_parser(model=FinishEvent)
def finish_handler(event: FinishEvent, context: LambdaContext) -> dict[str, Any]:
    error = f"{event.error.Error}: {event.error.Cause[:500]}" if event.error else None
    report = finish_large_file(wiring.ingest_ports(), event.file.dropped(), load_settings(IngestSettings), error)
    metrics.add_metric(name="RowsAccepted", unit="Count", value=report.rows_accepted)
    metrics.add_metric(name="RowsQuarantined", unit="Count", value=report.rows_quarantined)
    return report.as_dict()
