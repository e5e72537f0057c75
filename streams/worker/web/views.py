"""HTTP views: thin adapters from requests to the read model, the run table and the runtime.

GET /runs/{id} uses Faust's table routing: a worker that does not own the run's partition
forwards the request to the one that does, so any worker answers.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
from pathlib import Path

from faust.web import View

from streams.worker import metrics
from streams.core.envelope import envelope
from streams.core.security import aiokafka_client_config
from streams.worker.web.auth import write_refusal
from streams.worker.web.openapi import document
from streams.worker.web.stagestats import add as add_stage_counts, local as local_stage_counts
from streams.worker.web.probes import Probes
from streams.worker.web.readmodel import SCAN_STATES, ReadModel
from streams.worker.web.runview import run_view
from streams.worker.web.summary import summary
from streams.worker.web.vendor import vendor_file
from streams.worker.web.scans import SCAN_CONTRACT, InvalidScan, scan_payload
from streams.core import names
from streams.core.policy import InPlaceRetry

log = logging.getLogger("meshstream.web")
STATIC = Path(__file__).parent / "static"


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
            links = _links(model_id, results)
            analysis = await loop.run_in_executor(None, _document, rt, results, "print-analysis")
            return self.json({**found, "links": links, "print_analysis": analysis})

    @app.page("/models/{model_id}/results/{index}")
    class Result(View):
        async def get(self, request, model_id, index):
            """A result object of the model's latest run (thumbnail PNG, JSON document), read from
            storage by the worker."""
            found = model.model(model_id)
            results = ((found or {}).get("latest") or {}).get("results") or []
            if not index.isdigit() or int(index) >= len(results):
                return self.json({"error": "not_found", "message": f"model {model_id} has no result {index}"}, status=404)
            ref = results[int(index)]
            try:
                body = await asyncio.get_running_loop().run_in_executor(None, _result_bytes, rt, ref)
            except Exception as exc:  # noqa: BLE001 - storage unreachable or the object gone
                return self.json({"error": "unavailable", "message": f"cannot read {ref['key']}: {exc}"[:500]}, status=502)
            ctype = "image/png" if ref["key"].endswith(".png") else "application/json" if ref["key"].endswith(".json") \
                else "application/octet-stream"
            return self.bytes(body, content_type=ctype, headers={"Cache-Control": "max-age=3600"})

    @app.page("/console/summary")
    class Summary(View):
        async def get(self, request):
            """Everything the console's overview shows, in one response (one request per refresh)."""
            state = request.query.get("state") or None
            if state is not None and state not in SCAN_STATES:
                return self.json({"error": "invalid_query", "field": "state",
                                  "message": f"state must be one of {', '.join(SCAN_STATES)}"}, status=422)
            try:
                offset = max(0, int(request.query.get("offset", 0)))
            except ValueError:
                return self.json({"error": "invalid_query", "field": "offset", "message": "offset must be an integer"},
                                 status=422)
            return self.json(summary(model, await cluster_stages(), state, offset))

    @app.page("/")
    class Console(View):
        async def get(self, request):
            return self.html((STATIC / "console.html").read_text())

    @app.page("/console/app.js")
    class ConsoleApp(View):
        async def get(self, request):
            return self.bytes((STATIC / "console.js").read_bytes(), content_type="text/javascript")

    @app.page("/console/vendor/{name}")
    class Vendor(View):
        async def get(self, request, name):
            path = vendor_file(name)
            if path is None:
                return self.json({"error": "not_found", "message": f"no vendored file {name}; run `make install`"},
                                 status=404)
            return self.bytes(path.read_bytes(), content_type="text/javascript",
                              headers={"Cache-Control": "max-age=86400"})

    @app.page("/overview")
    class Overview(View):
        async def get(self, request):
            return self.json(model.overview())

    async def cluster_stages() -> dict:
        mine = local_stage_counts()
        workers, unreachable = [str(app.conf.canonical_url)], []
        for url in _peers(app):
            try:
                async with app.http_client.get(f"{url}/stages?local=1", timeout=5) as resp:
                    add_stage_counts(mine, await resp.json())
                workers.append(url)
            except Exception as exc:  # noqa: BLE001 - show what we have, name who is missing
                unreachable.append(f"{url}: {exc}")
        return {**mine, "workers": workers, "unreachable": unreachable}

    @app.page("/stages")
    class Stages(View):
        async def get(self, request):
            """This worker's stage counters, plus (unless ?local=1) every peer's, summed: the peers
            are the workers the group's assignor lists as hosting table partitions."""
            if request.query.get("local"):
                return self.json(local_stage_counts())
            return self.json(await cluster_stages())

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
            # the CLI's rules and summary (streams/client/replay.py): a record already back on its topic is a no-op
            from streams.client.replay import replay_dead_letters

            summary = await asyncio.to_thread(replay_dead_letters, rt.settings, at=(int(partition), int(offset)))
            log.info("dead letter %s:%s to %s: %d replayed, %d already replayed", partition, offset, topic,
                     len(summary.started), len(summary.already_started))
            return self.json({"replayed": f"{partition}:{offset}", "topic": topic, "summary": summary.as_dict()},
                             status=202 if summary.started else 200)

    @app.page("/dashboard")
    class Dashboard(View):
        async def get(self, request):
            """The old dashboard's address: the console replaced it."""
            return self.html("", status=301, headers={"Location": "/"})

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


def _links(model_id: str, results: list[dict]) -> list[dict]:
    """Result documents and images as paths on this worker (GET /models/{id}/results/{n}), so they
    load from any host the browser can reach the worker on; presigned URLs named the worker's S3
    address, which a browser on another host cannot reach."""
    out = []
    for n, ref in enumerate(results):
        name = ref["key"].rsplit("/", 1)[-1]
        out.append({"key": ref["key"], "name": name, "kind": "image" if name.endswith(".png") else "document",
                    "label": _label(name), "url": f"/models/{model_id}/results/{n}"})
    return out


def _label(name: str) -> str:
    """`front_256.png` -> `front, 256 px`; `turntable.png` -> `turntable`: what the console shows
    under an image (the 256 and 512 px renders were unlabelled look-alikes)."""
    words = re.split(r"[-_]", name.rsplit(".", 1)[0])
    if len(words) > 1 and words[-1].isdigit():
        return f"{' '.join(words[:-1])}, {words[-1]} px"
    return " ".join(words)


def _result_bytes(rt, ref: dict) -> bytes:
    from processors.storage import get_bytes

    return get_bytes(rt.storage(ref.get("storage") or "default"), ref["bucket"], ref["key"], rt.settings.max_object_bytes)


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
