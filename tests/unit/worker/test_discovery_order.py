"""Discovery emits a scan's models largest first (streams/worker/agents/discovery.py `largest_first`)."""
from __future__ import annotations

from types import SimpleNamespace as NS

from streams.worker.agents.discovery import largest_first


def _model(name: str, *sizes: int):
    return NS(name=name, files=[NS(size=s) for s in sizes])


def test_models_are_emitted_by_total_size_descending_and_ties_keep_the_listing_order():
    models = [_model("small", 10), _model("multi-part", 300, 400), _model("big", 500), _model("tie-a", 50),
              _model("tie-b", 50), _model("unknown-size", None)]
    assert [m.name for m in largest_first(models)] == ["multi-part", "big", "tie-a", "tie-b", "small", "unknown-size"]
