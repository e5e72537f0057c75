"""The console's front-end packages, vendored from npm by `make install` (no CDN at run time).

streams/worker/web/console/package.json pins them; `npm ci` puts them in its node_modules, and
the worker serves exactly these files (a fixed map: no path from a request reaches the disk)."""
from __future__ import annotations

from pathlib import Path

NODE_MODULES = Path(__file__).parent / "console" / "node_modules"
FILES = {
    "preact.module.js": "preact/dist/preact.module.js",
    "hooks.module.js": "preact/hooks/dist/hooks.module.js",
    "htm.module.js": "htm/dist/htm.module.js",
    "mermaid.min.js": "mermaid/dist/mermaid.min.js",
}


def vendor_file(name: str) -> Path | None:
    rel = FILES.get(name)
    if rel is None:
        return None
    path = NODE_MODULES / rel
    return path if path.is_file() else None
