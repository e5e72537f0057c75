"""Peak resident memory of a process tree, sampled from /proc (Linux), no extra dependency.

Why sampled and summed: the worker may run processors in child processes; the kernel's VmHWM
covers one process only, so a sampler adds the tree's current RSS every 200 ms and keeps the
maximum (reported beside the worker's own VmHWM)."""
from __future__ import annotations

import os
import threading
from pathlib import Path


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    return out


def tree_rss_kb(pid: int) -> int:
    pids, total = [pid], 0
    while pids:
        p = pids.pop()
        total += _status_kb(p, "VmRSS")
        pids += _children(p)
    return total


class PeakRss:
    def __init__(self, pid: int, interval: float = 0.2):
        self.pid, self.interval, self.peak_kb = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_kb = max(self.peak_kb, tree_rss_kb(self.pid))

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_kb = max(self.peak_kb, _status_kb(self.pid, "VmHWM"))
