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


def _get(summary: str, param: str | None = None) -> dict:
    op = {"summary": summary, "responses": {"200": {"description": "OK"}, "404": {"description": "unknown id"}}}
    if param:
        op["parameters"] = [{"name": param, "in": "path", "required": True, "schema": {"type": "string"}}]
    return {"get": op}


def document(scan_contract) -> dict:
    error = {"type": "object", "properties": {"error": {"type": "string"}, "field": {"type": ["string", "null"]},
                                              "message": {"type": "string"}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "meshstream worker API", "version": __version__},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                       "schemas": {"ScanRequest": scan_body_schema(scan_contract), "Error": error}},
        "paths": {
            "/scans": {"post": {
                "summary": "Request a scan of bucket/prefix; processing happens asynchronously",
                "security": [{"bearer": []}],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/ScanRequest"}}}},
                "responses": {
                    "202": {"description": "accepted; poll the Location header",
                            "headers": {"Location": {"schema": {"type": "string"}}}},
                    "400": {"description": "not a JSON object", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Error"}}}},
                    "401": {"description": "missing or wrong bearer token"},
                    "422": {"description": "a field is invalid (named in `field`)", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Error"}}}}}}},
            "/scans/{scan_id}": _get("Models discovered, runs by state and progress of a scan", "scan_id"),
            "/runs/{run_id}": _get("A workflow run from the changelog-backed run table (any worker answers)", "run_id"),
            "/models/{model_id}": _get("Latest run, metadata and result links (presigned) of a model", "model_id"),
            "/overview": _get("Runs by state and workflow, recent scans, failures and dead letters"),
            "/health": _get("Liveness: process alive, event loop responsive (503 when stalled)"),
            "/ready": _get("Readiness: partitions assigned and tables recovered (503 otherwise)"),
            "/metrics": _get("Prometheus metrics"),
            "/openapi.json": _get("This document"),
        },
    }
