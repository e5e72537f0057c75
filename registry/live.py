"""The repository's contracts against a live Confluent-API schema registry: register and diff.

The repository is the source of truth. `register` makes the registry hold it: per-subject
compatibility (PUT /config/<subject>), then, for a subject the registry does not know yet, every
released version in order (so the registry's own history and compatibility checks match the
repo's), then the current schema if it is not registered. The registry still judges every
registration under the subject's level; a refusal is reported with subject and version and the
run exits non-zero. `diff` reports drift without changing anything.

Works with Confluent Schema Registry and with Apicurio's ccompat API (the local stack); only
`confluent_kafka.schema_registry.SchemaRegistryClient` calls are used. `prefix` puts every
subject under a prefix (for probing a shared registry without touching the real subjects).
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from registry.compatibility import Releases, same_schema
from registry.manifest import Contract, Manifest


def compact(schema: str | dict) -> str:
    """The registered text: compact JSON, as `Contract.schema_str` (what the serde registers)."""
    doc = json.loads(schema) if isinstance(schema, str) else schema
    return json.dumps(doc, separators=(",", ":"))


def client_for(url: str, user_info: str | None = None) -> SchemaRegistryClient:
    conf = {"url": url}
    if user_info:
        conf["basic.auth.user.info"] = user_info
    return SchemaRegistryClient(conf)


@dataclass(frozen=True)
class Action:
    subject: str
    what: str  # set-compatibility, registered, already-registered, refused, would-register, ...
    detail: str = ""
    ok: bool = True

    def __str__(self) -> str:
        return f"{'' if self.ok else 'ERROR '}{self.subject}: {self.what}{' - ' + self.detail if self.detail else ''}"


def _lookup(client: SchemaRegistryClient, subject: str, text: str):
    try:
        return client.lookup_schema(subject, Schema(text, "AVRO"))
    except SchemaRegistryError as exc:
        if exc.http_status_code == 404:
            return None
        raise


def _versions(client: SchemaRegistryClient, subject: str) -> list[int]:
    try:
        return sorted(client.get_versions(subject))
    except SchemaRegistryError as exc:
        if exc.http_status_code == 404:
            return []
        raise


def _level(client: SchemaRegistryClient, subject: str) -> str | None:
    try:
        return client.get_compatibility(subject)
    except SchemaRegistryError as exc:
        if exc.http_status_code == 404:
            return None
        raise


def _wanted(c: Contract, releases: Releases) -> list[tuple[str, str]]:
    """[(label, compact text)]: released versions in order, then the current schema if unreleased."""
    out = [(f"v{n}", compact(text)) for n, text in releases.history(c.subject)]
    if not out or not same_schema(c.schema, out[-1][1]):
        out.append(("current (unreleased)", compact(c.schema)))
    return out


def register(client: SchemaRegistryClient, manifest: Manifest, releases: Releases, *,
             prefix: str = "", dry_run: bool = False) -> list[Action]:
    actions: list[Action] = []
    for c in manifest.active:
        subject = prefix + c.subject
        try:
            if dry_run:
                current = _level(client, subject)
                if current != c.compatibility:
                    actions.append(Action(subject, "would-set-compatibility", f"{current or 'unset'} -> {c.compatibility}"))
            else:
                _ensure_level(client, subject, c.compatibility)
                actions.append(Action(subject, "set-compatibility", c.compatibility))
            fresh = not _versions(client, subject)
            wanted = _wanted(c, releases)
            if not fresh:
                # go on after the newest wanted schema the registry holds: another worker may be
                # midway through the history right now; never append old versions after newer ones
                held = [i for i, (_, text) in enumerate(wanted) if _lookup(client, subject, text) is not None]
                wanted = wanted[held[-1]:] if held else wanted[-1:]
            for label, text in wanted:
                found = None if (fresh and dry_run) else _lookup(client, subject, text)
                if found is not None:
                    actions.append(Action(subject, "already-registered", f"{label} = version {found.version}, id {found.schema_id}"))
                    continue
                if dry_run:
                    actions.append(Action(subject, "would-register", label))
                    continue
                try:
                    sid = client.register_schema(subject, Schema(text, "AVRO"))
                    actions.append(Action(subject, "registered", f"{label}, id {sid}"))
                except SchemaRegistryError as exc:
                    # another worker starting at the same instant may have registered it meanwhile
                    # (registries answer that race differently): present now means success
                    found = _lookup(client, subject, text)
                    if found is not None:
                        actions.append(Action(subject, "already-registered", f"{label} = version {found.version}, id {found.schema_id}"))
                        continue
                    actions.append(Action(subject, "refused", f"{label}: HTTP {exc.http_status_code} {exc.error_message}", ok=False))
                    break
        except SchemaRegistryError as exc:
            actions.append(Action(subject, "error", f"HTTP {exc.http_status_code} {exc.error_message}", ok=False))
    return actions


def _ensure_level(client: SchemaRegistryClient, subject: str, level: str, attempts: int = 3) -> None:
    """Set the subject's compatibility level; an error is success when the level is now the one
    wanted. Several workers starting at once race here: Apicurio answers the loser with 409 "A
    rule named 'COMPATIBILITY' already exists", Confluent with 200; neither is a failure."""
    for attempt in range(attempts):
        try:
            client.set_compatibility(subject, level)
            return
        except SchemaRegistryError:
            if _level(client, subject) == level:
                return
            if attempt == attempts - 1:
                raise


