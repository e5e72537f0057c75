"""File-name conventions for multi-part models (shared by discovery and metamodel detection).

Why a module: discovery groups files into models from their names alone (before any byte is
downloaded), and metamodel detection explains the same grouping with reasons; both must agree
on what `dragon_base.stl` + `dragon_top.stl` or `part_01.stl` + `part_02.stl` mean.
"""
from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

MESH_EXTENSIONS = frozenset({"stl", "obj", "ply", "glb", "gltf", "3mf"})

# Words that name a part's role in an assembly.
ROLE_WORDS = frozenset({
    "base", "top", "bottom", "lid", "body", "cover", "cap", "stand", "left", "right", "front", "back",
    "upper", "lower", "inner", "outer", "head", "arm", "arms", "leg", "legs", "tail", "wing", "wings",
    "handle", "insert", "bracket", "mount", "plate", "shell", "core", "ring", "support", "frame",
})
_SEP = r"[ _.\-]"
_NUMBERED = re.compile(rf"^(?P<stem>.*?)(?:{_SEP}*(?P<kind>part|pt|piece|section|sec|p)?{_SEP}*(?P<num>\d{{1,3}}))$", re.I)
_OF = re.compile(rf"^(?P<stem>.*?){_SEP}*(?P<num>\d{{1,3}}){_SEP}*of{_SEP}*\d{{1,3}}$", re.I)


def extension(key: str) -> str:
    name = posixpath.basename(key)
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def is_mesh(key: str) -> bool:
    return extension(key) in MESH_EXTENSIONS and not posixpath.basename(key).startswith(".")


def stem(key: str) -> str:
    name = posixpath.basename(key)
    return name.rsplit(".", 1)[0] if "." in name else name


def folder(key: str) -> str:
    return posixpath.dirname(key)


@dataclass(frozen=True)
class PartName:
    """What a file name says about being a part: its assembly key and the evidence."""

    key: str  # normalised stem with part markers removed ("" when the name is only a marker)
    marker: str | None  # "numbered", "role:<word>", "of" or None when the name has no part marker
    index: int | None


def part_name(key: str) -> PartName:
    """`bracket_part_01.stl` -> PartName("bracket", "numbered", 1); `dragon_top` -> ("dragon", "role:top")."""
    s = stem(key).strip()
    m = _OF.match(s)
    if m:
        return PartName(_norm(m.group("stem")), "of", int(m.group("num")))
    m = _NUMBERED.match(s)
    if m and (m.group("kind") or re.search(rf"{_SEP}\d{{1,3}}$", s) or m.group("stem") == ""):
        return PartName(_norm(m.group("stem")), "numbered", int(m.group("num")))
    tokens = [t for t in re.split(rf"{_SEP}+", s) if t]
    if len(tokens) == 1 and tokens[0].lower() in ROLE_WORDS:  # "top.stl", "base.stl"
        return PartName("", f"role:{tokens[0].lower()}", None)
    if len(tokens) >= 2 and tokens[-1].lower() in ROLE_WORDS:
        return PartName(_norm(" ".join(tokens[:-1])), f"role:{tokens[-1].lower()}", None)
    if len(tokens) >= 2 and tokens[0].lower() in ROLE_WORDS:
        return PartName(_norm(" ".join(tokens[1:])), f"role:{tokens[0].lower()}", None)
    return PartName(_norm(s), None, None)


def _norm(s: str) -> str:
    return re.sub(rf"{_SEP}+", " ", s).strip().lower()


def group_names(keys: list[str]) -> list[list[str]]:
    """Group keys of ONE folder into assemblies by name; every key lands in exactly one group.

    Files whose names carry a part marker and share the assembly key form one group (two or
    more files); all other files are groups of one. Output is sorted, so it is deterministic.
    """
    by_key: dict[str, list[str]] = {}
    singles: list[list[str]] = []
    for k in sorted(keys):
        p = part_name(k)
        if p.marker is None:
            singles.append([k])
        else:
            by_key.setdefault(p.key, []).append(k)
    groups = singles
    for members in by_key.values():
        if len(members) >= 2:
            groups.append(members)
        else:
            groups.extend([m] for m in members)
    return sorted(groups)


__all__ = ["MESH_EXTENSIONS", "ROLE_WORDS", "PartName", "extension", "folder", "group_names", "is_mesh", "part_name", "stem"]
