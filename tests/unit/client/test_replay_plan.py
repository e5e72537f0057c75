"""The replay's plan without a broker: one run per model, replayed copies recognised by their
causation chain, runs an earlier replay started reported as no-ops, and every record read
accounted for (started + already started + skipped = read)."""
from __future__ import annotations

import json

from streams.client.replay import DeadLetter, new_run_event
from streams.client.replay_plan import (DUPLICATE, FILTERED, NO_BYTES, NOT_AN_EVENT, REPLAYED_COPY, SUPERSEDED,
                                        UP_TO_DATE, Found, RunIndex, latest_completions, plan_dead_letters,
                                        plan_reprocess, plan_topic)
from streams.core import names
from streams.core.envelope import derived_id, envelope

VERSION = "1.2.3"
TOPIC = "model.discovery.discovered.v1"
MODELS = ("m1", "m2", "m3", "m4", "m5")


def _discovery(model: str, scan: str = "scan-1", at: int = 1_000, workflow: str = "minimal") -> dict:
    """A discovery as the discovery stage publishes it (caused by the scan request)."""
    run = derived_id(scan, model, workflow)
    env = envelope("discovery", run, f"scan-request-{scan}", event_id=derived_id("discovery", scan, run))
    env["occurred_at"] = at
    files = [{"storage": "default", "bucket": "models", "key": f"lib/{model}/a.stl", "etag": f"e-{scan}",
              "size_bytes": 10}]
    return {"envelope": env, "payload": {"scan_id": scan, "run_id": run, "model_id": model, "name": model,
                                         "folder": f"lib/{model}/", "workflow": workflow, "files": files,
                                         "owner_id": None, "options": None, "collection_id": None}}


def _terminal(discovery: dict, at: int) -> dict:
    p = discovery["payload"]
    env = envelope("orchestrator", p["run_id"], "last-step", event_id=derived_id("terminal", p["run_id"]))
    env["occurred_at"] = at
    return {"envelope": env, "payload": {k: p[k] for k in ("run_id", "model_id", "scan_id", "name", "workflow",
                                                         "files", "owner_id", "collection_id")}
            | {"metadata": None, "stages": [], "results": []}}


def _found(records) -> list[Found]:
    return [Found(0, i, (r or {}).get("envelope", {}).get("occurred_at", 0), r) for i, r in enumerate(records)]


def _index(*discoveries) -> RunIndex:
    index = RunIndex()
    for d in discoveries:
        index.add_discovery(d)
    return index


def _plan(records, index, **kw):
    return plan_topic(_found(records), contract_name=kw.pop("contract_name", names.DISCOVERED), topic=TOPIC,
                      version=VERSION, index=index, **kw)


def _first_replay(originals, workflow="standard"):
    """Plan a replay of `originals` and return it with the events it publishes (as replay.py does)."""
    plan = _plan(originals, _index(*originals), workflow=workflow)
    copies = [new_run_event(names.DISCOVERED, item)[1] for item in plan.started]
    for c in copies:
        c["envelope"]["occurred_at"] = 5_000
    return plan, copies


def _accounted(summary) -> bool:
    return summary.read == len(summary.started) + len(summary.already_started) + len(summary.skipped)


def test_replaying_the_same_range_again_starts_nothing_and_names_the_runs_already_started():
    originals = [_discovery(m) for m in MODELS]
    first, copies = _first_replay(originals)
    assert len(first.started) == 5 and not first.already_started and first.models == list(MODELS)
    # the topic now holds the 5 originals and the 5 events the first replay published
    again = _plan(originals + copies, _index(*originals, *copies), workflow="standard")
    assert again.started == []
    assert [i.id for i in again.already_started] == [i.id for i in first.started]
    assert again.skipped_by_reason() == {REPLAYED_COPY: 5}
    assert {s.detail for s in again.skipped} == {f"copy of {o['envelope']['event_id']}" for o in originals}
    assert again.models == list(MODELS) and _accounted(again)


def test_a_range_with_an_original_and_its_copy_starts_one_run_per_model_from_the_original():
    originals = [_discovery(m) for m in MODELS]
    _, copies = _first_replay(originals)
    # another workflow than the first replay: new runs, one per model, caused by the originals
    plan = _plan(originals + copies, _index(*originals, *copies), workflow="complete")
    assert len(plan.started) == 5 and plan.models == list(MODELS)
    assert {i.caused_by for i in plan.started} == {o["envelope"]["event_id"] for o in originals}
    assert plan.skipped_by_reason() == {REPLAYED_COPY: 5}


def test_terminal_events_of_a_replayed_run_are_copies_through_the_runs_discovery():
    discoveries = [_discovery(m) for m in MODELS[:2]]
    originals = [_terminal(d, at=2_000) for d in discoveries]
    first = _plan(originals, _index(*discoveries), contract_name=names.COMPLETED, workflow="standard")
    copies = [new_run_event(names.COMPLETED, item)[1] for item in first.started]
    terminals = originals + [_terminal(c, at=6_000) for c in copies]  # the replayed runs completed
    index = _index(*discoveries, *copies)
    plan = _plan(terminals, index, contract_name=names.COMPLETED, workflow="standard")
    assert plan.started == [] and [i.id for i in plan.already_started] == [i.id for i in first.started]
    assert plan.skipped_by_reason() == {REPLAYED_COPY: 2}
    # without the run's discovery in the index its terminal event looks original (and is the later one)
    naive = _plan(terminals, _index(*discoveries), contract_name=names.COMPLETED, workflow="standard")
    assert len(naive.started) == 2 and naive.skipped_by_reason() == {SUPERSEDED: 2}


