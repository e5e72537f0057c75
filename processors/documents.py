"""Rebuild processor results from the JSON documents stages store next to a model.

Later stages (sellability, Etsy listing) score a model from what earlier stages measured; the
events carry references to those documents rather than every number, and this module turns a
document back into the dataclass the scoring functions take. Unknown keys (added by newer
processor versions) are ignored, missing optional ones take their defaults.
"""
from __future__ import annotations

from dataclasses import fields

from processors.metadata import TechnicalMetadata
from processors.print_analysis import Issue, PrintAnalysis, PrinterFit, ScoreReason


def _known(cls, doc: dict) -> dict:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in doc.items() if k in names}


def metadata_from_dict(doc: dict) -> TechnicalMetadata:
    d = _known(TechnicalMetadata, doc)
    d["bbox_min"], d["bbox_max"] = tuple(d["bbox_min"]), tuple(d["bbox_max"])
    return TechnicalMetadata(**d)


def print_analysis_from_dict(doc: dict) -> PrintAnalysis:
    d = _known(PrintAnalysis, doc)
    d["extents_mm"] = tuple(d["extents_mm"])
    d["bed_fit"] = tuple(PrinterFit(**{**_known(PrinterFit, f), "build_volume": tuple(f["build_volume"])})
                         for f in d["bed_fit"])
    d["issues"] = tuple(Issue(**_known(Issue, i)) for i in d["issues"])
    d["reasons"] = tuple(ScoreReason(**_known(ScoreReason, r)) for r in d["reasons"])
    return PrintAnalysis(**d)
