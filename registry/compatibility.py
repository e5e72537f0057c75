"""Schema evolution under Confluent's compatibility levels, checked offline against released files.

Semantics (Confluent Schema Registry, "Schema Evolution and Compatibility"):

    BACKWARD             the new schema can read data written with the latest version
    BACKWARD_TRANSITIVE  ... with every earlier version
    FORWARD              the latest version can read data written with the new schema
    FORWARD_TRANSITIVE   every earlier version can read data written with the new schema
    FULL                 BACKWARD and FORWARD (latest version only)
    FULL_TRANSITIVE      BACKWARD and FORWARD against every earlier version
    NONE                 no check

"Can read" is Avro schema resolution as decided by the reference implementation's
reader/writer compatibility checker (`avro.compatibility.ReaderWriterCompatibilityChecker`, a
port of Java's `SchemaCompatibility`, which Confluent's registry itself uses). We do not
re-implement the rules.

Released versions are immutable files: `schemas/released/<subject>/v<N>.avsc` holds the
expanded, self-contained schema exactly as registered, and `schemas/released/SHA256SUMS`
(`sha256sum` format, so `sha256sum -c` verifies it too) pins every one. An edited, deleted or
unlisted release is an error. `release()` writes the next version of every active contract whose
current schema differs from its latest release, after checking it under the subject's level.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from registry.manifest import Contract, Manifest

LEVELS = ("BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE",
          "FULL", "FULL_TRANSITIVE", "NONE")
RELEASED_DIR = "released"
LOCK_FILE = "SHA256SUMS"
_VERSION_FILE = re.compile(r"^v([1-9][0-9]*)\.avsc$")


class ReleaseError(ValueError):
    """The released versions are inconsistent (edited, missing, unlisted, non-contiguous)."""


@dataclass(frozen=True)
class Incompatibility:
    """One failed reader/writer pairing of a subject's new schema against a released version."""

    subject: str
    version: int  # the released version compared against
    direction: str  # "backward" (new reads old) or "forward" (old reads new)
    messages: tuple[str, ...]

    def __str__(self) -> str:
        who = ("new schema cannot read data written with" if self.direction == "backward"
               else "consumers on")
        tail = "" if self.direction == "backward" else " cannot read data written with the new schema"
        return f"{self.subject}: {who} v{self.version}{tail}: " + "; ".join(self.messages)


# -- the reader/writer check -------------------------------------------------------------------
def _text(schema: str | dict) -> str:
    return schema if isinstance(schema, str) else json.dumps(schema)


@lru_cache(maxsize=1024)
def _parse(text: str) -> avro.schema.Schema:
    return avro.schema.parse(text)


def can_read(reader: str | dict, writer: str | dict) -> tuple[bool, tuple[str, ...]]:
    """(True, ()) if data written with `writer` resolves into `reader`; else (False, reasons)."""
    result = ReaderWriterCompatibilityChecker().get_compatibility(_parse(_text(reader)), _parse(_text(writer)))
    if result.compatibility is SchemaCompatibilityType.compatible:
        return True, ()
    kinds = ", ".join(sorted({k.value for k in result.incompatibilities}))
    detail = f"{kinds} at {', '.join(sorted(result.locations))}: {'; '.join(sorted(result.messages))}"
    return False, (detail,)


def directions(level: str) -> tuple[bool, bool, bool]:
    """(backward, forward, transitive) for a Confluent level."""
    if level not in LEVELS:
        raise ValueError(f"unknown compatibility level {level!r}; expected one of {LEVELS}")
    if level == "NONE":
        return False, False, False
    base = level.replace("_TRANSITIVE", "")
    return base in ("BACKWARD", "FULL"), base in ("FORWARD", "FULL"), level.endswith("_TRANSITIVE")


def check_against(subject: str, new: str | dict, previous: list[tuple[int, str | dict]], level: str) -> list[Incompatibility]:
    """Check `new` against `previous` [(version, schema), ...] (any order) under `level`.

    Non-transitive levels compare with the latest (highest) version only, as Confluent does.
    """
    backward, forward, transitive = directions(level)
    if not previous or not (backward or forward):
        return []
    ordered = sorted(previous, key=lambda p: p[0])
    targets = ordered if transitive else ordered[-1:]
    problems = []
    for version, old in targets:
        if backward:
            ok, why = can_read(new, old)
            if not ok:
                problems.append(Incompatibility(subject, version, "backward", why))
        if forward:
            ok, why = can_read(old, new)
            if not ok:
                problems.append(Incompatibility(subject, version, "forward", why))
    return problems


def is_compatible(new: str | dict, previous: list[str | dict], level: str) -> bool:
    """Convenience for tests and tools: `previous` oldest first."""
    return not check_against("<subject>", new, list(enumerate(previous, start=1)), level)


