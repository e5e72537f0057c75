"""The OpenAPI 3.1 document of the worker's HTTP API.

The scan body's schema is derived from the scan contract's payload fields (the manifest's
schema), so the API document and the event contract cannot drift apart.
"""
from __future__ import annotations

from streams.core.version import __version__


def _json_type(avro_type) -> dict:
    if isinstance(avro_type, list):
        return {"anyOf": [_json_type(t) for t in avro_type]}
    if isinstance(avro_type, dict):
        if avro_type.get("type") == "enum":
            return {"type": "string", "enum": list(avro_type["symbols"])}
        if avro_type.get("type") in ("record", "map"):
            return {"type": "object"}
        return _json_type(avro_type.get("type"))
    return {"null": {"type": "null"}, "string": {"type": "string"}, "boolean": {"type": "boolean"},
            "int": {"type": "integer"}, "long": {"type": "integer"}, "float": {"type": "number"},
            "double": {"type": "number"}}.get(avro_type, {"type": "object"})


def scan_body_schema(contract) -> dict:
    props, required = {}, []
    for f in contract.payload_fields:
        props[f["name"]] = {**_json_type(f["type"]), **({"description": f["doc"]} if f.get("doc") else {})}
        if "default" not in f and f["name"] not in ("scan_id", "storage"):
            required.append(f["name"])
    return {"type": "object", "properties": props, "required": required, "additionalProperties": False}


def _json(schema: str | dict, description: str = "OK") -> dict:
    ref = {"$ref": f"#/components/schemas/{schema}"} if isinstance(schema, str) else schema
    return {"description": description, "content": {"application/json": {"schema": ref}}}


