"""Headless Chromium (Debian's `chromium` package, installed by `make install`) for page tests.

`dom` and `screenshot` use the command line (`--dump-dom`, `--screenshot` after a virtual-time
budget). Clicking through pages needs a driver: `browser()` drives the same Debian Chromium with
Playwright (its Python package only; no browser download). A missing browser fails the test
loudly instead of skipping it.
"""
from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from pathlib import Path


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise RuntimeError("chromium is not installed: run `make install` (it installs Debian's chromium package)")
    return path


def _run(url: str, action: list[str], budget_ms: int) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="meshstream-chromium-") as profile:
        argv = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--hide-scrollbars", f"--user-data-dir={profile}", "--window-size=1280,2200",
                f"--virtual-time-budget={budget_ms}", *action, url]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=90)
    if proc.returncode != 0:
        raise RuntimeError(f"chromium failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc


def dom(url: str, budget_ms: int = 6000) -> str:
    """The page's DOM after its scripts ran for `budget_ms` of virtual time."""
    return _run(url, ["--dump-dom"], budget_ms).stdout


def screenshot(url: str, path: Path, budget_ms: int = 6000) -> Path:
    _run(url, [f"--screenshot={path}"], budget_ms)
    if not path.exists() or path.stat().st_size == 0:
        raise RuntimeError(f"chromium wrote no screenshot to {path}")
    return path


@contextlib.contextmanager
def browser(width: int = 1400, height: int = 1000):
    """A Playwright page in headless Debian Chromium; console errors are collected in `page.errors`."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        try:
            page = b.new_page(viewport={"width": width, "height": height})
            page.errors = []
            page.on("pageerror", lambda exc: page.errors.append(str(exc)))
            yield page
        finally:
            b.close()
