"""S3 clients by storage-connection name, created on first use, one set per process.

Events name a storage connection ("default", or one configured as MESHSTREAM_STORAGE_<NAME>_*),
never credentials; each process (the worker, each processor pool process) resolves the names
against its own settings and keeps one client per name. A request's round trip lets another
step of the process compute meanwhile (streams/execution/turns.py).
"""
from __future__ import annotations

import threading

from streams.core.settings import Settings
from streams.execution.turns import TurnYieldingPoolManager


class Storages:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._clients: dict = {}
        self._lock = threading.Lock()

    def __call__(self, name: str):
        client = self._clients.get(name)
        if client is None:
            from processors.storage import connect

            with self._lock:
                client = self._clients.get(name)
                if client is None:
                    conn = self.settings.storage(name)
                    client = self._clients[name] = connect(conn.endpoint, conn.access_key, conn.secret_key, conn.secure,
                                                           conn.ca_location, pool_manager=TurnYieldingPoolManager)
        return client