def _path_param(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _get(summary: str, schema: str | dict, *params: str, not_found: bool = True, extra: dict | None = None,
         query: list | None = None) -> dict:
    responses = {"200": _json(schema), **(extra or {})}
    if not_found:
        responses["404"] = _json("Error", "unknown id")
    op = {"summary": summary, "responses": responses}
    if params or query:
        op["parameters"] = [_path_param(p) for p in params] + (query or [])
    return {"get": op}


_STR, _INT, _NUM, _BOOL = {"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "boolean"}
_TIME = {"type": ["string", "null"], "format": "date-time"}
_SECS = {"type": ["number", "null"], "description": "seconds"}
_OBJ = {"type": "object"}
_ERRINFO = {"type": ["object", "null"], "properties": {"code": _STR, "message": _STR}}


def _obj(required: list[str] | None = None, **props) -> dict:
    out = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    return out


def _schemas() -> dict:
    model_row = _obj(model_id=_STR, run_id=_STR, name=_STR, state=_STR, failed_stage={"type": ["string", "null"]},
                     error=_ERRINFO, source={"type": ["string", "null"], "description": "s3://bucket/key of the model's first file"},
                     reason={"type": ["string", "null"], "description": "one line naming the source object, stage and cause"},
                     finished_at=_TIME)
    scan = _obj(["scan_id", "status", "progress", "runs_by_state"],
                scan_id=_STR, status={"type": "string", "enum": ["discovering", "running", "finished", "failed"]},
                requested=_BOOL, bucket=_STR, prefix=_STR, workflow=_STR, owner_id={"type": ["string", "null"]},
                storage=_STR, source=_STR, requested_at=_TIME, finished_at=_TIME, duration_seconds=_SECS, age_seconds=_SECS,
                models_discovered=_INT,
                models_found={"type": ["integer", "null"], "description": "set once discovery finished (0 included)"},
                runs_by_state={"type": "object", "additionalProperties": _INT},
                progress=_obj(done=_INT, total=_INT),
                error={"type": ["object", "null"], "properties": {"code": _STR, "message": _STR, "dead_letter": _STR},
                       "description": "why discovery refused the scan (its dead letter)"},
                models={"type": "array", "items": model_row})
    step = _obj(status={"type": "string", "enum": ["pending", "requested", "retry_wait", "completed", "failed", "skipped"]},
                attempts=_INT, requested_at=_TIME, finished_at=_TIME, due_at=_TIME, duration_seconds=_SECS,
                error=_ERRINFO, reason={"type": "string", "description": "the error's first line, short"},
                result={"type": ["object", "null"]}, processor_version={"type": ["string", "null"]})
    run = _obj(run_id=_STR, model_id=_STR, scan_id=_STR, workflow=_STR, name=_STR, started_at=_TIME, finished_at=_TIME,
               duration_seconds=_SECS, terminal={"type": ["string", "null"]}, failed_stage={"type": ["string", "null"]},
               error=_ERRINFO, source={"type": ["string", "null"]}, reason={"type": ["string", "null"]},
               steps={"type": "object", "additionalProperties": step})
    dead_letter = _obj(id=_STR, partition=_INT, offset=_INT, at=_TIME, scan_id={"type": ["string", "null"]},
                       stage=_STR, code=_STR, message=_STR, key={"type": ["string", "null"]}, original_topic=_STR,
                       original_partition=_INT, original_offset=_INT,
                       replayed_as={"type": ["string", "null"], "description": "the dead letter its replay became"},
                       replay_of={"type": ["string", "null"]})
    failure = _obj(run_id=_STR, model_id=_STR, scan_id=_STR, name=_STR, workflow=_STR, failed_stage=_STR,
                   error=_ERRINFO, at=_TIME, source={"type": ["string", "null"]}, reason=_STR)
    stage_row = _obj(stage=_STR, **{"in": _NUM}, completed=_NUM, failed=_NUM, dead_letters=_NUM,
                     failed_by_code={"type": "object", "additionalProperties": _NUM}, rate_per_second=_NUM,
                     p50_seconds=_SECS, p95_seconds=_SECS, failure_rate={"type": ["number", "null"]})
    stage_counts = _obj(**{"in": _NUM}, completed=_NUM, failed=_NUM, dead_letters=_NUM, rate_per_second=_NUM,
                        failed_by_code={"type": "object", "additionalProperties": _NUM},
                        buckets={"type": "object", "additionalProperties": _NUM,
                                 "description": "cumulative duration histogram, le -> count"})
    scan_page = _obj(total=_INT, offset=_INT, limit=_INT, scans={"type": "array", "items": {"$ref": "#/components/schemas/Scan"}})
    return {
        "Scan": scan, "ScanPage": scan_page, "Run": _obj(run=run, answered_by=_STR), "DeadLetter": dead_letter,
        "Failure": failure,
        "Model": _obj(model_id=_STR, name=_STR, runs={"type": "array", "items": _STR}, files={"type": ["array", "null"]},
                      latest={"type": ["object", "null"], "description": "the latest terminal event's payload, with state and at"},
                      source={"type": ["string", "null"]}, reason={"type": ["string", "null"]},
                      links={"type": "array", "items": _obj(key=_STR, name=_STR, kind={"type": "string", "enum": ["image", "document"]},
                                                             label=_STR, url=_STR)},
                      print_analysis={"type": ["object", "null"]}),
        "Overview": _obj(runs_by_state=_OBJ, runs_by_workflow=_OBJ, scans={"type": "array", "items": {"$ref": "#/components/schemas/Scan"}},
                         failures={"type": "array", "items": {"$ref": "#/components/schemas/Failure"}},
                         dead_letters={"type": "array", "items": {"$ref": "#/components/schemas/DeadLetter"}},
                         dead_letter_total=_INT, records_read=_INT),
        "Stages": _obj(stages={"type": "object", "additionalProperties": stage_counts},
                       lag_by_topic={"type": "object", "additionalProperties": _NUM}, ready=_NUM,
                       workers={"type": "array", "items": _STR}, unreachable={"type": "array", "items": _STR}),
        "Summary": _obj(["updated_at", "cards", "stages", "scans"], updated_at=_TIME,
                        cards=_obj(running=_INT, completed=_INT, failed=_INT, dead_letters=_INT, lag=_NUM,
                                   workers_ready=_INT, workers=_INT, workers_unreachable={"type": "array", "items": _STR}),
                        stages={"type": "array", "items": stage_row}, lag_by_topic=_OBJ,
                        scans={"$ref": "#/components/schemas/ScanPage"},
                        failures={"type": "array", "items": {"$ref": "#/components/schemas/Failure"}},
                        dead_letters={"type": "array", "items": {"$ref": "#/components/schemas/DeadLetter"}}),
        "Workflows": _obj(default=_STR, workflows={"type": "array", "items": _obj(
            name=_STR, status=_STR, description=_STR, mermaid=_STR,
            steps={"type": "array", "items": _obj(stage=_STR, needs={"type": "array", "items": _STR}, blocking=_BOOL,
                                                  timeout_seconds=_NUM, max_attempts=_INT)})}),
        "Health": _obj(status=_STR, seconds_since_tick=_NUM, event_loop_lag_seconds=_NUM),
        "Ready": _obj(status=_STR, partitions_assigned=_INT, tables_recovered=_BOOL),
    }


_STATE_Q = {"name": "state", "in": "query", "required": False,
            "schema": {"type": "string", "enum": ["discovering", "running", "finished", "failed"]}}
_PAGE_Q = [{"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
           {"name": "offset", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0}}]


def document(scan_contract) -> dict:
    error = {"type": "object", "properties": {"error": {"type": "string"}, "field": {"type": ["string", "null"]},
                                              "message": {"type": "string"}}}
    text = {"description": "OK", "content": {"text/html": {"schema": {"type": "string"}}}}
    invalid_query = {"422": _json("Error", "an invalid query parameter (named in `field`)")}
    return {
        "openapi": "3.1.0",
        "info": {"title": "meshstream worker API", "version": __version__},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                       "schemas": {"ScanRequest": scan_body_schema(scan_contract), "Error": error, **_schemas()}},
        "paths": {
            "/scans": {"post": {
                "summary": "Request a scan of bucket/prefix; processing happens asynchronously",
                "security": [{"bearer": []}],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/ScanRequest"}}}},
                "responses": {
                    "202": {"description": "accepted; poll the Location header",
                            "headers": {"Location": {"schema": {"type": "string"}}},
                            "content": {"application/json": {"schema": {"type": "object", "properties": {
                                "scan_id": _STR, "status": _STR, "location": _STR}}}}},
                    "400": _json("Error", "not a JSON object"),
                    "401": _json("Error", "missing or wrong bearer token"),
                    "422": _json("Error", "a field is invalid (named in `field`; an unknown `storage` included)")}},
                **_get("Scans, newest first, paged and optionally filtered by state (without their models)", "ScanPage",
                       not_found=False, extra=invalid_query, query=[_STATE_Q, *_PAGE_Q])},
            "/scans/{scan_id}": _get("A scan: status, times, models found, progress and every model's outcome", "Scan", "scan_id"),
            "/runs/{run_id}": _get("A workflow run from the changelog-backed run table (any worker answers), "
                                   "with ISO times and step durations", "Run", "run_id"),
            "/models/{model_id}": _get("Latest run, metadata, print analysis and result links (served by the worker)",
                                       "Model", "model_id"),
            "/models/{model_id}/results/{index}": {"get": {
                "summary": "A result object (thumbnail PNG, JSON document) of the model's latest run, read by the worker",
                "parameters": [_path_param("model_id"), _path_param("index")],
                "responses": {"200": {"description": "the object", "content": {"image/png": {"schema": {"type": "string", "format": "binary"}},
                                                                              "application/json": {"schema": _OBJ}}},
                              "404": _json("Error", "no such model or result"),
                              "502": _json("Error", "storage could not be read")}}},
            "/overview": _get("Runs by state and workflow, recent scans, failures and dead letters", "Overview", not_found=False),
            "/console/summary": _get("Everything the console's overview shows, in one response: cards, per-stage "
                                     "rate/p50/p95/failure rate (all workers), a page of scans, failures, dead letters",
                                     "Summary", not_found=False, extra=invalid_query,
                                     query=[_STATE_Q, _PAGE_Q[1]]),
            "/stages": _get("Stage counters, duration buckets, rates and lag, summed over every worker (?local=1: this one)",
                            "Stages", not_found=False),
            "/workflows": _get("Every workflow's steps and its Mermaid graph", "Workflows", not_found=False),
            "/dead-letters/{partition}/{offset}/replay": {"post": {
                "summary": "Re-publish a recent dead letter's original record to its topic",
                "security": [{"bearer": []}],
                "parameters": [_path_param("partition"), _path_param("offset")],
                "responses": {"202": {"description": "replayed", "content": {"application/json": {"schema": _OBJ}}},
                              "401": _json("Error", "missing or wrong bearer token"),
                              "404": _json("Error", "not among the recent dead letters"),
                              "422": _json("Error", "not a contract topic, or no bytes kept")}}},
            "/health": _get("Liveness: process alive, event loop responsive (503 when stalled)", "Health", not_found=False,
                            extra={"503": _json("Health", "stalled")}),
            "/ready": _get("Readiness: partitions assigned and tables recovered (503 otherwise)", "Ready", not_found=False,
                           extra={"503": _json("Ready", "not ready")}),
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {
                "200": {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
            "/openapi.json": _get("This document", _OBJ, not_found=False),
            "/": {"get": {"summary": "The console (HTML; its script and vendored packages below)", "responses": {"200": text}}},
            "/dashboard": {"get": {"summary": "The old dashboard's address: redirects to the console",
                                   "responses": {"301": {"description": "to /", "headers": {"Location": {"schema": _STR}}}}}},
            "/console/app.js": {"get": {"summary": "The console's script", "responses": {
                "200": {"description": "OK", "content": {"text/javascript": {"schema": {"type": "string"}}}}}}},
            "/console/vendor/{name}": {"get": {
                "summary": "A front-end package file vendored from npm at install (preact, htm, mermaid)",
                "parameters": [_path_param("name")],
                "responses": {"200": {"description": "OK", "content": {"text/javascript": {"schema": {"type": "string"}}}},
                              "404": _json("Error", "not a vendored file, or `make install` was not run")}}},
        },
    }
