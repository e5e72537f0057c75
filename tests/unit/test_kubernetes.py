"""deploy/kubernetes/: the core objects are valid against the Kubernetes API schemas (offline,
kubernetes-validate), set only real MESHSTREAM_* settings, select their own pods, and the KEDA
ScaledObject scales that Deployment on that consumer group, up to the partition count."""
from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from registry.manifest import default_manifest
from streams.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S_VERSION = "1.30"


def load(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((ROOT / "deploy/kubernetes" / name).read_text()) if d]


def by_kind(docs) -> dict[str, dict]:
    return {d["kind"]: d for d in docs}


def test_core_objects_are_valid_kubernetes():
    docs = load("meshstream.yaml")
    assert sorted(d["kind"] for d in docs) == ["ConfigMap", "Deployment", "PodDisruptionBudget", "Service"]
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_the_validation_catches_mistakes():
    deployment = by_kind(load("meshstream.yaml"))["Deployment"]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["pot"] = 6066
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_settings_and_selectors_line_up():
    k = by_kind(load("meshstream.yaml"))
    known = Settings.env_names()
    container = k["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    names = list(k["ConfigMap"]["data"]) + [e["name"] for e in container["env"]]
    assert [n for n in names if n not in known] == []
    pod_labels = k["Deployment"]["spec"]["template"]["metadata"]["labels"]
    for selector in (k["Deployment"]["spec"]["selector"]["matchLabels"], k["Service"]["spec"]["selector"],
                     k["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"]):
        assert selector.items() <= pod_labels.items()
    port = int(k["ConfigMap"]["data"]["MESHSTREAM_WEB_PORT"])
    assert container["ports"][0]["containerPort"] == port


def test_keda_scales_that_deployment_on_its_consumer_group():
    k = by_kind(load("meshstream.yaml"))
    scaled = load("keda-scaledobject.yaml")[0]
    trigger = scaled["spec"]["triggers"][0]["metadata"]
    assert scaled["spec"]["scaleTargetRef"]["name"] == k["Deployment"]["metadata"]["name"]
    assert trigger["consumerGroup"] == k["ConfigMap"]["data"]["MESHSTREAM_APP_ID"]
    assert trigger["bootstrapServers"] == k["ConfigMap"]["data"]["MESHSTREAM_KAFKA_BOOTSTRAP"]
    # a replica beyond the partition count of the topics would get no partition at all
    assert scaled["spec"]["maxReplicaCount"] == max(c.partitions for c in default_manifest().active)