def test_discoveries_of_a_replayed_scan_are_copies():
    scan_replay = derived_id("replay", "scan-event", "standard", VERSION)
    d = _discovery("m1", scan=scan_replay)
    d["envelope"]["causation_id"] = derived_id("replay-event", scan_replay)  # the replayed scan request
    plan = _plan([d], _index(d))
    assert plan.started == [] and plan.skipped[0].detail == f"copy of replayed scan {scan_replay}"


def test_a_models_latest_original_stands_for_it():
    monday, tuesday = _discovery("m1", scan="mon", at=1_000), _discovery("m1", scan="tue", at=2_000)
    plan = _plan([tuesday, monday], _index(monday, tuesday), workflow="standard")  # order on the topic does not matter
    (item,) = plan.started
    assert item.caused_by == tuesday["envelope"]["event_id"]
    assert item.id == derived_id("replay", tuesday["envelope"]["event_id"], "standard", VERSION)
    assert [(s.reason, s.event_id) for s in plan.skipped] == [(SUPERSEDED, monday["envelope"]["event_id"])]


def test_include_replayed_lets_copies_start_runs_of_their_own():
    originals = [_discovery(m) for m in MODELS]
    first, copies = _first_replay(originals)
    plan = _plan(originals + copies, _index(*originals, *copies), workflow="standard", include_replayed=True)
    assert len(plan.started) == 5  # still one per model: the copy is the model's latest event
    assert {i.caused_by for i in plan.started} == {c["envelope"]["event_id"] for c in copies}
    assert not {i.id for i in plan.started} & {i.id for i in first.started}
    assert plan.skipped_by_reason() == {SUPERSEDED: 5}


def test_every_record_read_is_accounted_for_with_its_reason():
    a, b = _discovery("m1"), _discovery("m2")
    plan = _plan([a, None, a, b], _index(a, b), model_id="m1")
    assert plan.skipped_by_reason() == {DUPLICATE: 1, FILTERED: 1, NOT_AN_EVENT: 1}
    assert len(plan.started) == 1 and _accounted(plan)
    data = json.loads(json.dumps(plan.as_dict()))
    assert (data["read"], len(data["started"]), data["skipped_by_reason"][NOT_AN_EVENT]) == (4, 1, 1)


def test_the_text_says_what_started_and_what_was_already_started():
    originals = [_discovery(m) for m in MODELS]
    _, copies = _first_replay(originals)
    text = _plan(originals + copies, _index(*originals, *copies), workflow="standard", dry_run=True).text()
    assert "0 run(s) would start; 5 already started by an earlier replay (no-op); 5 skipped (5 replayed copy)" in text
    assert "5 model(s) covered" in text and "dry run: nothing published" in text


def test_reprocess_skips_current_models_and_knows_the_runs_it_started():
    old, new = _terminal(_discovery("m1"), at=1_000), _terminal(_discovery("m2"), at=1_000)
    old["payload"]["stages"] = [{"status": "completed", "processor_version": "0.0.1"}]
    new["payload"]["stages"] = [{"status": "completed", "processor_version": VERSION}]
    older = _terminal(_discovery("m1", scan="before"), at=500)
    latest, read, skipped = latest_completions(_found([older, old, new, None]))
    plan = plan_reprocess(latest, version=VERSION, index=RunIndex(), read=read, skipped=skipped)
    ((item),) = plan.started
    assert item.model_id == "m1" and item.caused_by == old["envelope"]["event_id"]
    assert plan.skipped_by_reason() == {NOT_AN_EVENT: 1, SUPERSEDED: 1, UP_TO_DATE: 1} and _accounted(plan)
    started = new_run_event(names.COMPLETED, item, prefix="reprocess-event", skip_cache=True)[1]
    assert started["payload"]["options"]["skip_cache"] is True
    again = plan_reprocess(latest, version=VERSION, index=_index(started), read=read, skipped=skipped)
    assert again.started == [] and [i.id for i in again.already_started] == [item.id]


def _letter(offset, key=b"k", value=b"v", stage="metadata", code="corrupt_mesh", ts=0):
    return DeadLetter(offset, 0, "model.t.v1", 7, key, value, stage, code, "msg", 0, ts)


def test_dead_letters_collapse_per_record_and_a_record_back_on_its_topic_is_a_no_op():
    first, again, other, byteless, filtered = (_letter(0, ts=1), _letter(1, ts=2), _letter(2, key=b"o", ts=3),
                                               _letter(3, value=None), _letter(4, code="other"))
    back = {b"o": (0, 99)}  # the record of `other` was replayed already
    plan = plan_dead_letters([first, again, other, byteless, filtered], republished=lambda d: back.get(d.original_key),
                             code="corrupt_mesh")
    assert [i.id for i in plan.started] == ["0:1"]  # the latest dead letter of the record k/v
    assert [(i.id, i.detail) for i in plan.already_started] == [("0:2", "back on model.t.v1 at 0:99")]
    assert plan.skipped_by_reason() == {DUPLICATE: 1, FILTERED: 1, NO_BYTES: 1} and _accounted(plan)
    assert "1 record(s) replayed" in plan.text()
    one = plan_dead_letters([first, again], republished=lambda d: None, at=(0, 0), dry_run=True)
    assert [i.id for i in one.started] == ["0:0"] and one.skipped_by_reason() == {FILTERED: 1}
