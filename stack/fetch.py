"""Fetch the stack's Java components from Maven Central with the machine's own Maven, once.

Kafka has no runnable artifact on Maven Central, only its jars; a tiny pom (kafka-pom.xml) and
`maven-dependency-plugin:copy-dependencies` assemble its classpath. Apicurio publishes a runnable
tarball. Both land in the cache dir, keyed by version, and are reused on later runs.
"""
from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

from stack import versions

POM = Path(__file__).with_name("kafka-pom.xml")


class StackSetupError(RuntimeError):
    """A prerequisite is missing or a fetch failed; the message says what to install or check."""


def require_tool(name: str, hint: str) -> str:
    path = shutil.which(name)
    if not path:
        raise StackSetupError(f"`{name}` is not on PATH: {hint}")
    return path


def _run_maven(args: list[str], log: Path) -> None:
    mvn = require_tool("mvn", "install Apache Maven (e.g. `apt-get install maven`) and a Java 17+ JDK")
    require_tool("java", "install a Java 17+ JDK (e.g. `apt-get install openjdk-17-jre-headless`)")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        proc = subprocess.run([mvn, "-B", "-q", *args], stdout=out, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = log.read_text()[-2000:]
        raise StackSetupError(f"maven failed (exit {proc.returncode}); log {log}:\n{tail}")


def kafka_lib_dir(cache_dir: Path) -> Path:
    return cache_dir / f"kafka-{versions.KAFKA_VERSION}" / "lib"


def ensure_kafka(cache_dir: Path) -> Path:
    """Return the directory holding Kafka's classpath, fetching it on first use."""
    lib = kafka_lib_dir(cache_dir)
    marker = lib.parent / ".complete"
    if marker.exists():
        return lib
    staging = lib.parent / "lib.partial"
    shutil.rmtree(staging, ignore_errors=True)
    _run_maven([
        "-f", str(POM),
        f"-Dkafka.version={versions.KAFKA_VERSION}",
        f"-Dslf4j.reload4j.version={versions.SLF4J_RELOAD4J_VERSION}",
        f"-Dreload4j.version={versions.RELOAD4J_VERSION}",
        f"{versions.MAVEN_DEPENDENCY_PLUGIN}:copy-dependencies",
        f"-DoutputDirectory={staging}", "-DincludeScope=runtime",
    ], lib.parent / "fetch.log")
    if not (staging / f"kafka_{versions.SCALA_VERSION}-{versions.KAFKA_VERSION}.jar").exists():
        raise StackSetupError(f"maven finished but the Kafka jar is missing in {staging}")
    shutil.rmtree(lib, ignore_errors=True)
    staging.rename(lib)
    marker.touch()
    return lib


def apicurio_dir(cache_dir: Path) -> Path:
    return cache_dir / f"apicurio-registry-{versions.APICURIO_VERSION}"


def ensure_apicurio(cache_dir: Path) -> Path:
    """Return the unpacked Apicurio Registry directory (holding its runner jar)."""
    home = apicurio_dir(cache_dir)
    if (home / ".complete").exists():
        return home
    _run_maven(["dependency:get", f"-Dartifact={versions.APICURIO_ARTIFACT}", "-Dtransitive=false"],
               home.parent / f"apicurio-{versions.APICURIO_VERSION}-fetch.log")
    group, artifact, version, ext, classifier = versions.APICURIO_ARTIFACT.split(":")
    m2 = Path.home() / ".m2" / "repository" / Path(*group.split(".")) / artifact / version
    tarball = m2 / f"{artifact}-{version}-{classifier}.{ext}"
    if not tarball.exists():
        raise StackSetupError(f"maven reported success but {tarball} is missing")
    staging = home.with_name(home.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    with tarfile.open(tarball) as tar:
        tar.extractall(staging, filter="data")
    shutil.rmtree(home, ignore_errors=True)
    staging.rename(home)
    (home / ".complete").touch()
    return home


def apicurio_runner(home: Path) -> Path:
    jars = sorted(home.glob("*-runner.jar")) or sorted(home.glob("quarkus-run.jar"))
    if not jars:
        raise StackSetupError(f"no runnable jar in {home}")
    return jars[0]
