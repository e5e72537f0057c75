"""Producers and consumers provably agree (seed 002's lesson), with no servers.

Three sources must line up: the manifest (schemas/contracts.yaml), the workflows
(schemas/workflows.yaml) and the code (streams/worker/agents AGENTS, streams/execution/catalog.py work modules, streams/orchestration/request_builders.py BUILDERS).

* Static wiring: every step of an active workflow has active requested/completed/failed contracts,
  an agent and a request builder; planned workflows may name planned contracts and are refused.
* What agents consume is read from the agents themselves: every agent module is registered on a
  recording fake Faust app, so the topics below are the ones the code subscribes to.
* Every message the pipeline produces encodes against its contract: the real discovery,
  orchestrator and stage handlers run in memory behind a fake runtime whose encoder is strict
  (constraints, fastavro validation, and a round trip that must give back every field sent:
  fastavro's writer silently drops fields the contract does not have), each record is decoded
  again before it is delivered, and the orchestrator's
  table round-trips through JSON like Faust's changelog. Only the stages' blocking `work` is
  replaced by hand-made, realistic results.
"""
from __future__ import annotations

import importlib
import json
import pytest

from streams.worker.stage_agent import IDENTITY
from streams.worker.agents.orchestrator import stage_result_topics
from fastavro.validation import validate
from registry.constraints import check_record
from streams.core.envelope import envelope
from streams.execution.catalog import work_module
from streams.orchestration.request_builders import BUILDERS
from streams.worker.app import AGENTS
from tests.fakes.pipeline import (
    ACTIVE_FLOWS,
    FLOWS,
    FakeRuntime,
    KINDS,
    MANIFEST,
    MESH,
    OBJECTS,
    PLANNED_FLOWS,
    SHA,
    STAGE_AGENTS,
    UNCONSUMED,
    _encode_losslessly,
    _events,
    _models,
    _optional,
    _simulate,
    wf,
)


# -- static wiring ----------------------------------------------------------------------------

def test_there_is_something_to_check():
    assert ACTIVE_FLOWS and STAGE_AGENTS  # planned workflows: none today (print-ready became active)
    assert wf.runnable(wf.default_workflow_name()).status == "active"


@pytest.mark.parametrize("flow,stage", [(f.name, s.stage) for f in ACTIVE_FLOWS.values() for s in f.steps])
def test_active_workflow_step_has_contracts_agent_and_builder(flow, stage):
    for kind in KINDS:
        contract = MANIFEST.stage(stage, kind)
        assert contract.active, f"workflow {flow}: {contract.name} is {contract.status}"
        assert (contract.stage, contract.event) == (stage, kind)
    assert stage in AGENTS, f"workflow {flow}: no agent for stage {stage}"
    assert stage in BUILDERS, f"workflow {flow}: no request builder for stage {stage}"
    assert wf.runnable(flow).name == flow


def test_stage_agents_builders_and_workflows_name_the_same_stages():
    in_workflows = {s.stage for f in ACTIVE_FLOWS.values() for s in f.steps}
    assert set(BUILDERS) == set(STAGE_AGENTS) == in_workflows
    for stage in STAGE_AGENTS:
        module = importlib.import_module(work_module(stage))
        assert module.STAGE == stage and callable(module.work) and callable(AGENTS[stage])


@pytest.mark.parametrize("flow", sorted(PLANNED_FLOWS))
def test_planned_workflow_is_refused_and_names_known_contracts(flow):
    with pytest.raises(wf.WorkflowError, match="planned"):
        wf.runnable(flow)
    for step in PLANNED_FLOWS[flow].steps:
        for kind in KINDS:
            MANIFEST.stage(step.stage, kind)  # exists, active or planned


def test_planned_contracts_are_only_in_planned_workflows():
    planned = {c.name for c in MANIFEST.contracts if not c.active}
    assert planned == set()  # slicing became active (issue 23); a new planned contract must be named here
    referenced = {f"{s.stage}.{k}" for f in PLANNED_FLOWS.values() for s in f.steps for k in KINDS}
    assert planned <= referenced
    for stage in {c.stage for c in MANIFEST.contracts if not c.active}:
        assert stage not in AGENTS and stage not in BUILDERS


