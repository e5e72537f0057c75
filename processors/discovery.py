"""Discovery: group a storage listing into models and collections, from keys alone.

Why pure: the agent lists a bucket (processors.storage) and hands the listing here, so the
grouping rules are testable without S3 and identical in the CLI, the demo and the stream.

Rules (folder-aware):
* only mesh files count (by extension: stl, obj, ply, glb, gltf, 3mf); textures, readmes and
  hidden files are ignored;
* within one folder, files whose names mark them as parts of the same assembly
  (`bracket_part_01` + `bracket_part_02`, `dragon_base` + `dragon_top`, `part1` + `part2`)
  form one multi-part model; every other file is a model of its own;
* every folder is a collection of the models directly inside it;
* `model_id` is derived from the sorted (key, etag) pairs of its files, so the same files at
  the same versions always get the same id, and any change to a file gives a new one.

Large folders: the discovered-event payload must stay small, so above a threshold the caller
writes `build_manifest(...)` to storage and publishes its reference instead of the list.
"""
from __future__ import annotations

import hashlib
import json
import posixpath
from dataclasses import dataclass, field

from processors.naming import folder as folder_of
from processors.naming import group_names, is_mesh, part_name, stem

MANIFEST_VERSION = 1
DEFAULT_MANIFEST_THRESHOLD = 100  # files in one scan above which a manifest object is written


@dataclass(frozen=True)
class StoredObject:
    """One listed object. Any object with key/etag/size attributes is accepted too."""

    key: str
    etag: str
    size: int


@dataclass(frozen=True)
class Model:
    model_id: str
    name: str
    folder: str
    files: tuple[StoredObject, ...]
    multi_part: bool = False
    collection_id: str = ""

    def to_dict(self) -> dict:
        return {
            "model_id": self.model_id, "name": self.name, "folder": self.folder,
            "multi_part": self.multi_part, "collection_id": self.collection_id,
            "files": [{"key": f.key, "etag": f.etag, "size": f.size} for f in self.files],
        }


@dataclass(frozen=True)
class Collection:
    collection_id: str
    folder: str
    model_ids: tuple[str, ...] = field(default=())


def model_id_for(files) -> str:
    """sha256 over the sorted (key, etag) pairs; 32 hex characters."""
    h = hashlib.sha256()
    for key, etag in sorted((f.key, f.etag) for f in files):
        h.update(key.encode("utf-8") + b"\0" + etag.encode("utf-8") + b"\n")
    return h.hexdigest()[:32]


def collection_id_for(folder: str) -> str:
    return hashlib.sha256(b"collection\0" + folder.encode("utf-8")).hexdigest()[:32]


def _as_stored(obj) -> StoredObject:
    return obj if isinstance(obj, StoredObject) else StoredObject(str(obj.key), str(obj.etag or ""), int(obj.size or 0))


def _model_name(keys: list[str], folder: str) -> str:
    if len(keys) == 1:
        return stem(keys[0])
    common = part_name(keys[0]).key
    if common:
        # keep the original spelling of the common stem from the first file
        s = stem(keys[0])
        return s[: len(common)] if s[: len(common)].lower().replace("_", " ").replace("-", " ") == common else common
    return posixpath.basename(folder) or "assembly"


def group_models(objects) -> list[Model]:
    """Models found in a listing, sorted by (folder, name, id); deterministic for any order."""
    by_folder: dict[str, list[StoredObject]] = {}
    for obj in objects:
        o = _as_stored(obj)
        if is_mesh(o.key):
            by_folder.setdefault(folder_of(o.key), []).append(o)
    models: list[Model] = []
    for folder in sorted(by_folder):
        files = {o.key: o for o in by_folder[folder]}
        cid = collection_id_for(folder)
        for keys in group_names(list(files)):
            members = tuple(files[k] for k in keys)
            models.append(Model(
                model_id=model_id_for(members), name=_model_name(keys, folder), folder=folder,
                files=members, multi_part=len(members) > 1, collection_id=cid,
            ))
    return sorted(models, key=lambda m: (m.folder, m.name, m.model_id))


def collections(models: list[Model]) -> list[Collection]:
    """One collection per folder, listing its models' ids."""
    by: dict[str, list[str]] = {}
    for m in models:
        by.setdefault(m.folder, []).append(m.model_id)
    return [Collection(collection_id_for(f), f, tuple(sorted(ids))) for f, ids in sorted(by.items())]


def needs_manifest(count: int, threshold: int = DEFAULT_MANIFEST_THRESHOLD) -> bool:
    """True when a listing is too large to carry inline in one event."""
    return count > threshold


def build_manifest(models: list[Model], *, bucket: str = "", prefix: str = "") -> bytes:
    """Deterministic JSON manifest of the models (and collections) for the caller to store."""
    doc = {
        "manifest_version": MANIFEST_VERSION,
        "bucket": bucket,
        "prefix": prefix,
        "model_count": len(models),
        "file_count": sum(len(m.files) for m in models),
        "models": [m.to_dict() for m in models],
        "collections": [
            {"collection_id": c.collection_id, "folder": c.folder, "model_ids": list(c.model_ids)}
            for c in collections(models)
        ],
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8")


def read_manifest(data: bytes) -> list[Model]:
    """Inverse of `build_manifest` (for the consumer of a manifest reference)."""
    doc = json.loads(data)
    return [
        Model(m["model_id"], m["name"], m["folder"],
              tuple(StoredObject(f["key"], f["etag"], int(f["size"])) for f in m["files"]),
              m.get("multi_part", len(m["files"]) > 1), m.get("collection_id", ""))
        for m in doc["models"]
    ]


__all__ = [
    "StoredObject", "Model", "Collection", "group_models", "collections", "model_id_for",
    "needs_manifest", "build_manifest", "read_manifest", "DEFAULT_MANIFEST_THRESHOLD",
]
