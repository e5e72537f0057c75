"""A model = one or more files measured as one assembly (the unit stream stages work on).

Why: discovery groups `bracket_part_01.stl` + `bracket_part_02.stl` into one model; its
technical metadata describes the assembly (parts placed as their files place them) and keeps
each part's own numbers. A single-file model is exactly `technical_metadata(load_mesh(...))`.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import trimesh

from processors.errors import ProcessingError
from processors.loading import Limits, LoadedMesh, load_mesh
from processors.metadata import TechnicalMetadata, technical_metadata
from processors.version import PROCESSOR_VERSION  # noqa: F401 - re-exported: processors' version beside the model


@dataclass(frozen=True)
class PartMetadata:
    key: str
    metadata: TechnicalMetadata


@dataclass(frozen=True, eq=False)
class ModelMetadata:
    """The assembly's metadata plus one entry per file."""

    metadata: TechnicalMetadata
    parts: tuple[PartMetadata, ...]
    loaded: LoadedMesh  # the assembly mesh, for later stages in the same process

    def summary(self) -> dict:
        """The MeshSummary Avro record of the assembly."""
        return self.metadata.summary()

    def as_dict(self) -> dict:
        return {
            **self.metadata.to_dict(),
            "parts": [{"key": p.key, **p.metadata.to_dict()} for p in self.parts],
        }


def _reraise_with_key(exc: ProcessingError, key: str) -> ProcessingError:
    new = type(exc)(f"{key}: {exc.message}")
    new.code, new.retryable = exc.code, exc.retryable
    return new


def load_assembly(files: list[tuple[str, bytes]], limits: Limits = Limits()) -> tuple[LoadedMesh, list[tuple[str, LoadedMesh]]]:
    """Load every file and concatenate them into one LoadedMesh (parts keep their placement)."""
    if not files:
        raise ValueError("a model needs at least one file")
    parts = []
    for key, data in sorted(files, key=lambda kv: kv[0]):
        try:
            parts.append((key, load_mesh(data, key, limits)))
        except ProcessingError as exc:
            raise _reraise_with_key(exc, key) from exc
    return assemble(parts, limits)


def assemble(parts: list[tuple[str, LoadedMesh]], limits: Limits = Limits()) -> tuple[LoadedMesh, list[tuple[str, LoadedMesh]]]:
    """One LoadedMesh of a model's already loaded files (sorted by key), and the parts."""
    if not parts:
        raise ValueError("a model needs at least one file")
    loaded = sorted(parts, key=lambda kp: kp[0])
    total_triangles = 0
    for _, part in loaded:
        total_triangles += len(part.mesh.faces)
        if total_triangles > limits.max_triangles:
            from processors.errors import MeshTooLargeError

            raise MeshTooLargeError(
                f"model has {total_triangles:,} triangles across its files, over the limit of {limits.max_triangles:,} triangles"
            )
    if len(loaded) == 1:
        return loaded[0][1], loaded
    vertices, faces, offset = [], [], 0
    for _, part in loaded:
        vertices.append(np.asarray(part.mesh.vertices))
        faces.append(np.asarray(part.mesh.faces) + offset)
        offset += len(part.mesh.vertices)
    mesh = trimesh.Trimesh(np.concatenate(vertices), np.concatenate(faces), process=False, validate=False)
    formats = sorted({p.format for _, p in loaded})
    units = sorted({p.units or "" for _, p in loaded})
    digest = hashlib.sha256("".join(f"{k}\0{p.sha256}\n" for k, p in loaded).encode()).hexdigest()
    assembly = LoadedMesh(
        mesh=mesh,
        format=formats[0] if len(formats) == 1 else "mixed",
        units=units[0] or None if len(units) == 1 else None,
        source_bytes=sum(p.source_bytes for _, p in loaded),
        sha256=digest,
        units_source=loaded[0][1].units_source if len(units) == 1 else "unknown",
    )
    return assembly, loaded


def measure_parts(parts: list[tuple[str, LoadedMesh]], limits: Limits = Limits()) -> ModelMetadata:
    """Technical metadata of a model from its loaded files."""
    assembly, parts = assemble(parts, limits)
    part_meta = tuple(PartMetadata(k, technical_metadata(p)) for k, p in parts)
    meta = part_meta[0].metadata if len(parts) == 1 else technical_metadata(assembly)
    return ModelMetadata(meta, part_meta, assembly)


def measure_model(files: list[tuple[str, bytes]], limits: Limits = Limits()) -> ModelMetadata:
    """Technical metadata of a model from its (key, bytes) files; typed errors name the file."""
    return measure_parts(load_assembly(files, limits)[1], limits)


__all__ = ["PROCESSOR_VERSION", "PartMetadata", "ModelMetadata", "assemble", "load_assembly", "measure_model", "measure_parts"]
