"""The runtime's vocabulary: every contract and table the code names, in one place.

Topics, subjects and schemas come from the manifest (schemas/contracts.yaml); these constants are
the handful of contract names the code itself must know (the scan that starts everything, the
discovery that starts a run, the two terminal events, the dead-letter topic) and the run table's
name. tests/unit/core/test_names.py checks each against the manifest, so a renamed contract
fails a test instead of a lookup at run time.
"""
from __future__ import annotations

SCAN_REQUESTED = "discovery-scan.requested"
DISCOVERED = "discovery.discovered"
COMPLETED = "processing.completed"
FAILED = "processing.failed"
TERMINAL = (COMPLETED, FAILED)
DEAD_LETTERED = "pipeline.dead-lettered"
# a stage's beat 0 and heartbeats of a step (ADR 0012); short steps send none
STEP_STARTED = "pipeline.step-started"

# the orchestrator's changelog-backed run table (its changelog: <app id>-workflow-runs-changelog)
RUNS_TABLE = "workflow-runs"
# the near-duplicate index (ADR 0015): entries "<cell>|<model id>", partitioned like SIMILARITY_PROBE
SIMILARITY_TABLE = "similarity-index"
SIMILARITY_PROBE = "similarity.probe"
