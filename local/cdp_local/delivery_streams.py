"""Kinesis Data Firehose delivery streams and the Glue tables they read, as the template declares them.

moto's CloudFormation skips `AWS::Glue::Table` and `AWS::KinesisFirehose::DeliveryStream`, and moto's Firehose
writes the raw bytes put to it whatever the stream's `DataFormatConversionConfiguration` says. So the local stack
creates the databases, tables and streams from the template (`create_databases`, `create_tables`,
`create_streams`), and `ParquetConversion`
stands in for Firehose's delivery to S3: each put batch is read with the schema of the Glue table the stream names
(HiveJsonSerDe: `java.sql.Timestamp.valueOf` text for timestamps, read as UTC), grouped by the prefix its partition
keys give (the MetadataExtraction jq query, in its `{key: .field, ...}` form) and written as Parquet under
`<prefix><stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid><FileExtension>`, as Firehose names objects. A record
that does not convert goes to the ErrorOutputPrefix (`format-conversion-failed`) in Firehose's error document shape,
at once. Converted rows are buffered as Firehose buffers them, one object per prefix when the stream's buffering
hints are reached (SizeInMBs of records put, or IntervalInSeconds since the oldest), and whenever a request other
than a put reaches the destination bucket (`deliver_buffered`), so a reader never misses a row that AWS would have
delivered by then, and a run makes a few objects instead of one per put.
"""

from __future__ import annotations

import base64
import io
import json
import re
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq

Resolve = Callable[[Any], Any]

_JQ_FIELDS = re.compile(r"^\{\s*\w+\s*:\s*\.\w+(?:\s*,\s*\w+\s*:\s*\.\w+)*\s*\}$")
_JQ_FIELD = re.compile(r"(\w+)\s*:\s*\.(\w+)")
_TIMESTAMP_FORMATS = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}
_DECIMAL = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")
_SIMPLE_TYPES = {"string": pa.string(), "bigint": pa.int64(), "int": pa.int32(), "boolean": pa.bool_(),
                 "double": pa.float64(), "date": pa.date32(), "timestamp": pa.timestamp("us", tz="UTC")}  # fmt: skip


class ConversionFailed(ValueError):
    """A record the stream's schema cannot read."""


def arrow_type(glue_type: str) -> pa.DataType:
    """The Arrow type Parquet holds for a Glue (Hive) column type."""
    if glue_type in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[glue_type]
    if match := _DECIMAL.match(glue_type):
        return pa.decimal128(int(match[1]), int(match[2]))
    raise NotImplementedError(f"no local conversion for Glue type {glue_type}")


def _read_value(value: Any, to: pa.DataType) -> Any:
    """One JSON value as HiveJsonSerDe reads it into a column of type `to`."""
    if value is None:
        return None
    if pa.types.is_timestamp(to):
        return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)  # Timestamp.valueOf, in Firehose's UTC
    if pa.types.is_date32(to):
        return date.fromisoformat(str(value))
    if pa.types.is_decimal(to):
        return Decimal(str(value))
    if pa.types.is_boolean(to):
        if not isinstance(value, bool):
            raise ConversionFailed(f"{value!r} is not a boolean")
        return value
    if pa.types.is_integer(to):
        if isinstance(value, bool) or int(value) != value:
            raise ConversionFailed(f"{value!r} is not an integer")
        return int(value)
    if pa.types.is_floating(to):
        return float(value)
    return value if isinstance(value, str) else json.dumps(value)


def partition_keys(query: str, record: dict[str, Any]) -> dict[str, str]:
    """The partition keys a `{key: .field, ...}` jq query extracts from a record."""
    if not _JQ_FIELDS.match(query.strip()):
        raise NotImplementedError(f"the local stack reads jq queries of the form {{key: .field}}, not {query}")
    keys = {}
    for key, name in _JQ_FIELD.findall(query):
        if record.get(name) in (None, ""):
            raise ConversionFailed(f"partition key {key} is missing")
        keys[key] = str(record[name])
    return keys


