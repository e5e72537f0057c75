"""Architecture tests: the layers of streams/ are real, and the pool processes stay Kafka-free."""
from __future__ import annotations

import subprocess
import sys

from tests.unit.architecture import import_graph as ig


def test_no_import_cycle_anywhere_lazy_imports_included():
    assert ig.cycles(ig.graph()) == []


def test_streams_layers_import_only_downwards_and_the_domain_never_imports_the_runtime():
    assert ig.upward_imports(ig.graph()) == []


def test_the_graph_sees_lazy_imports_and_relative_imports(tmp_path, monkeypatch):
    """The checks above are only as good as the graph: a function-level import and a cycle
    through it must both be found."""
    pkg = tmp_path / "streams" / "core"
    pkg.mkdir(parents=True)
    (tmp_path / "streams" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from streams.worker import b\n")
    (tmp_path / "streams" / "worker").mkdir()
    (tmp_path / "streams" / "worker" / "__init__.py").write_text("")
    (tmp_path / "streams" / "worker" / "b.py").write_text("from ..core import a\n")
    monkeypatch.setattr(ig, "ROOT", tmp_path)
    monkeypatch.setattr(ig, "PACKAGES", ("streams",))
    edges = ig.graph()
    assert "streams.worker.b" in edges["streams.core.a"]  # lazy, absolute
    assert "streams.core.a" in edges["streams.worker.b"]  # relative
    assert ig.cycles(edges) == [["streams.core.a", "streams.worker.b"]]
    assert ("streams.core.a", "streams.worker.b") in ig.upward_imports(edges)


def test_a_pool_process_imports_no_kafka_client():
    """What a processor pool process loads (streams/execution/pool.py's child side, every stage's
    work module) must not pull in Faust, aiokafka or librdkafka: they cost start-up time and
    memory in every process, and a stage's work has no business with the broker."""
    code = (
        "import importlib, sys\n"
        "from registry.manifest import default_manifest\n"
        "from streams.execution import pool\n"
        "from streams.execution.catalog import processing_stages, work_module\n"
        "from streams.execution.context import StageContext\n"
        "for stage in processing_stages(default_manifest()):\n"
        "    importlib.import_module(work_module(stage))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('faust', 'aiokafka', 'confluent_kafka', 'mode')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ig.ROOT)
    assert out.stdout.strip() == "[]"


def test_the_worker_process_imports_no_geometry_library():
    """The worker's own process (agents, event loop, similarity index) hands geometry to the pool
    and must not import trimesh or scipy: 1.7 s of CPU at every worker start (half its start-up),
    paid on every scale-out and restart, for one version string and a distance function."""
    code = (
        "import sys\n"
        "import streams.worker.app\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'trimesh', 'scipy', 'numba', 'PIL'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ig.ROOT)
    assert out.stdout.strip() == "[]"