@dataclass(frozen=True)
class Drift:
    subject: str
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.kind} - {self.detail}"


def diff(client: SchemaRegistryClient, manifest: Manifest, releases: Releases, *, prefix: str = "") -> list[Drift]:
    """Everything where the registry differs from the repository (empty = in sync)."""
    drift: list[Drift] = []
    global_level = None
    for c in manifest.active:
        subject = prefix + c.subject
        versions = _versions(client, subject)
        if not versions:
            drift.append(Drift(subject, "missing-subject", "not registered (run `meshstream contracts register`)"))
            continue
        level = _level(client, subject)
        if level is None:
            if global_level is None:
                global_level = _level(client, None) or "BACKWARD"
            level_txt = f"unset (global {global_level})"
            effective = global_level
        else:
            level_txt, effective = level, level
        if effective != c.compatibility or level is None:
            drift.append(Drift(subject, "compatibility", f"registry {level_txt}, manifest {c.compatibility}"))
        known = {text: label for label, text in _wanted(c, releases)}
        for label, text in releases.history(c.subject):
            if _lookup(client, subject, compact(text)) is None:
                drift.append(Drift(subject, "missing-version", f"released v{label} is not in the registry"))
        latest = client.get_version(subject, "latest")
        if not same_schema(latest.schema.schema_str, c.schema):
            drift.append(Drift(subject, "latest-differs",
                               f"registry latest is version {latest.version}"
                               + (f" (= repo {known[compact(latest.schema.schema_str)]})"
                                  if compact(latest.schema.schema_str) in known else " (not in the repo)")
                               + "; repo current schema " + ("is registered earlier" if _lookup(client, subject, compact(c.schema))
                                                             else "is not registered")))
        for v in versions:
            reg = client.get_version(subject, v)
            if compact(reg.schema.schema_str) not in known and not same_schema(reg.schema.schema_str, c.schema):
                drift.append(Drift(subject, "unknown-version", f"registry version {v} (id {reg.schema_id}) is not a released version"))
    ours = {prefix + c.subject for c in manifest.contracts}
    for subject in client.get_subjects():
        if subject.startswith(prefix + "model.") and subject not in ours:
            drift.append(Drift(subject, "orphan-subject", "in the registry but in no contract of the manifest"))
    for c in manifest.contracts:
        if not c.active and _versions(client, prefix + c.subject):
            drift.append(Drift(prefix + c.subject, "planned-registered", "contract is planned but registered"))
    return drift
