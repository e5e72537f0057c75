"""docker-compose.yml is a valid Compose file (checked against the official Compose Specification
JSON schema, vendored under tests/vendor/compose_spec/) and sets only MESHSTREAM_* variables that
are real settings, so a renamed setting cannot leave the compose file silently misconfigured."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from streams.core.settings import STORAGE_ENV, Settings

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "tests/vendor/compose_spec/compose-spec.json").read_text())


def compose_errors(doc) -> list[str]:
    validator = jsonschema.Draft7Validator(SCHEMA)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def unknown_settings(doc) -> list[str]:
    known = Settings.env_names()
    out = []
    for name, service in doc.get("services", {}).items():
        env = service.get("environment") or {}
        names = env.keys() if isinstance(env, dict) else [item.split("=", 1)[0] for item in env]
        out += [f"{name}: {var}" for var in names
                if var.startswith("MESHSTREAM_") and var not in known and not STORAGE_ENV.match(var)]
    return out


def load_compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_file_matches_the_compose_specification():
    assert compose_errors(load_compose()) == []


def test_compose_sets_only_real_settings():
    doc = load_compose()
    assert unknown_settings(doc) == []
    worker_env = doc["services"]["worker"]["environment"]
    assert "MESHSTREAM_KAFKA_BOOTSTRAP" in worker_env  # the check looked at the real environment


def test_the_checks_catch_mistakes():
    doc = load_compose()
    doc["services"]["worker"]["restart"] = ["unless-stopped"]      # must be a string
    doc["services"]["worker"]["bogus_key"] = 1                        # not in the specification
    doc["services"]["cli"]["environment"]["MESHSTREAM_KAFKA_BOOTSTRAPS"] = "typo:9092"
    doc["services"]["cli"]["environment"]["MESHSTREAM_STORAGE_ARCHIVE_ENDPOINT"] = "s3:9000"
    errors = compose_errors(doc)
    assert any("restart" in e for e in errors) and any("bogus_key" in e for e in errors)
    assert unknown_settings(doc) == ["cli: MESHSTREAM_KAFKA_BOOTSTRAPS"]


def _dockerfile_args(path: str) -> dict[str, str]:
    import re

    text = (ROOT / path).read_text()
    return dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.M))


def test_images_build_the_versions_the_local_stack_runs():
    from stack import versions

    kafka = _dockerfile_args("deploy/images/kafka.Dockerfile")
    assert (kafka["KAFKA_VERSION"], kafka["SLF4J_RELOAD4J_VERSION"], kafka["RELOAD4J_VERSION"]) == (
        versions.KAFKA_VERSION, versions.SLF4J_RELOAD4J_VERSION, versions.RELOAD4J_VERSION)
    assert _dockerfile_args("deploy/images/registry.Dockerfile")["APICURIO_VERSION"] == versions.APICURIO_VERSION


def test_every_broker_is_a_voter_and_is_reachable_from_the_host_on_its_own_port():
    services = load_compose()["services"]
    brokers = {name: s for name, s in services.items() if name.startswith("kafka-")}
    assert len(brokers) == 3
    for name, svc in brokers.items():
        env = svc["environment"]
        node = env["KAFKA_CFG_NODE_ID"]
        assert f"{node}@{name}:9093" in env["KAFKA_CFG_CONTROLLER_QUORUM_VOTERS"].split(",")
        external = [a for a in env["KAFKA_CFG_ADVERTISED_LISTENERS"].split(",") if a.startswith("EXTERNAL://")][0]
        port = external.rsplit(":", 1)[1]
        assert f"EXTERNAL://:{port}" in env["KAFKA_CFG_LISTENERS"]
        assert svc["ports"] == [f"127.0.0.1:{port}:{port}"]
    bootstrap = services["worker"]["environment"]["MESHSTREAM_KAFKA_BOOTSTRAP"].split(",")
    assert sorted(bootstrap) == sorted(f"{name}:9092" for name in brokers)
    # the registry's journal is created by `init` (infinite retention) before the registry starts
    assert services["registry"]["depends_on"]["init"]["condition"] == "service_completed_successfully"
    from stack.services import REGISTRY_JOURNAL_TOPIC
    assert services["registry"]["environment"]["APICURIO_KAFKASQL_TOPIC"] == REGISTRY_JOURNAL_TOPIC
