"""Run inside the fresh virtualenv that holds only the meshstream-client wheel and its
dependencies (tests/integration/test_python_client.py): one JSON command in argv, one JSON
answer on stdout. It imports nothing of the repository; the venv could not import it anyway."""
from __future__ import annotations

import json
import sys
import time


def imports() -> dict:
    found = {}
    for name in ("streams", "registry", "processors", "stack", "schemas", "meshstream"):
        try:
            __import__(name)
            found[name] = "imported"
        except ImportError as exc:
            found[name] = type(exc).__name__
    import meshstream_client

    return {"packages": found, "client": meshstream_client.__file__, "version": meshstream_client.__version__}


def scan(args: dict) -> dict:
    from meshstream_client import Publisher

    with Publisher(service="pyclient-venv-test") as pub:
        return {"scan_id": pub.scan(args["bucket"], args["prefix"], options=args.get("options"))}


def wait(args: dict) -> dict:
    """Read terminal events with the default group until every expected scan id has its count."""
    from meshstream_client import DEFAULT_GROUP, Subscriber

    expected: dict[str, int] = args["expected"]
    got: dict[str, list] = {k: [] for k in expected}
    others: list[str] = []
    deadline = time.monotonic() + args["timeout"]
    with Subscriber() as sub:
        while time.monotonic() < deadline and any(len(got[k]) < n for k, n in expected.items()):
            for ev in sub.events(timeout=max(deadline - time.monotonic(), 1), idle_timeout=5):
                p = ev.payload  # the generated class: attribute access, enums, datetimes
                if p.scan_id not in got:
                    others.append(p.scan_id)
                    continue
                got[p.scan_id].append({
                    "contract": ev.contract, "type": type(ev.event).__name__, "event_id": ev.event_id,
                    "key": ev.key, "name": p.name,
                    "occurred_at_tz": str(ev.event.envelope.occurred_at.tzinfo),
                    "triangles": p.metadata.triangles if ev.contract == "processing.completed" else None,
                    "volume": p.metadata.volume if ev.contract == "processing.completed" else None,
                    "watertight": p.metadata.watertight if ev.contract == "processing.completed" else None,
                    "error_code": p.error.code if ev.contract == "processing.failed" else None,
                })
                if all(len(got[k]) >= n for k, n in expected.items()):
                    break
        sub.commit()
        return {"events": got, "others": others, "group": sub.group_id, "default_group": DEFAULT_GROUP,
                "duplicates": sub.duplicates, "skipped": sub.skipped}


def errors(args: dict) -> dict:
    """What a service sees with the registry down and with the broker down."""
    from meshstream_client import MeshstreamError, Publisher, Subscriber

    out = {}
    for name, make, call in (
        ("registry_down", lambda: Publisher(registry_url=args["dead_url"]), lambda c: c.scan("models", "x/")),
        ("broker_down_publish", lambda: Publisher(kafka_bootstrap=args["dead_broker"], publish_timeout=2),
         lambda c: c.scan("models", "x/")),
        ("broker_down_events", lambda: Subscriber(kafka_bootstrap=args["dead_broker"]),
         lambda c: list(c.events(timeout=5))),
    ):
        t = time.monotonic()
        try:
            result = call(make())
            out[name] = {"raised": None, "result": repr(result)}
        except MeshstreamError as exc:
            out[name] = {"raised": type(exc).__name__, "base": "MeshstreamError", "message": str(exc)}
        except Exception as exc:  # noqa: BLE001 -- reported, the test fails on it
            out[name] = {"raised": type(exc).__name__, "base": None, "message": str(exc)}
        out[name]["seconds"] = round(time.monotonic() - t, 2)
    return out


if __name__ == "__main__":
    command = json.loads(sys.argv[1])
    print(json.dumps({"imports": imports, "scan": scan, "wait": wait, "errors": errors}[command.pop("do")](
        *([command] if command else []))))