def test_workflow_named_by_a_contract_default_is_runnable():
    scan = MANIFEST.by_name("discovery-scan.requested")
    default = scan.payload_default("workflow")
    assert wf.runnable(default).status == "active"



def test_every_consumed_topic_is_an_active_contract_with_its_derived_subject():
    rt = FakeRuntime([], {})
    consumed = {agent: topics for agent, (topics, _) in rt.app.agents.items()}
    # every registrar's agent, plus the similarity stage's index agent (fed by the stage itself)
    assert set(consumed) == set(AGENTS) | {"similarity-index"}
    assert consumed["similarity-index"] == ("similarity.probe",)
    for agent, names in consumed.items():
        contracts = [MANIFEST.by_name(n) for n in names]
        assert all(c.active for c in contracts), agent
        assert all(c.subject == f"{c.topic}-value" for c in contracts)
        assert len({c.partitions for c in contracts}) == 1, f"{agent} co-consumes different partition counts"
    assert consumed["discovery"] == ("discovery-scan.requested",)
    for stage in STAGE_AGENTS:
        assert consumed[stage] == (f"{stage}.requested",)
    # The orchestrator: discovered + every active workflow stage's outcomes, all co-partitioned
    # with its table (runs are keyed by run id on every one of these topics).
    assert consumed["orchestrator"] == ("discovery.discovered", *stage_result_topics())
    expected = ({"discovery.discovered", "pipeline.step-started"}
                | {f"{s}.{k}" for s in STAGE_AGENTS for k in ("completed", "failed")})
    assert set(consumed["orchestrator"]) == expected
    assert set(rt.app.tables) == {"workflow-runs", "similarity-index"}
    table, kwargs = rt.app.tables["workflow-runs"]
    source = MANIFEST.by_name("discovery.discovered").partitions
    assert kwargs["partitions"] == source
    # the index's changelog partitions are the probe topic's: a partition's store holds whole cells
    assert rt.app.tables["similarity-index"][1]["partitions"] == MANIFEST.by_name("similarity.probe").partitions
    assert {MANIFEST.by_name(n).partitions for n in consumed["orchestrator"]} == {source}


def test_contracts_nobody_consumes_are_planned_or_external():
    rt = FakeRuntime([], {})
    consumed = {n for topics, _ in rt.app.agents.values() for n in topics}
    used = {f"{s.stage}.{k}" for f in ACTIVE_FLOWS.values() for s in f.steps for k in KINDS}
    idle = {c.name for c in MANIFEST.contracts} - consumed - used
    assert idle == set(UNCONSUMED)
    for name in idle:
        assert (MANIFEST.by_name(name).status == "planned") == (UNCONSUMED[name] == "planned"), name
    assert all(c.subject == f"{c.topic}-value" for c in MANIFEST.contracts)



@pytest.mark.parametrize("flow", sorted(ACTIVE_FLOWS))
def test_every_message_of_a_successful_run_encodes_against_its_contract(flow):
    rt = _simulate(flow)
    assert len(_events(rt, "discovery.discovered")) == _models() == 2
    terminal = _events(rt, "processing.completed")
    assert len(terminal) == _models() and not _events(rt, "processing.failed")
    for stage in (s.stage for s in FLOWS[flow].steps):
        assert len(_events(rt, f"{stage}.requested")) == _models(), stage
        assert len(_events(rt, f"{stage}.completed")) == _models(), stage
    for name, key, record in rt.sent:  # everything is keyed by run id: co-partitioned with the table
        if name == "similarity.probe":  # but the index's probes: keyed by the cell they go to
            assert key == record["payload"]["cell"]
        elif name != "discovery-scan.requested":
            assert key == record["payload"]["run_id"], name
    if any(s.stage == "similarity" for s in FLOWS[flow].steps):  # the second model of the library finds the first
        found = sorted(len(t["payload"]["near_duplicates"]) for t in _events(rt, "processing.completed"))
        assert found == [0, 1], found
    for t in terminal:
        p = t["payload"]
        assert {s["stage"] for s in p["stages"]} == {s.stage for s in FLOWS[flow].steps}
        assert {s["status"] for s in p["stages"]} == {wf.COMPLETED}
        assert p["metadata"] == MESH
    if flow != "minimal":  # later stages read the cached copies, not the source objects
        cached = {f["key"] for r in _events(rt, "technical-metadata.requested") for f in r["payload"]["files"]}
        assert cached == {f"sha256/{SHA}"}
    rt.run_scan(f"scan-{flow}", flow)  # a replayed scan maps onto the same runs: no second terminal event
    assert len(_events(rt, "processing.completed")) == _models()


