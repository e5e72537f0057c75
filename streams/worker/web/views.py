"""HTTP views: thin adapters from requests to the read model, the run table and the runtime.

GET /runs/{id} uses Faust's table routing: a worker that does not own the run's partition
forwards the request to the one that does, so any worker answers.
"""
from __future__ import annotations

import asyncio
import datetime
import json
import logging
from pathlib import Path

from faust.web import View

from streams.worker import metrics
from streams.core.envelope import envelope
from streams.core.security import aiokafka_client_config
from streams.worker.web.auth import write_refusal
from streams.worker.web.openapi import document
from streams.worker.web.probes import Probes, stage_counts
from streams.worker.web.readmodel import SCAN_STATES, ReadModel
from streams.worker.web.runview import run_view
from streams.worker.web.scans import SCAN_CONTRACT, InvalidScan, scan_payload
from streams.core import names
from streams.core.policy import InPlaceRetry

log = logging.getLogger("meshstream.web")
STATIC = Path(__file__).parent / "static"
PRESIGN_TTL = datetime.timedelta(hours=1)


def register(app, rt) -> None:
    probes = Probes(app, rt)
    model = ReadModel(rt.manifest, rt.serde)
    scan_contract = rt.manifest.by_name(SCAN_CONTRACT)

    @app.task
    async def _probe_ticks():
        await probes.tick_forever()

    @app.task
    async def _read_model():
        retry = InPlaceRetry()
        while True:
            try:
                await model.run(aiokafka_client_config(rt.settings), group_id=rt.settings.app_id)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - reconnect; the API keeps serving what it has
                delay = retry.next_delay()
                log.exception("read model consumer stopped; restarting in %.1f s", delay)
                await asyncio.sleep(delay)

    @app.page("/metrics")
    class Metrics(View):
        async def get(self, request):
            body, ctype = metrics.exposition()
            return self.bytes(body, content_type=ctype.split(";")[0])

    @app.page("/health")
    class Health(View):
        async def get(self, request):
            ok, body = probes.health()
            return self.json(body, status=200 if ok else 503)

    @app.page("/ready")
    class Ready(View):
        async def get(self, request):
            ok, body = probes.ready()
            return self.json(body, status=200 if ok else 503)

    @app.page("/openapi.json")
    class OpenAPI(View):
        async def get(self, request):
            return self.json(document(scan_contract))

    @app.page("/scans")
    class Scans(View):
        async def get(self, request):
            """Scans, newest first, paged (?limit=&offset=), optionally ?state=discovering|running|finished|failed."""
            state = request.query.get("state") or None
            if state is not None and state not in SCAN_STATES:
                return self.json({"error": "invalid_query", "field": "state",
                                  "message": f"state must be one of {', '.join(SCAN_STATES)}"}, status=422)
            try:
                limit = min(200, max(1, int(request.query.get("limit", 20))))
                offset = max(0, int(request.query.get("offset", 0)))
            except ValueError:
                return self.json({"error": "invalid_query", "field": "limit",
                                  "message": "limit and offset must be integers"}, status=422)
            return self.json(model.scans_page(state, limit, offset))

        async def post(self, request):
            refusal = write_refusal(rt.settings.api_token, request.headers.get("Authorization"))
            if refusal:
                return self.json({"error": "unauthorized", "message": refusal}, status=401,
                                 headers={"WWW-Authenticate": "Bearer"})
            try:
                try:
                    body = json.loads(await request.text())
                except ValueError as exc:
                    raise InvalidScan(400, None, f"the body is not JSON: {exc}") from None
                from streams.orchestration.workflow import runnable

                payload = scan_payload(body, scan_contract, runnable, rt.settings.storage)
                env = envelope("api", correlation_id=payload["scan_id"])
                try:
                    value = rt.encode(SCAN_CONTRACT, {"envelope": env, "payload": payload})
                except ValueError as exc:
                    raise InvalidScan(422, None, str(exc)[:500]) from None
            except InvalidScan as exc:
                return self.json(exc.to_dict(), status=exc.status)
            await rt.send_encoded(SCAN_CONTRACT, payload["scan_id"], value)
            location = f"/scans/{payload['scan_id']}"
            return self.json({"scan_id": payload["scan_id"], "status": "accepted", "location": location},
                             status=202, headers={"Location": location})

    @app.page("/scans/{scan_id}")
    class Scan(View):
        async def get(self, request, scan_id):
            found = model.scan(scan_id)
            if found is None:
                return self.json({"error": "not_found", "message": f"no scan {scan_id} (yet)"}, status=404)
            return self.json(found)

    @app.page("/models/{model_id}")
    class Model(View):
        async def get(self, request, model_id):
            found = model.model(model_id)
            if found is None:
                return self.json({"error": "not_found", "message": f"no model {model_id}"}, status=404)
            latest = found.get("latest") or {}
            results = latest.get("results") or []
            loop = asyncio.get_running_loop()
            links = await loop.run_in_executor(None, _links, rt, results)
            analysis = await loop.run_in_executor(None, _document, rt, results, "print-analysis")
            return self.json({**found, "links": links, "print_analysis": analysis})

    @app.page("/overview")
    class Overview(View):
        async def get(self, request):
            return self.json(model.overview())

    @app.page("/stages")
    class Stages(View):
        async def get(self, request):
            """This worker's stage counters, plus (unless ?local=1) every peer's, summed: the peers
            are the workers the group's assignor lists as hosting table partitions."""
            mine = stage_counts()
            if request.query.get("local"):
                return self.json(mine)
            workers, unreachable = [str(app.conf.canonical_url)], []
            for url in _peers(app):
                try:
                    async with app.http_client.get(f"{url}/stages?local=1", timeout=5) as resp:
                        _add(mine, await resp.json())
                    workers.append(url)
                except Exception as exc:  # noqa: BLE001 - show what we have, name who is missing
                    unreachable.append(f"{url}: {exc}")
            return self.json({**mine, "workers": workers, "unreachable": unreachable})

    @app.page("/workflows")
    class Workflows(View):
        async def get(self, request):
            from streams.orchestration.workflow import default_workflow_name, default_workflows
            from streams.orchestration.diagrams import describe, mermaid

            return self.json({"default": default_workflow_name(),
                              "workflows": [describe(f) | {"mermaid": mermaid(f)} for f in default_workflows().values()]})

    @app.page("/dead-letters/{partition}/{offset}/replay")
    class Replay(View):
        async def post(self, request, partition, offset):
            refusal = write_refusal(rt.settings.api_token, request.headers.get("Authorization"))
            if refusal:
                return self.json({"error": "unauthorized", "message": refusal}, status=401,
                                 headers={"WWW-Authenticate": "Bearer"})
            found = model.dead_letter_bytes.get(f"{partition}:{offset}")
            if found is None:
                return self.json({"error": "not_found", "message": "not among the recent dead letters"}, status=404)
            topic, key, value = found
            try:
                rt.manifest.by_topic(topic)  # only the pipeline's own topics
            except KeyError:
                return self.json({"error": "refused", "message": f"{topic} is not a contract topic"}, status=422)
            if value is None:
                return self.json({"error": "refused", "message": "the dead letter kept no bytes"}, status=422)
            await rt.app.producer.send_and_wait(topic, key, value, partition=None, timestamp=None, headers=None)
            log.info("replayed dead letter %s:%s to %s", partition, offset, topic)
            return self.json({"replayed": f"{partition}:{offset}", "topic": topic}, status=202)

    @app.page("/dashboard")
    class Dashboard(View):
        async def get(self, request):
            return self.html((STATIC / "dashboard.html").read_text())

    runs = app.tables.get(names.RUNS_TABLE) if hasattr(app.tables, "get") else None
    if runs is None:
        return  # no orchestrator in this worker: /runs is answered by workers that have one

    @app.page("/runs/{run_id}")
    class Run(View):
        @app.table_route(table=runs, match_info="run_id")
        async def get(self, request, run_id):
            run = runs.get(run_id.encode())
            if run is None:
                return self.json({"error": "not_found", "message": f"no run {run_id}"}, status=404)
            return self.json({"run": run_view(run), "answered_by": str(app.conf.canonical_url)})