# -- released versions ----------------------------------------------------------------------------
def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def release_text(schema: dict) -> str:
    """The exact bytes a released version file holds (stable, readable, newline-terminated)."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def same_schema(a: str | dict, b: str | dict) -> bool:
    """Identical JSON documents (docs and custom properties included: registries version on them)."""
    a = json.loads(a) if isinstance(a, str) else a
    b = json.loads(b) if isinstance(b, str) else b
    return a == b


@dataclass
class Releases:
    """All released versions under one schemas root, verified against the lock file."""

    root: Path
    versions: dict[str, dict[int, str]] = field(default_factory=dict)  # subject -> version -> text
    errors: list[str] = field(default_factory=list)

    @property
    def dir(self) -> Path:
        return self.root / RELEASED_DIR

    def latest(self, subject: str) -> tuple[int, str] | None:
        vs = self.versions.get(subject)
        if not vs:
            return None
        n = max(vs)
        return n, vs[n]

    def history(self, subject: str) -> list[tuple[int, str]]:
        return sorted(self.versions.get(subject, {}).items())


def read_lock(path: Path) -> dict[str, str]:
    """{relative path: sha256} from a sha256sum-format file."""
    out: dict[str, str] = {}
    if not path.exists():
        return out
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        m = re.match(r"^([0-9a-f]{64})  (\S.*)$", line)
        if not m:
            raise ReleaseError(f"{path}:{n}: not a 'sha256  path' line: {line!r}")
        out[m.group(2)] = m.group(1)
    return out


def load_releases(root: Path | str) -> Releases:
    """Read `released/`; integrity problems are collected in `.errors` (never silently ignored)."""
    rel = Releases(Path(root))
    base = rel.dir
    try:
        lock = read_lock(base / LOCK_FILE)
    except ReleaseError as exc:
        rel.errors.append(str(exc))
        lock = {}
    seen: set[str] = set()
    if base.is_dir():
        for sub in sorted(p for p in base.iterdir() if p.is_dir()):
            subject = sub.name
            for f in sorted(sub.iterdir()):
                relpath = f"{subject}/{f.name}"
                m = _VERSION_FILE.match(f.name)
                if not m:
                    rel.errors.append(f"released/{relpath}: unexpected file (released versions are v<N>.avsc)")
                    continue
                seen.add(relpath)
                text = f.read_text(encoding="utf-8")
                digest = sha256_text(text)
                if relpath not in lock:
                    rel.errors.append(f"{subject} v{m.group(1)}: released/{relpath} is not in released/{LOCK_FILE} "
                                      "(release with `meshstream contracts release`, never by hand)")
                elif lock[relpath] != digest:
                    rel.errors.append(f"{subject} v{m.group(1)}: released/{relpath} was edited after release "
                                      f"(sha256 {digest[:12]}..., locked {lock[relpath][:12]}...); released versions are immutable, "
                                      "evolve the schema in its source file and release a new version")
                try:
                    avro.schema.parse(text)
                except Exception as exc:  # noqa: BLE001 - any parse failure is a broken release
                    rel.errors.append(f"{subject} v{m.group(1)}: released/{relpath} is not valid Avro: {exc}")
                    continue
                rel.versions.setdefault(subject, {})[int(m.group(1))] = text
            nums = sorted(rel.versions.get(subject, {}))
            if nums and nums != list(range(1, len(nums) + 1)):
                rel.errors.append(f"{subject}: released versions {nums} are not contiguous from v1")
    for relpath in sorted(set(lock) - seen):
        rel.errors.append(f"released/{relpath} is listed in {LOCK_FILE} but missing (a released version was deleted)")
    return rel


@dataclass(frozen=True)
class SubjectStatus:
    contract: Contract
    latest_version: int | None
    unreleased_change: bool
    problems: tuple[Incompatibility, ...]


def check_manifest(manifest: Manifest, releases: Releases | None = None) -> list[SubjectStatus]:
    """Every contract's current schema against its released history under its level."""
    releases = releases or load_releases(manifest.root)
    out = []
    for c in manifest.contracts:
        history = releases.history(c.subject)
        problems = check_against(c.subject, c.schema, history, c.compatibility)
        latest = history[-1] if history else None
        out.append(SubjectStatus(
            contract=c, latest_version=latest[0] if latest else None,
            unreleased_change=bool(latest) and not same_schema(c.schema, latest[1]) or (not latest and c.active),
            problems=tuple(problems)))
    return out


def release(manifest: Manifest, *, dry_run: bool = False, subjects: Iterable[str] | None = None) -> list[tuple[str, int]]:
    """Write the next released version of each active contract whose schema changed.

    Refuses (ReleaseError, nothing written) when the releases are inconsistent or any schema to
    release is incompatible with its history under its level. Returns [(subject, version)].
    """
    releases = load_releases(manifest.root)
    if releases.errors:
        raise ReleaseError("released versions are inconsistent:\n  " + "\n  ".join(releases.errors))
    wanted = set(subjects) if subjects is not None else None
    plan: list[tuple[Contract, int]] = []
    problems: list[str] = []
    for c in manifest.active:
        if wanted is not None and c.subject not in wanted:
            continue
        latest = releases.latest(c.subject)
        if latest and same_schema(c.schema, latest[1]):
            continue
        problems += [str(p) for p in check_against(c.subject, c.schema, releases.history(c.subject), c.compatibility)]
        plan.append((c, latest[0] + 1 if latest else 1))
    if problems:
        raise ReleaseError("refusing to release incompatible schemas:\n  " + "\n  ".join(problems))
    if dry_run or not plan:
        return [(c.subject, n) for c, n in plan]
    lock_path = releases.dir / LOCK_FILE
    lines = lock_path.read_text().splitlines() if lock_path.exists() else [
        "# sha256 of every released schema version (sha256sum format). Append-only: written by",
        "# `meshstream contracts release`; `meshstream contracts check` fails on any mismatch.",
    ]
    for c, n in plan:
        text = release_text(c.schema)
        path = releases.dir / c.subject / f"v{n}.avsc"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        lines.append(f"{sha256_text(text)}  {c.subject}/v{n}.avsc")
    lock_path.write_text("\n".join(lines) + "\n")
    return [(c.subject, n) for c, n in plan]
