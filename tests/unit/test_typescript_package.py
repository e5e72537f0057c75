"""The TypeScript client as another project gets it (issue 22: it was `"private": true` with no
build): `npm pack` builds dist/ (.js and .d.ts) through `prepack`, the tarball installs into a
fresh Node project from the npm cache that `make install` filled (--prefer-offline), and that project can
require it, type-check against its declarations, and get the same MESHSTREAM_* security
settings the Python clients map (streams/core/security.py) as kafkajs `ssl`/`sasl` options.
"""
from __future__ import annotations

import functools
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from registry.manifest import default_manifest
from tests.tsclient import PACKAGE, TSC, node


def _run(argv, cwd, timeout=300, check=True, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, **kw)
    if check:
        assert proc.returncode == 0, f"{argv} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@functools.lru_cache(maxsize=1)
def _packed(dest: str) -> Path:
    node()
    out = _run(["npm", "pack", "--json", "--pack-destination", dest, "--loglevel=error"], PACKAGE)
    return Path(dest) / json.loads(out.stdout)[0]["filename"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh project with the packed client installed. --prefer-offline: the dependencies come from
    the npm cache `make install` filled (npm ci); only registry metadata not cached yet is fetched."""
    tarball = _packed(str(tmp_path_factory.mktemp("pack")))
    project = tmp_path_factory.mktemp("consumer")
    (project / "package.json").write_text(json.dumps({"name": "consumer", "version": "1.0.0", "private": True}))
    _run(["npm", "install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", str(tarball)], project)
    return project


def test_the_tarball_holds_the_build_and_not_the_tests(tmp_path):
    tarball = _packed(str(tmp_path))
    with tarfile.open(tarball) as tar:
        names = set(tar.getnames())
    for f in ("package/dist/index.js", "package/dist/index.d.ts", "package/dist/generated/contracts.d.ts",
              "package/dist/settings.js", "package/package.json"):
        assert f in names
    assert not any(n.startswith(("package/test/", "package/build/", "package/node_modules/")) for n in names)
    meta = json.loads(tarfile.open(tarball).extractfile("package/package.json").read())
    assert "private" not in meta and meta["main"] == "dist/index.js" and meta["types"] == "dist/index.d.ts"
    assert meta["engines"]["node"] == ">=20"  # what the Makefile requires


def _node(project: Path, script: str, env: dict | None = None) -> dict:
    out = _run([node(), "-e", script], project, env=env)
    return json.loads(out.stdout)


def test_a_fresh_project_requires_it_and_sees_the_contracts(installed):
    got = _node(installed, """
        const m = require("@meshstream/client");
        console.log(JSON.stringify({topic: m.CONTRACTS["processing.completed"].topic, terminal: m.TERMINAL,
                                    publisher: typeof m.Publisher.create, subscribe: typeof m.subscribeTerminal}));
    """)
    manifest = default_manifest()
    assert got["topic"] == manifest.by_name("processing.completed").topic
    assert got["terminal"] == ["processing.completed", "processing.failed"]
    assert got["publisher"] == "function" and got["subscribe"] == "function"


def test_a_fresh_project_type_checks_against_the_declarations(installed):
    good = installed / "good.ts"
    good.write_text('import { CONTRACTS, type Settings } from "@meshstream/client";\n'
                    'const topic: string = CONTRACTS["processing.completed"].topic;\n'
                    'const s: Settings = { kafkaBootstrap: ["h:1"], registryUrl: "http://r" };\n'
                    'export const used = [topic, s];\n')
    bad = installed / "bad.ts"
    bad.write_text('import { CONTRACTS } from "@meshstream/client";\n'
                   'const n: number = CONTRACTS["processing.completed"].topic;\n'
                   'export const used = [n, CONTRACTS["no-such.contract"]];\n')
    flags = ["--noEmit", "--strict", "--skipLibCheck", "--module", "commonjs", "--moduleResolution", "node",
             "--target", "ES2022"]
    ok = _run([str(TSC), *flags, str(good)], installed, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    failed = _run([str(TSC), *flags, str(bad)], installed, check=False)
    assert failed.returncode != 0
    assert "not assignable to type 'number'" in failed.stdout and "no-such.contract" in failed.stdout


def test_security_settings_map_to_kafkajs_ssl_and_sasl(installed, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    password = tmp_path / "sasl.secret"
    password.write_text("s3cret\n")
    env = {"PATH": "/usr/bin:/bin", "MESHSTREAM_KAFKA_BOOTSTRAP": "b1:9093,b2:9093",
           "MESHSTREAM_KAFKA_SECURITY_PROTOCOL": "sasl_ssl", "MESHSTREAM_KAFKA_SASL_USERNAME": "svc",
           "MESHSTREAM_KAFKA_SASL_PASSWORD_FILE": str(password), "MESHSTREAM_KAFKA_SSL_CA_LOCATION": str(ca)}
    import shutil

    env["PATH"] = str(Path(shutil.which("node")).parent) + ":" + env["PATH"]
    got = _node(installed, """
        const m = require("@meshstream/client");
        const s = m.settingsFromEnv();
        const sec = m.kafkaSecurity(s.security);
        let plainSasl;
        try { m.kafkaSecurity({protocol: "SASL_PLAINTEXT", saslUsername: "u"}); } catch (e) { plainSasl = e.message; }
        console.log(JSON.stringify({brokers: s.kafkaBootstrap, sec, plain: m.kafkaSecurity({protocol: "PLAINTEXT"}),
                                    ssl: m.kafkaSecurity({protocol: "SSL"}), plainSasl, log: s.logLevel}));
    """, env=env)
    assert got["brokers"] == ["b1:9093", "b2:9093"]
    assert got["sec"]["sasl"] == {"mechanism": "scram-sha-512", "username": "svc", "password": "s3cret"}
    assert got["sec"]["ssl"]["ca"] == [ca.read_text()] and got["sec"]["ssl"]["rejectUnauthorized"] is True
    assert got["plain"] == {} and got["ssl"] == {"ssl": True}
    assert "needs MESHSTREAM_KAFKA_SASL_USERNAME and MESHSTREAM_KAFKA_SASL_PASSWORD" in got["plainSasl"]
    assert got["log"] == "nothing"  # kafkajs' JSON log lines are off unless MESHSTREAM_CLIENT_LOG_LEVEL asks