def _links(rt, results: list[dict]) -> list[dict]:
    """Result documents and images with presigned GET URLs (PNG thumbnails for the dashboard)."""
    out = []
    for ref in results:
        try:
            url = rt.storage(ref.get("storage") or "default").presigned_get_object(
                ref["bucket"], ref["key"], expires=PRESIGN_TTL)
        except Exception as exc:  # noqa: BLE001 - a link we cannot sign is reported, not fatal
            url = None
            log.debug("cannot presign %s: %s", ref.get("key"), exc)
        out.append({"key": ref["key"], "kind": "image" if ref["key"].endswith(".png") else "document", "url": url})
    return out


def _document(rt, results: list[dict], stage: str) -> dict | None:
    """A stage's JSON result document (e.g. the print analysis with its reasons), read from S3."""
    from processors.storage import get_bytes
    from streams.execution.context import stage_of_result

    for ref in results:
        if ref["key"].endswith(".json") and stage_of_result(ref) == stage:
            try:
                return json.loads(get_bytes(rt.storage(ref.get("storage") or "default"), ref["bucket"], ref["key"],
                                            rt.settings.max_object_bytes))
            except Exception as exc:  # noqa: BLE001 - the page shows what it can
                log.debug("cannot read %s: %s", ref["key"], exc)
    return None


def _peers(app) -> list[str]:
    me = str(app.conf.canonical_url).rstrip("/")
    try:
        hosts = app.router.tables_metadata()
    except Exception:  # noqa: BLE001 - no assignment yet
        return []
    return sorted({str(h).rstrip("/") for h in hosts} - {me})


def _add(total: dict, other: dict) -> None:
    """Sum another worker's stage_counts() into `total`."""
    for stage, row in (other.get("stages") or {}).items():
        mine = total["stages"].setdefault(stage, {"in": 0, "completed": 0, "failed": 0, "dead_letters": 0,
                                                  "failed_by_code": {}})
        for k in ("in", "completed", "failed", "dead_letters"):
            mine[k] += row.get(k, 0)
        for code, n in (row.get("failed_by_code") or {}).items():
            mine["failed_by_code"][code] = mine["failed_by_code"].get(code, 0) + n
    for topic, lag in (other.get("lag_by_topic") or {}).items():
        total["lag_by_topic"][topic] = total["lag_by_topic"].get(topic, 0) + lag
