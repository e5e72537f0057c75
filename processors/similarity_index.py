"""Where a fingerprint lives in the near-duplicate index, and how one cell is searched.

Why cells: the index must be partitioned so it grows with the workers (a Faust table, one
partition per key hash), yet a lookup must see every earlier model that could be similar enough.
The principal ratios of a fingerprint (sqrt(l2/l1), sqrt(l3/l1), exact integrals, unchanged by
pose, scale and re-tessellation) bound the similarity: the ratios part alone weighs
WEIGHTS[3] * d_r / SCALES[3] in -ln(similarity), with d_r = mean |delta ratio| >= max |delta| / 2, so

    similarity >= t  implies  max |delta ratio| <= 2 * SCALES[3] * -ln(t) / WEIGHTS[3]  (= REACH(t))

The ratio square is cut into cells of side 2 * REACH(MIN_THRESHOLD). A model is written into
every cell its REACH-box touches (at most 4) and looks up only its own cell: any earlier model
within reach is in that cell, so the index finds exactly what comparing against every model
would (tested against brute force). Writes happen before the lookup is sent (the agent awaits
their acks), so of two similar models processed at the same moment the later lookup sees the
earlier write (docs/adr/0015-similarity-index.md).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping

from processors.fingerprint import SCALES, THRESHOLD, WEIGHTS, Fingerprint, best_matches

MIN_THRESHOLD = THRESHOLD  # the lowest similarity a lookup may ask for: the cells are sized for it


def reach(threshold: float) -> float:
    """The largest principal-ratio difference two fingerprints at `threshold` similarity can have."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"similarity threshold {threshold} not in (0, 1]")
    return 2.0 * SCALES[3] * -math.log(threshold) / WEIGHTS[3]


CELL = 2.0 * reach(MIN_THRESHOLD)  # side of a cell in ratio space (0.222 at threshold 0.5)


def _cell(r2: float, r3: float) -> str:
    return f"{int(math.floor(r2 / CELL))}.{int(math.floor(r3 / CELL))}"


def own_cell(fp: Fingerprint) -> str:
    """The cell a fingerprint is looked up in."""
    return _cell(*fp.ratios)


def cells_within_reach(fp: Fingerprint) -> list[str]:
    """Every cell the fingerprint's reach-box touches (its own included; 1 to 4, sorted)."""
    d = reach(MIN_THRESHOLD)
    r2, r3 = fp.ratios
    cells = {_cell(a, b) for a in (max(0.0, r2 - d), r2 + d) for b in (max(0.0, r3 - d), r3 + d)}
    cells.add(own_cell(fp))
    return sorted(cells)


@dataclass(frozen=True)
class IndexedModel:
    """One model as the index remembers it (the latest run that fingerprinted it)."""

    model_id: str
    owner_id: str | None
    run_id: str
    name: str | None
    fingerprint: Fingerprint

    def to_record(self) -> dict:
        return {"model_id": self.model_id, "owner_id": self.owner_id, "run_id": self.run_id, "name": self.name,
                "fingerprint": self.fingerprint.to_float32_list()}

    @classmethod
    def from_record(cls, record: Mapping) -> "IndexedModel":
        return cls(record["model_id"], record.get("owner_id"), record["run_id"], record.get("name"),
                   Fingerprint.from_list(record["fingerprint"]))


def near_duplicates(query: IndexedModel, cell: Iterable[IndexedModel], threshold: float = THRESHOLD,
                    limit: int = 5) -> list[dict]:
    """The best `limit` models of a cell at or above `threshold`, best first, never the model
    itself (a replay or a reprocessing of the same model id); each says whether it belongs to
    another owner (the seed's IP check: an upload that is someone else's model)."""
    if threshold < MIN_THRESHOLD:
        raise ValueError(f"threshold {threshold} below the index's {MIN_THRESHOLD}: the cells cannot answer it")
    others = {m.model_id: m for m in cell if m.model_id != query.model_id}
    found = best_matches(query.fingerprint, ((k, m.fingerprint) for k, m in others.items()), threshold, limit)
    return [{"model_id": k, "run_id": others[k].run_id, "owner_id": others[k].owner_id, "name": others[k].name,
             "similarity": round(score, 4), "other_owner": others[k].owner_id != query.owner_id}
            for k, score in found]

__all__ = ["CELL", "MIN_THRESHOLD", "IndexedModel", "cells_within_reach", "near_duplicates", "own_cell", "reach"]
