"""Admission control (streams/orchestration/admission.py): bounded requests per stage, fair
between scans, oldest first within a scan, and an index that follows the run states."""
from __future__ import annotations

from registry.workflows import parse_workflows
from streams.orchestration import workflow as wf
from streams.orchestration.admission import SHORT_STEP_MS, Admission, ServiceTimes

FLOWS = parse_workflows({"default": "t", "workflows": {"t": {"steps": [
    {"stage": "download"}, {"stage": "thumbnails", "needs": ["download"], "blocking": False}]}}})
FLOW = FLOWS["t"]


def run(run_id: str, scan: str, now: int = 0) -> wf.RunState:
    model = {"run_id": run_id, "model_id": f"m-{run_id}", "scan_id": scan, "workflow": "t", "files": []}
    return wf.start(FLOWS, model, now, hold=True).state


def admit_all(adm: Admission, states: dict) -> list[str]:
    """What take() chose, admitted through the state machine like the orchestrator does."""
    chosen = []
    for key, stage in adm.take():
        states[key] = wf.admit(FLOW, states[key], stage, 1).state
        adm.observe(key, states[key])
        chosen.append(key)
    return chosen


def test_no_more_requests_in_flight_per_stage_than_the_limit():
    adm, states = Admission(3), {}
    for i in range(10):
        states[f"r{i}"] = run(f"r{i}", "big", i)
        adm.observe(f"r{i}", states[f"r{i}"])
    assert admit_all(adm, states) == ["r0", "r1", "r2"]
    assert admit_all(adm, states) == []  # full
    assert adm.snapshot()["download"] == {"waiting": 7, "in_flight": 3, "queued": 3, "limit": 3}
    states["r1"] = wf.apply(FLOW, states["r1"], wf.StepSucceeded("download", {}, "1"), 2, hold=True).state
    adm.observe("r1", states["r1"])  # one download slot freed, r1's thumbnails now waits
    assert admit_all(adm, states) == ["r3", "r1"]
    assert adm.snapshot()["download"]["in_flight"] == 3 and adm.snapshot()["thumbnails"]["in_flight"] == 1


def started(states: dict, adm: Admission, key: str, stage: str = "download") -> None:
    """The stage reported beat 0 of the run's current request."""
    request = states[key].steps[stage].request_id
    states[key] = wf.apply(FLOW, states[key], wf.StepStarted(stage, request, 0), 2, hold=True).state
    adm.observe(key, states[key])


def test_a_step_that_starts_frees_its_slot_so_a_newcomer_waits_behind_at_most_the_limit():
    """The limit bounds requests not started yet: started steps are bounded by the pool
    processes, and counting them queued a new scan's request behind the big scan's (ADR 0012)."""
    adm, states = Admission(2), {}
    for i in range(10):
        states[f"big{i}"] = run(f"big{i}", "big", i)
        adm.observe(f"big{i}", states[f"big{i}"])
    assert admit_all(adm, states) == ["big0", "big1"]
    states["small0"] = run("small0", "small", 100)
    adm.observe("small0", states["small0"])
    assert admit_all(adm, states) == []  # both slots queued
    started(states, adm, "big0")
    started(states, adm, "big1")
    assert adm.snapshot()["download"] == {"waiting": 9, "in_flight": 2, "queued": 0, "limit": 2}
    # the slots freed by starting go first to the scan with the fewest waiting steps (the small
    # one), although both of the big scan's downloads are still out
    assert admit_all(adm, states) == ["small0", "big2"]
    assert adm.snapshot()["download"] == {"waiting": 7, "in_flight": 4, "queued": 2, "limit": 2}


def test_a_small_scan_takes_turns_with_a_big_one():
    adm, states = Admission(2), {}
    for i in range(100):
        states[f"big{i}"] = run(f"big{i}", "big", i)
        adm.observe(f"big{i}", states[f"big{i}"])
    for i in range(3):
        states[f"small{i}"] = run(f"small{i}", "small", 1000 + i)
        adm.observe(f"small{i}", states[f"small{i}"])
    downloads = []
    for _ in range(5):
        admitted = [key for key in admit_all(adm, states) if states[key].steps["download"].status == wf.REQUESTED]
        downloads += admitted
        for key in admitted:  # both download slots' steps finish
            states[key] = wf.apply(FLOW, states[key], wf.StepSucceeded("download", {}, "1"), 3, hold=True).state
            adm.observe(key, states[key])
    # the small scan's three models are admitted within its first three turns, not after 100
    assert [k for k in downloads if k.startswith("small")] == ["small0", "small1", "small2"]
    assert downloads.index("small2") <= 6
    assert [k for k in downloads if k.startswith("big")][:3] == ["big0", "big1", "big2"]  # oldest first


def test_finished_and_forgotten_runs_free_their_slots_and_rebuild_matches():
    adm, states = Admission(1), {"a": run("a", "s"), "b": run("b", "s", 1)}
    for key, state in states.items():
        adm.observe(key, state)
    assert admit_all(adm, states) == ["a"]
    adm.retain(lambda key: key != "a")  # a's partition moved to another worker
    assert admit_all(adm, states) == ["b"]
    rebuilt = Admission(1)
    rebuilt.rebuild([("b", states["b"])])
    assert rebuilt.snapshot() == adm.snapshot() == {"download": {"waiting": 0, "in_flight": 1, "queued": 1, "limit": 1}}


def test_a_reservation_whose_request_was_not_sent_is_released():
    adm, states = Admission(1), {"a": run("a", "s")}
    adm.observe("a", states["a"])
    assert adm.take() == [("a", "download")]
    adm.observe("a", states["a"])  # the send failed: the run is still waiting
    assert adm.take() == [("a", "download")]


