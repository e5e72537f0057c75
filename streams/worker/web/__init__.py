"""The worker's web server: metrics, health/readiness, the HTTP API and the console (at /).

Served by Faust's own web server (one per worker, `MESHSTREAM_WEB_BIND`:`MESHSTREAM_WEB_PORT`,
loopback by default); `register(app, runtime)` attaches every view.
"""
from streams.worker.web.views import register

__all__ = ["register"]