def expand_prefix(prefix: str, keys: dict[str, str], now: datetime, error_type: str = "") -> str:
    """A Firehose prefix with its `!{partitionKeyFromQuery:...}`, `!{timestamp:...}` and error type expanded."""

    def namespace(match: re.Match[str]) -> str:
        kind, argument = match[1], match[2]
        if kind == "partitionKeyFromQuery":
            return keys[argument]
        if kind == "timestamp":
            return now.strftime(re.sub("|".join(_TIMESTAMP_FORMATS), lambda m: _TIMESTAMP_FORMATS[m[0]], argument))
        if kind == "firehose" and argument == "error-output-type":
            return error_type
        raise NotImplementedError(f"prefix expression !{{{kind}:{argument}}}")

    return re.sub(r"!\{(\w+):([^}]+)\}", namespace, prefix)


@dataclass
class _Buffer:
    """The converted rows waiting for one object: a stream version's rows under one prefix of one bucket."""

    stream: str
    version_id: str
    bucket: str
    prefix: str
    extension: str
    schema: pa.Schema
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _StreamLoad:
    """What a stream holds buffered: the bytes put and when the oldest record arrived (monotonic seconds)."""

    size: int = 0
    oldest: float = 0.0


class ParquetConversion:
    """Firehose's delivery to an extended S3 destination with format conversion, for moto's Firehose backend."""

    def __init__(self, region: str, account_id: str) -> None:
        self.region = region
        self.account_id = account_id
        self._s3_client: Any = None
        self._buffers: dict[tuple[str, str, str, str], _Buffer] = {}
        self._loads: dict[str, _StreamLoad] = defaultdict(_StreamLoad)
        self._lock = threading.RLock()  # held while buffers are written, so a reader waits for a delivery under way

    def put_s3_records(
        self, delivery_stream_name: str, version_id: str, destination: dict[str, Any], records: list[dict[str, bytes]]
    ) -> list[dict[str, str]] | None:
        """Convert and buffer records; None when the destination converts nothing (moto's raw delivery applies)."""
        conversion = destination.get("DataFormatConversionConfiguration") or {}
        if not conversion.get("Enabled"):
            return None
        schema = self._schema(conversion["SchemaConfiguration"])
        query = _metadata_query(destination)
        now = datetime.now(UTC)
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        failed: list[tuple[bytes, str]] = []
        read: list[tuple[dict[str, bytes], str, dict[str, Any]]] = []
        for record in records:
            try:
                document = json.loads(record["Data"], parse_float=Decimal)
                keys = partition_keys(query, document) if query else {}
                row = {field.name: _read_value(document.get(field.name), field.type) for field in schema}
                read.append((record, expand_prefix(destination.get("Prefix", ""), keys, now), row))
            except (ConversionFailed, ValueError, InvalidOperation, TypeError) as error:
                failed.append((record["Data"], str(error)))
        whole_batch_fits = _fits(schema, [row for _record, _prefix, row in read])
        for record, prefix, row in read:
            try:
                if not whole_batch_fits:  # a value the schema cannot hold fails its record alone, as in AWS
                    pa.Table.from_pylist([row], schema)
                groups[prefix].append(row)
            except (ValueError, InvalidOperation, TypeError) as error:
                failed.append((record["Data"], str(error)))
        bucket = destination["BucketARN"].split(":")[-1]
        if failed:
            error_prefix = expand_prefix(destination["ErrorOutputPrefix"], {}, now, "format-conversion-failed")
            self._s3().put_object(
                Bucket=bucket, Key=error_prefix + _object_name(delivery_stream_name, version_id, now),
                Body=b"".join(_error_document(*f) for f in failed),
            )
        with self._lock:
            for prefix, rows in groups.items():
                key = (delivery_stream_name, version_id, bucket, prefix)
                buffer = self._buffers.setdefault(key, _Buffer(*key, destination.get("FileExtension", ""), schema))
                buffer.rows += rows
            load = self._loads[delivery_stream_name]
            load.oldest = load.oldest or time.monotonic()
            load.size += sum(len(record["Data"]) for record in records)
            hints = destination.get("BufferingHints") or {}
            if (load.size >= hints.get("SizeInMBs", 5) << 20
                    or time.monotonic() - load.oldest >= hints.get("IntervalInSeconds", 300)):  # fmt: skip
                self._deliver(lambda buffer: buffer.stream == delivery_stream_name)
                self._loads.pop(delivery_stream_name, None)  # none left when every record failed
        return [{"RecordId": str(uuid.uuid4())} for _ in records]

    def deliver_buffered(self, bucket: str) -> None:
        """Write every buffered object bound for this bucket now (and wait for a delivery already under way)."""
        with self._lock:
            self._deliver(lambda buffer: buffer.bucket == bucket)

    def _deliver(self, chosen: Callable[[_Buffer], bool]) -> None:
        """Write the chosen buffers, one Parquet object each, named as Firehose names them; their streams start
        buffering afresh (lock held)."""
        now = datetime.now(UTC)
        for key, buffer in [(key, buffer) for key, buffer in self._buffers.items() if chosen(buffer)]:
            del self._buffers[key]
            self._loads.pop(buffer.stream, None)
            body = io.BytesIO()
            pq.write_table(pa.Table.from_pylist(buffer.rows, buffer.schema), body, compression="snappy")
            object_key = buffer.prefix + _object_name(buffer.stream, buffer.version_id, now) + buffer.extension
            self._s3().put_object(Bucket=buffer.bucket, Key=object_key, Body=body.getvalue())

    def _s3(self) -> Any:
        if self._s3_client is None:  # built once: building a client costs more than a small batch's conversion
            self._s3_client = boto3.client("s3", region_name=self.region)
        return self._s3_client

    def _schema(self, configuration: dict[str, Any]) -> pa.Schema:
        """The Glue table's columns as GetTable answers them, read from moto's Glue model (no request per batch)."""
        from moto.glue.models import glue_backends

        glue = glue_backends[self.account_id][self.region]
        table = glue.get_table(configuration["DatabaseName"], configuration["TableName"]).as_dict()
        columns = table["StorageDescriptor"]["Columns"]
        return pa.schema([pa.field(column["Name"], arrow_type(column["Type"])) for column in columns])


