"""A bounded, fsynced, on-disk write-ahead spool for records a publisher could not deliver yet.

Why: `meshstream scan` and `streams.client.Publisher` run in services that may outlive a broker
outage (or start during one). A record is written here *before* it is produced and removed only
once the broker acknowledged it, so a publish that returns is never lost: if the broker is down
the record waits on disk and is delivered by the next publish (or `meshstream spool deliver`).

The spooled bytes are the already-encoded Avro record, so the event keeps its `event_id`; should a
record be delivered and the process die before the entry is removed, the redelivery carries the
same event id and consumers drop it (they dedup by event id). Each entry is one small file written
to a temporary name, fsynced, renamed and the directory fsynced: a crash leaves either the whole
entry or nothing. The spool refuses new entries beyond its bounds (`SpoolFullError`) rather than
dropping old ones. One spool directory serves one Kafka cluster (the caller keys it by bootstrap
servers) so records never drain into another cluster. A lock file serialises concurrent drains.
"""
from __future__ import annotations

import base64
import fcntl
import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator


class SpoolFullError(RuntimeError):
    """The spool reached its record or byte bound; the publish is refused, nothing is dropped."""


@dataclass(frozen=True)
class SpooledRecord:
    path: Path
    topic: str
    key: bytes
    value: bytes
    event_id: str


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    SUFFIX = ".rec"

    def __init__(self, directory: Path | str, max_records: int = 10_000, max_bytes: int = 64 * 1024 * 1024):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_records, self.max_bytes = max_records, max_bytes
        self._seq = 0

    def _entries(self) -> list[Path]:
        return sorted(self.dir.glob("*" + self.SUFFIX))

    def __len__(self) -> int:
        return len(self._entries())

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self._entries())

    def append(self, topic: str, key: bytes, value: bytes, event_id: str) -> SpooledRecord:
        """Durably store one record (returns once it is on disk)."""
        data = json.dumps({"topic": topic, "key": base64.b64encode(key).decode(),
                           "value": base64.b64encode(value).decode(), "event_id": event_id}).encode()
        entries = self._entries()
        if len(entries) >= self.max_records or sum(p.stat().st_size for p in entries) + len(data) > self.max_bytes:
            raise SpoolFullError(f"publisher spool {self.dir} is full ({len(entries)} records, "
                                 f"bounds {self.max_records} records / {self.max_bytes} bytes): broker unreachable too long")
        self._seq += 1
        # time first so entries sort in publish order across processes; pid + counter keep names unique
        name = f"{time.time_ns():020d}-{os.getpid()}-{self._seq:06d}"
        tmp = self.dir / (name + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        final = self.dir / (name + self.SUFFIX)
        os.replace(tmp, final)
        _fsync_dir(self.dir)
        return SpooledRecord(final, topic, key, value, event_id)

    def pending(self) -> list[SpooledRecord]:
        """Every stored record, oldest first."""
        out = []
        for path in self._entries():
            try:
                doc = json.loads(path.read_bytes())
            except FileNotFoundError:  # removed by a concurrent drain
                continue
            out.append(SpooledRecord(path, doc["topic"], base64.b64decode(doc["key"]),
                                     base64.b64decode(doc["value"]), doc["event_id"]))
        return out

    def remove(self, record: SpooledRecord) -> None:
        """Forget a record the broker acknowledged."""
        try:
            record.path.unlink()
        except FileNotFoundError:
            return
        _fsync_dir(self.dir)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive across processes: one drain at a time, so two publishers never both send an entry."""
        with open(self.dir / ".lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def reject(self, record: SpooledRecord) -> None:
        """Move a record the broker refused for good out of the way (kept, never silently dropped)."""
        target = self.dir / "rejected"
        target.mkdir(exist_ok=True)
        try:
            os.replace(record.path, target / record.path.name)
        except FileNotFoundError:
            return
        _fsync_dir(self.dir)
