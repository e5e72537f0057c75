"""The Python client package stands alone: it imports only the standard library, confluent-kafka
and fastavro, and reads the same MESHSTREAM_* variables as the workers, no others."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from meshstream_client import ConfigurationError, Settings
from meshstream_client.security import kafka_config, registry_config

SRC = Path(__file__).resolve().parents[3] / "clients" / "python" / "src" / "meshstream_client"
ALLOWED = {"meshstream_client", "confluent_kafka", "fastavro"} | set(sys.stdlib_module_names)


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level:
            roots.add(node.module.split(".")[0])
    return roots


def test_the_package_imports_nothing_but_the_stdlib_confluent_kafka_and_fastavro():
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 20  # the hand-written runtime and the generated modules
    foreign = {f"{p.relative_to(SRC)}: {root}" for p in files for root in _imported_roots(p) - ALLOWED}
    assert foreign == set()


def test_settings_read_the_workers_variables_and_no_others():
    from streams.core.settings import Settings as WorkerSettings

    assert Settings.env_names() <= WorkerSettings.env_names()
    assert {"MESHSTREAM_KAFKA_BOOTSTRAP", "MESHSTREAM_SCHEMA_REGISTRY_URL", "MESHSTREAM_KAFKA_SASL_PASSWORD_FILE",
            "MESHSTREAM_KAFKA_SECURITY_PROTOCOL"} <= Settings.env_names()


def test_arguments_win_over_the_environment_and_secrets_come_from_files(tmp_path, monkeypatch):
    pw = tmp_path / "pw"
    pw.write_text("from-a-file\n")
    monkeypatch.setenv("MESHSTREAM_KAFKA_BOOTSTRAP", "env-host:9092")
    monkeypatch.setenv("MESHSTREAM_KAFKA_SECURITY_PROTOCOL", "sasl_ssl")
    monkeypatch.setenv("MESHSTREAM_KAFKA_SASL_USERNAME", "svc")
    monkeypatch.setenv("MESHSTREAM_KAFKA_SASL_PASSWORD_FILE", str(pw))
    s = Settings(kafka_bootstrap="arg-host:9093")
    assert (s.kafka_bootstrap, s.kafka_security_protocol, s.kafka_sasl_password) == ("arg-host:9093", "SASL_SSL", "from-a-file")
    assert "from-a-file" not in repr(s)
    assert Settings.from_env({"MESHSTREAM_KAFKA_BOOTSTRAP": "mapped:1"}).kafka_bootstrap == "mapped:1"


@pytest.mark.parametrize("env, message", [
    ({"MESHSTREAM_KAFKA_SECURITY_PROTOCOL": "TLS"}, "one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"),
    ({"MESHSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "MESHSTREAM_KAFKA_SASL_USERNAME"),
    ({"MESHSTREAM_SCHEMA_REGISTRY_URL": "registry:8081"}, "not an http"),
    ({"MESHSTREAM_PUBLISH_TIMEOUT": "soon"}, "MESHSTREAM_PUBLISH_TIMEOUT='soon'"),
])
def test_settings_no_client_could_use_are_refused_before_connecting(env, message, monkeypatch):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=message):
        Settings()


def test_one_config_carries_the_security_settings_to_kafka_and_the_registry():
    s = Settings(kafka_bootstrap="h:9094", kafka_security_protocol="SASL_SSL", kafka_sasl_username="svc",
                 kafka_sasl_password="pw", kafka_ssl_ca_location="/ca.pem", registry_url="https://r/apis/ccompat/v7",
                 registry_user="u", registry_password="p", registry_ca_location="/rca.pem")
    conf = kafka_config(s)
    assert {k: conf[k] for k in ("bootstrap.servers", "security.protocol", "sasl.mechanism", "sasl.username",
                                 "sasl.password", "ssl.ca.location")} == {
        "bootstrap.servers": "h:9094", "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "svc", "sasl.password": "pw", "ssl.ca.location": "/ca.pem"}
    reg = registry_config(s)
    assert (reg["url"], reg["basic.auth.user.info"], reg["ssl.ca.location"]) == ("https://r/apis/ccompat/v7", "u:p", "/rca.pem")


def test_a_changed_contract_makes_the_clients_generated_modules_stale(tmp_path):
    """`meshstream contracts check` (CI) fails when the manifest's schemas change and the client
    was not regenerated: here the terminal event gains a field and an Etsy limit moves."""
    import json
    import shutil

    from meshstream.commands.contracts import REPO_ROOT, run_check
    from schemas import SCHEMAS_DIR

    schemas = tmp_path / "schemas"
    shutil.copytree(SCHEMAS_DIR, schemas, ignore=shutil.ignore_patterns("__pycache__"))
    path = schemas / "processing" / "completed.v1.avsc"
    doc = json.loads(path.read_text())
    doc["fields"][1]["type"]["fields"].append({"name": "priority", "type": "int", "default": 0})
    path.write_text(json.dumps(doc))
    etsy = schemas / "etsy_listing" / "completed.v1.avsc"
    assert '"meshstream.maxLength": 140' in etsy.read_text()
    etsy.write_text(etsy.read_text().replace('"meshstream.maxLength": 140', '"meshstream.maxLength": 141'))
    errors, _ = run_check(schemas, REPO_ROOT)
    generated = "clients/python/src/meshstream_client/generated"
    for module in ("contracts.py", "processing_v1.py", "etsy_listing_v1.py"):
        assert f"generated file {generated}/{module} is stale (run `meshstream contracts generate`)" in errors, errors