def _object_name(stream: str, version_id: str, now: datetime) -> str:
    """`<stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid>`, as Firehose names the objects it writes."""
    return f"{stream}-{version_id}-{now:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}"


def _fits(schema: pa.Schema, rows: list[dict[str, Any]]) -> bool:
    """Whether every row converts to the schema (then none needs converting alone to find the one that does not)."""
    try:
        pa.Table.from_pylist(rows, schema)
    except (ValueError, InvalidOperation, TypeError, pa.ArrowException):
        return False
    return True


def _metadata_query(destination: dict[str, Any]) -> str | None:
    for processor in destination.get("ProcessingConfiguration", {}).get("Processors", []):
        if processor["Type"] == "MetadataExtraction":
            parameters = {p["ParameterName"]: p["ParameterValue"] for p in processor["Parameters"]}
            return parameters["MetadataExtractionQuery"]
    return None


def _error_document(data: bytes, message: str) -> bytes:
    document = {"attemptsMade": 1, "arrivalTimestamp": int(datetime.now(UTC).timestamp() * 1000),
                "errorCode": "DataFormatConversion.InvalidSchema", "errorMessage": message,
                "rawData": base64.b64encode(data).decode()}  # fmt: skip
    return json.dumps(document).encode() + b"\n"


def create_databases(template: dict[str, Any], resolve: Resolve, region: str) -> dict[str, str]:
    """Create the template's Glue databases; their names by logical id."""
    glue = boto3.client("glue", region_name=region)
    names: dict[str, str] = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Glue::Database":
            database_input = resolve(resource["Properties"]["DatabaseInput"])
            glue.create_database(DatabaseInput=database_input)
            names[logical_id] = database_input["Name"]
    return names


def create_tables(template: dict[str, Any], resolve: Resolve, region: str) -> dict[str, str]:
    """Create the template's Glue tables (their databases first); their names by logical id."""
    glue = boto3.client("glue", region_name=region)
    names: dict[str, str] = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Glue::Table":
            properties = resolve(resource["Properties"])
            glue.create_table(DatabaseName=properties["DatabaseName"], TableInput=properties["TableInput"])
            names[logical_id] = properties["TableInput"]["Name"]
    return names


def create_streams(template: dict[str, Any], resolve: Resolve, stack_name: str, region: str) -> dict[str, str]:
    """Create the template's delivery streams (named as CloudFormation names them); their names by logical id."""
    firehose = boto3.client("firehose", region_name=region)
    names: dict[str, str] = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::KinesisFirehose::DeliveryStream":
            continue
        properties = resolve(resource["Properties"])
        name = properties.pop("DeliveryStreamName", f"{stack_name}-{logical_id}")
        properties.pop("DeliveryStreamEncryptionConfigurationInput", None)  # moto has no stream encryption
        firehose.create_delivery_stream(DeliveryStreamName=name, **properties)
        names[logical_id] = name
    return names
