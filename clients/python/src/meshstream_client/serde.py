"""Avro in the Confluent wire format (magic byte 0, 4-byte big-endian schema id, Avro body),
against the schema registry the workers use.

Encoding writes with the generated schema text, byte-identical to what the workers register,
under the id the registry has for it; decoding looks the writer schema up by id (cached) and
resolves it into the generated reader schema, so records of older and newer producers decode
under the subject's compatibility rule. Registry failures become `RegistryUnavailable` /
`RegistryRejected`; records that are not events of their contract become `DecodeError` with the
workers' dead-letter codes.
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

from meshstream_client.constraints import check_record
from meshstream_client.contract import ContractInfo
from meshstream_client.errors import (AuthenticationFailed, ContractViolation, DecodeError, MeshstreamError, RegistryRejected,
                                      RegistryUnavailable)
from meshstream_client.security import registry_config
from meshstream_client.settings import Settings

MAGIC = 0
HEADER = struct.Struct(">bI")
_NOT_FOUND = 404


def _registry_error(what: str, exc: Exception) -> MeshstreamError:
    """The client's error for a failed registry call."""
    if isinstance(exc, SchemaRegistryError):
        status = exc.http_status_code
        if status in (401, 403):
            return AuthenticationFailed(f"{what}: the registry refused the credentials (HTTP {status})")
        if status == 409:
            return RegistryRejected(f"{what}: the registry refuses this client's schema as incompatible with the "
                                    f"subject's registered versions (install the client matching the workers): {exc}")
        if status is not None and status < 500 and status != -1:
            return RegistryRejected(f"{what}: HTTP {status}: {exc}")
        return RegistryUnavailable(f"{what}: registry error: {exc}")
    # the HTTP layer's own errors (connection refused, DNS, TLS, timeout): the registry was not reached
    return RegistryUnavailable(f"{what}: schema registry unreachable: {type(exc).__name__}: {exc}")


class Serde:
    """Encodes and decodes events of the generated contracts against a Confluent-API registry."""

    def __init__(self, settings: Settings, client: SchemaRegistryClient | None = None):
        self.settings = settings
        self.client = client or SchemaRegistryClient(registry_config(settings))
        self._ids: dict[str, int] = {}
        self._writers: dict[int, Any] = {}
        self._readers: dict[tuple[int, str], Any] = {}  # (schema id, subject) -> reader schema or None
        self._lock = threading.Lock()

    def schema_id(self, contract: ContractInfo) -> int:
        """The registry's id for the contract's schema: looked up under its subject, registered
        if the subject does not have it (the registry applies the subject's compatibility rule)."""
        sid = self._ids.get(contract.subject)
        if sid is not None:
            return sid
        schema = Schema(contract.schema, "AVRO")
        with self._lock:
            try:
                try:
                    sid = self.client.lookup_schema(contract.subject, schema).schema_id
                except SchemaRegistryError as exc:
                    if exc.http_status_code != _NOT_FOUND:
                        raise
                    sid = self.client.register_schema(contract.subject, schema)
            except Exception as exc:  # noqa: BLE001 -- translated, the original kept as __cause__
                raise _registry_error(f"schema id of {contract.subject}", exc) from exc
            self._ids[contract.subject] = sid
            self._writers.setdefault(sid, contract.parsed_schema)
        return sid

    def encode(self, contract: ContractInfo, record: dict[str, Any]) -> bytes:
        """Constraints first (nothing is sent for a bad record), then the registry id, then Avro."""
        check_record(contract, record)
        try:
            body = io.BytesIO()
            fastavro.schemaless_writer(body, contract.parsed_schema, record)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ContractViolation("", f"{contract.name}: record does not match {contract.record_name}: {exc}") from exc
        return HEADER.pack(MAGIC, self.schema_id(contract)) + body.getvalue()

    def _writer(self, sid: int) -> Any:
        parsed = self._writers.get(sid)
        if parsed is None:
            try:
                schema = self.client.get_schema(sid)
            except SchemaRegistryError as exc:
                if exc.http_status_code == _NOT_FOUND:
                    raise DecodeError("unknown_schema_id", f"schema id {sid} is not in the registry") from exc
                raise _registry_error(f"schema id {sid}", exc) from exc
            except Exception as exc:  # noqa: BLE001
                raise _registry_error(f"schema id {sid}", exc) from exc
            if schema.schema_type not in (None, "AVRO"):
                raise DecodeError("malformed_event", f"schema id {sid} is {schema.schema_type}, not AVRO")
            parsed = fastavro.parse_schema(json.loads(schema.schema_str))
            self._writers[sid] = parsed
        return parsed

    def decode(self, data: bytes | None, contract: ContractInfo) -> dict[str, Any]:
        """The record ({envelope, payload}) of any registered version of the contract's subject.
        Raises DecodeError for records that are not events of the contract, RegistryUnavailable
        when the writer schema cannot be fetched (the record itself may be fine)."""
        if not data or len(data) < HEADER.size:
            raise DecodeError("malformed_event", f"{contract.topic}: record of {len(data or b'')} bytes is too short")
        magic, sid = HEADER.unpack_from(data)
        if magic != MAGIC:
            raise DecodeError("malformed_event", f"{contract.topic}: unknown magic byte {magic}")
        writer = self._writer(sid)
        key = (sid, contract.subject)
        if key not in self._readers:  # no resolution when the writer is the reader: half the decode time
            self._readers[key] = None if writer == contract.parsed_schema else contract.parsed_schema
        reader = self._readers[key]
        try:
            record = fastavro.schemaless_reader(io.BytesIO(memoryview(data)[HEADER.size:]), writer, reader)
        except Exception as exc:  # noqa: BLE001 -- fastavro raises EOFError, SchemaResolutionError, ...
            raise DecodeError("malformed_event", f"{contract.topic}: body (schema id {sid}) does not decode as "
                                                 f"{contract.record_name}: {type(exc).__name__}: {exc}") from exc
        try:
            check_record(contract, record)
        except ContractViolation as exc:
            raise DecodeError("malformed_event", f"{contract.name}: {exc}") from exc
        return record
