"""Avro in the Confluent wire format: magic byte 0, 4-byte big-endian schema id, Avro body.

Producers encode with the schema registered for the contract's subject; consumers look the
writer schema up by id (cached) and resolve it into the reader's schema, so old and new
producers can coexist under the subject's compatibility rule. Every failure is a typed
`DecodeError`/`EncodeError` with a stable `code`, so agents can route the record to the
dead-letter topic instead of dying on it.
"""
from __future__ import annotations

import io
import json
import struct
import threading
from typing import Any

import fastavro
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from registry import constraints
from registry.manifest import Contract

MAGIC = 0
HEADER = struct.Struct(">bI")


class SerdeError(ValueError):
    code = "serde_error"
    retryable = False


class EncodeError(SerdeError):
    code = "invalid_event"


class DecodeError(SerdeError):
    code = "malformed_event"


class UnknownSchemaError(DecodeError):
    code = "unknown_schema_id"


class RegistryUnavailableError(DecodeError):
    """The registry could not be reached: transient, the record itself may be fine."""

    code = "registry_unavailable"
    retryable = True


class AvroSerde:
    """Encodes and decodes events of manifest contracts against a Confluent-API registry."""

    def __init__(self, client: SchemaRegistryClient, validate: bool = True):
        self.client = client
        self.validate = validate
        self._ids: dict[str, int] = {}
        self._writers: dict[int, Any] = {}
        self._readers: dict[tuple[int, str], Any] = {}  # (schema id, subject) -> reader schema or None
        self._lock = threading.Lock()

    # -- producing -----------------------------------------------------------------------
    def schema_id(self, contract: Contract) -> int:
        """The id of the contract's current schema under its subject (registered if absent)."""
        sid = self._ids.get(contract.subject)
        if sid is None:
            with self._lock:
                sid = self.client.register_schema(contract.subject, Schema(contract.schema_str, "AVRO"))
                self._ids[contract.subject] = sid
                self._writers.setdefault(sid, contract.parsed_schema)
        return sid

    def encode(self, contract: Contract, record: dict[str, Any]) -> bytes:
        if self.validate:
            try:
                constraints.check_record(contract.schema, record)
            except constraints.ConstraintViolation as exc:
                raise EncodeError(f"{contract.name}: {exc}") from exc
        sid = self.schema_id(contract)
        buf = io.BytesIO()
        buf.write(HEADER.pack(MAGIC, sid))
        try:
            fastavro.schemaless_writer(buf, contract.parsed_schema, record)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise EncodeError(f"{contract.name}: record does not match {contract.record_name}: {exc}") from exc
        return buf.getvalue()

    # -- consuming -----------------------------------------------------------------------
    def writer_schema(self, schema_id: int):
        parsed = self._writers.get(schema_id)
        if parsed is None:
            try:
                schema = self.client.get_schema(schema_id)
            except SchemaRegistryError as exc:
                if exc.http_status_code == 404:
                    raise UnknownSchemaError(f"schema id {schema_id} is not in the registry") from exc
                raise RegistryUnavailableError(f"registry error for schema id {schema_id}: {exc}") from exc
            except Exception as exc:  # connection errors from the HTTP client
                raise RegistryUnavailableError(f"registry unreachable for schema id {schema_id}: {exc}") from exc
            if schema.schema_type not in (None, "AVRO"):
                raise DecodeError(f"schema id {schema_id} is {schema.schema_type}, not AVRO")
            parsed = fastavro.parse_schema(json.loads(schema.schema_str))
            self._writers[schema_id] = parsed
        return parsed

    def _reader_schema(self, sid: int, writer, contract: Contract):
        """The reader schema to resolve `sid`'s records with: None when the writer schema is the
        contract's own. Why: fastavro compares writer and reader on every call and, for a writer
        fetched from the registry (an equal but distinct object), resolves field by field: twice
        the decode time of a record whose schema needs no resolution (bench/serde.py)."""
        key = (sid, contract.subject)
        if key not in self._readers:
            self._readers[key] = None if writer is contract.parsed_schema or writer == contract.parsed_schema else contract.parsed_schema
        return self._readers[key]

    def decode(self, data: bytes | None, contract: Contract) -> dict[str, Any]:
        """Decode a record written under any registered version of `contract`'s subject."""
        if not data or len(data) < HEADER.size:
            raise DecodeError(f"{contract.topic}: record of {len(data or b'')} bytes is too short for the wire format")
        magic, sid = HEADER.unpack_from(data)
        if magic != MAGIC:
            raise DecodeError(f"{contract.topic}: unknown magic byte {magic} (not Confluent Avro wire format)")
        writer = self.writer_schema(sid)
        try:
            record = fastavro.schemaless_reader(io.BytesIO(data[HEADER.size:]), writer, self._reader_schema(sid, writer, contract))
        except Exception as exc:  # fastavro raises EOFError, SchemaResolutionError, ValueError, ...
            raise DecodeError(f"{contract.topic}: Avro body (schema id {sid}) does not decode as "
                              f"{contract.record_name}: {type(exc).__name__}: {exc}") from exc
        if self.validate:
            try:
                constraints.check_record(contract.schema, record)
            except constraints.ConstraintViolation as exc:
                raise DecodeError(f"{contract.name}: {exc}") from exc
        return record


def registry_client(settings) -> SchemaRegistryClient:
    return SchemaRegistryClient(settings.registry_config())
