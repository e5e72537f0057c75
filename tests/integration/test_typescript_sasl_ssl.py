"""The TypeScript client over SASL_SSL (SCRAM-SHA-512) with mutual TLS, configured only through the
MESHSTREAM_* variables `meshstream stack env` prints for the stack's SASL_SSL mode (the password as
a `_FILE`), as the Python clients are (issue 22: the Node client had no SASL/TLS options).

A secured stack of its own (`secure_stack`, tests/conftest.py, shared with test_sasl_ssl.py): the
session stack is plaintext. The Node side publishes a scan and
reads it back with its subscriber; a Python consumer (streams.core.security) reads the same record;
a wrong password is refused with kafkajs' SASL authentication error; `meshstream subscribe` (whose
topic wait ignored the security settings) reads it too.
"""
from __future__ import annotations

import json
import os
import subprocess
import uuid

import pytest

from tests.tsclient import PACKAGE, built, node

pytestmark = pytest.mark.integration

SCRIPT = r"""
const m = require(process.argv[1]);
const want = process.argv[2];
(async () => {
  const settings = m.settingsFromEnv();
  const out = { protocol: settings.security.protocol };
  const publisher = m.Publisher.create({ settings });
  const scanId = await publisher.publishScan({ bucket: "models", prefix: want });
  await publisher.close();
  out.scanId = scanId;
  const seen = [];
  const sub = await m.subscribe(["discovery-scan.requested"], (ev) => { seen.push(ev.record.payload.scan_id); },
                                { settings, fromBeginning: true });
  const until = Date.now() + 30000;
  while (!seen.includes(scanId) && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
  await sub.close();
  out.seen = seen.includes(scanId);
  try {
    const bad = m.Publisher.create({ settings: { ...settings, security: { ...settings.security, saslPassword: "wrong" } } });
    await bad.publishScan({ bucket: "models", prefix: want });
    out.wrongPassword = "accepted";
  } catch (err) {
    out.wrongPassword = `${err.name}: ${err.message}`;
  }
  console.log(JSON.stringify(out));
  process.exit(0);
})().catch((err) => { console.error(err); process.exit(1); });
"""


def test_node_client_publishes_and_subscribes_over_sasl_ssl_with_mtls(secure_stack):
    from confluent_kafka import Consumer

    from registry.manifest import default_manifest
    from registry.serde import AvroSerde, registry_client
    from streams.core.security import kafka_client_config
    from streams.core.settings import Settings
    from streams.worker.main import prepare

    env = secure_stack.config.client_env()
    assert env["MESHSTREAM_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL" and "MESHSTREAM_KAFKA_SASL_PASSWORD" not in env
    settings = Settings.from_env(env)
    prepare(settings)  # contracts registered, topics created (over SASL_SSL)
    index = built().parent.parent / "src" / "index.js"
    prefix = f"ts-sasl-{uuid.uuid4().hex[:6]}/"
    proc = subprocess.run([node(), "-e", SCRIPT, str(index), prefix], cwd=PACKAGE, capture_output=True, text=True,
                          timeout=180, env={**{k: v for k, v in os.environ.items() if not k.startswith("MESHSTREAM_")},
                                            **env})
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["protocol"] == "SASL_SSL" and got["seen"] is True
    assert "SASL" in got["wrongPassword"] and "accepted" != got["wrongPassword"], got["wrongPassword"]
    assert proc.stderr == "", proc.stderr[-2000:]  # kafkajs' own log lines stay off by default

    # the record the Node client wrote, read by the Python side over the same secured listener
    contract = default_manifest().by_name("discovery-scan.requested")
    consumer = Consumer({**kafka_client_config(settings), "group.id": f"ts-sasl-{uuid.uuid4().hex[:6]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([contract.topic])
    serde = AvroSerde(registry_client(settings))
    found = []
    try:
        for _ in range(120):
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                if found:
                    break
                continue
            found.append(serde.decode(msg.value(), contract)["payload"]["scan_id"])
    finally:
        consumer.close()
    assert got["scanId"] in found

    # `meshstream subscribe` over the same listener: its topic wait (an AdminClient) honours the
    # security settings too (issue 22: it connected in plaintext and never saw the topic)
    import sys

    from tests.conftest import ROOT

    cli = subprocess.run([sys.executable, "-m", "meshstream.cli", "subscribe", "--contract", "discovery-scan.requested",
                          "--from-beginning", "--idle-timeout", "8", "--timeout", "60"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120,
                         env={**{k: v for k, v in os.environ.items() if not k.startswith("MESHSTREAM_")}, **env})
    assert cli.returncode == 0, cli.stderr[-2000:]
    assert got["scanId"] in {json.loads(line)["payload"]["scan_id"] for line in cli.stdout.splitlines()}
    assert cli.stderr == "", cli.stderr[-2000:]  # no librdkafka lines either