@pytest.mark.parametrize("flow", sorted(f for f in ACTIVE_FLOWS if any(not s.blocking for s in FLOWS[f].steps)))
def test_requests_still_encode_when_optional_steps_failed(flow):
    rt = _simulate(flow, fail_optional=True)
    optional = _optional(flow)
    assert len(_events(rt, "processing.completed")) == _models()
    for t in _events(rt, "processing.completed"):
        statuses = {s["stage"]: s["status"] for s in t["payload"]["stages"]}
        for stage in optional:  # failed when it ran, skipped when an optional step it needs failed
            needs_failed = any(statuses[n] in (wf.FAILED, wf.SKIPPED) for n in FLOWS[flow].step(stage).needs)
            assert statuses[stage] == (wf.SKIPPED if needs_failed else wf.FAILED), (stage, statuses)
        assert all(statuses[s.stage] == wf.COMPLETED for s in FLOWS[flow].steps if s.blocking)
    for stage in optional:
        failed = _events(rt, f"{stage}.failed")
        assert len(failed) == len(_events(rt, f"{stage}.requested"))
        assert {f["payload"]["error"]["code"] for f in failed} <= {"render_failed"}
    # (marketplace-listing: sellability and etsy-listing are built and encoded without a metamodel result)


@pytest.mark.parametrize("flow", sorted(ACTIVE_FLOWS))
def test_retried_and_failed_stages_encode_against_their_contracts(flow):
    rt = _simulate(flow, retry_once=True)
    assert len(_events(rt, "processing.completed")) == _models()
    for step in FLOWS[flow].steps:
        assert len(_events(rt, f"{step.stage}.failed")) == _models()
        assert len(_events(rt, f"{step.stage}.requested")) == 2 * _models()
    first = FLOWS[flow].steps[0].stage
    rt = _simulate(flow, fail_blocking=first)
    failed = _events(rt, "processing.failed")
    assert len(failed) == _models() and not _events(rt, "processing.completed")
    assert {f["payload"]["failed_stage"] for f in failed} == {first}
    assert {f["payload"]["error"]["code"] for f in failed} == {"corrupt_mesh"}


@pytest.mark.parametrize("stage", sorted(BUILDERS))
def test_each_builder_encodes_for_a_fresh_run(stage):
    """Directly from a fresh run state, before any step produced anything (the builder's
    fall-backs: source files, no metadata, no images)."""
    model = {"run_id": "run-1", "model_id": "model-1", "scan_id": "scan-1", "name": "dragon",
             "folder": "incoming/dragon", "owner_id": None,
             "files": [{"storage": "default", "bucket": "models", "key": o.key, "etag": o.etag, "size_bytes": o.size}
                       for o in OBJECTS[:2]]}
    run = wf.RunState.from_dict(json.loads(json.dumps(wf.RunState.from_discovered(model, 0).to_dict())))
    contract = MANIFEST.stage(stage, "requested")
    record = {"envelope": envelope("orchestrator", "run-1"), "payload": BUILDERS[stage](run)}
    check_record(contract.schema, record)
    validate(record, contract.parsed_schema, strict=True)
    _encode_losslessly(contract, record)
    assert {k: record["payload"][k] for k in IDENTITY} == {"run_id": "run-1", "model_id": "model-1"}