def _complete(states: dict, adm: Admission, key: str, started_ms: int, took_ms: int) -> None:
    """The step starts (beat 0, stamped by its worker) and is answered `took_ms` later on that
    worker's clock; the orchestrator sees both much later (its own clock moves on by 5 s)."""
    request = states[key].steps["download"].request_id
    adm.times.started(request, started_ms)
    states[key] = wf.apply(FLOW, states[key], wf.StepStarted("download", request, 0), started_ms + 5_000, hold=True).state
    adm.observe(key, states[key])
    adm.times.answered("download", request, started_ms + took_ms, beat_seen=True)
    states[key] = wf.apply(FLOW, states[key], wf.StepSucceeded("download", {}, "1", cause=request),
                           started_ms + 10_000, hold=True).state
    adm.observe(key, states[key])


def test_short_steps_queue_enough_work_to_cover_the_round_trip_long_ones_stay_at_the_floor():
    """The limit follows the stage's execution time on its worker's clock (not its queueing, not
    the orchestrator's delivery delay): 0.5 s of work
    per processor queued; 20 ms steps with a floor of 2 -> 50, capped at 16 x 2 = 32; 200 ms
    steps -> 5; 2 s steps -> the floor. A fixed limit (queue_seconds 0) never moves."""
    for took, expected in ((20, 32), (200, 5), (2000, 2)):
        adm, fixed, states = Admission(2, queue_seconds=0.5), Admission(2), {}
        assert adm.limit("download") == 2  # nothing measured yet: the floor
        for i in range(30):
            states[f"r{i}"] = run(f"r{i}", "big", i)
            adm.observe(f"r{i}", states[f"r{i}"])
        for _ in range(15):  # admit, start and complete steps one by one
            (key,) = admit_all(adm, states)[:1] or [None]
            if key is None:
                break
            _complete(states, adm, key, 1_000, took)
        assert adm.limit("download") == expected, (took, adm.limit("download"), adm.times.mean_ms)
        assert fixed.limit("download") == 2


def test_service_times_read_the_events_timestamps_as_decoded():
    """Avro timestamp-millis fields decode to datetimes: the same 40 ms either way; an answer to
    a request whose beat 0 was never seen (lost, or before a restart) is not a measurement."""
    from datetime import datetime, timedelta, timezone

    adm = Admission(1, queue_seconds=0.5)
    t0 = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)
    adm.times.started("req-a", t0)
    adm.times.answered("download", "req-a", t0 + timedelta(milliseconds=40), beat_seen=True)
    adm.times.answered("download", "req-unknown", t0 + timedelta(seconds=30), beat_seen=True)
    assert adm.times.mean_ms == {"download": 40} and adm.limit("download") == 13


def test_a_service_time_counts_when_the_answer_is_read_before_its_beat_0():
    """Beat 0 and the answer travel on different topics, so the orchestrator may read a step's
    answer first (both in one fetch): it counts as a short step at once (it may have sent no
    beat 0 at all), and the beat 0 that comes after is measured as well."""
    adm = Admission(1, queue_seconds=0.5)
    adm.times.answered("download", "req-b", 1_000_040, beat_seen=False)
    assert adm.times.mean_ms == {"download": SHORT_STEP_MS}
    adm.times.started("req-b", 1_000_000)
    expected = SHORT_STEP_MS + ServiceTimes.WEIGHT * (40 - SHORT_STEP_MS)
    assert adm.times.mean_ms == {"download": expected}
    adm.times.started("req-b", 1_000_000)  # a repeated beat 0 makes no second measurement
    assert adm.times.mean_ms == {"download": expected}


def test_answers_waiting_for_a_beat_0_are_bounded_and_the_latest_still_count():
    """Short steps send no beat 0, so their answers wait for one that never comes: only the
    latest ANSWERS_REMEMBERED are kept, and a beat 0 read after one of those is still measured."""
    times = ServiceTimes()
    many = 5 * ServiceTimes.ANSWERS_REMEMBERED
    for i in range(many):
        times.answered("download", f"req-{i}", 1_000_000 + i, beat_seen=False)
    assert len(times._answered) == ServiceTimes.ANSWERS_REMEMBERED
    times.started("req-0", 999_000)  # aged out: no measurement
    assert times.mean_ms == {"download": SHORT_STEP_MS}
    times.started(f"req-{many - 1}", 1_000_000 + many - 1 - 400)
    assert times.mean_ms["download"] == SHORT_STEP_MS + ServiceTimes.WEIGHT * (400 - SHORT_STEP_MS)


def test_short_steps_send_no_beat_0_and_keep_the_highest_limit():
    """A step answered within SHORT_STEP_MS sends no beat 0 (streams/worker/stage_agent.py): its
    answer, with no start in the run's state, counts as SHORT_STEP_MS, which at the default
    0.5 s queue is the stage's highest limit (16 x the floor), as its measured 5 ms would be."""
    short, measured = Admission(2, queue_seconds=0.5), Admission(2, queue_seconds=0.5)
    for i in range(20):
        short.times.answered("thumbnails", f"r{i}", 1_000_000 + i, beat_seen=False)
        measured.times.started(f"r{i}", 1_000_000)
        measured.times.answered("thumbnails", f"r{i}", 1_000_005, beat_seen=True)
    assert short.times.mean_ms == {"thumbnails": SHORT_STEP_MS}
    assert short.limit("thumbnails") == measured.limit("thumbnails") == 2 * Admission.MAX_FACTOR
