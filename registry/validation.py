"""Offline rules over the manifest and the files under `schemas/` (part of `contracts check`).

`registry.manifest.load_manifest` already refuses what cannot be loaded at all (missing keys,
bad topic names, unknown levels, invalid Avro). These rules catch what loads but is wrong:

* every `.avsc` under schemas/ (outside released/) is a contract's schema or a common file;
  every common file defines a type some contract uses (no orphans);
* a contract's name is `<stage>.<event>` of its topic; its schema file is `*.v<major>.avsc`, its
  record's namespace ends in `.v<major>`, and the record is exactly {envelope: Envelope,
  payload: <record>};
* record names are unique: no two contracts share a top-level record, and a named type defined
  in two contracts has one definition;
* declared `meshstream.*` constraints are well-formed (registry.constraints);
* workflows.yaml is runnable: no cycles, unknown or unreachable steps, and every stage a workflow
  names has requested/completed/failed contracts, active when the workflow is active
  (registry.workflows, the same check the worker runs at start-up).
"""
from __future__ import annotations

import json
from pathlib import Path

import yaml

from registry.constraints import constraint_problems
from registry.manifest import Manifest, collect_named_types
from registry.workflows import validate_workflows

ENVELOPE = "dev.meshstream.common.Envelope"


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def manifest_problems(manifest: Manifest) -> list[str]:
    root = manifest.root
    problems: list[str] = []
    doc = yaml.safe_load((root / "contracts.yaml").read_text())
    common_files = list(doc.get("common", []))

    # -- orphans ------------------------------------------------------------------------------
    referenced = {c.schema_file for c in manifest.contracts} | set(common_files)
    for path in sorted(root.rglob("*.avsc")):
        rel = _rel(path, root)
        if rel.startswith("released/"):
            continue
        if rel not in referenced:
            problems.append(f"orphan schema {rel}: no contract in contracts.yaml uses it and it is not a common file")
    used_names: set[str] = set()
    for c in manifest.contracts:
        used_names |= set(collect_named_types(c.schema))
    for rel in common_files:
        try:
            names = set(collect_named_types(json.loads((root / rel).read_text())))
        except (OSError, json.JSONDecodeError) as exc:
            problems.append(f"common file {rel}: {exc}")
            continue
        if names and not names & used_names:
            problems.append(f"orphan common file {rel}: none of its types ({', '.join(sorted(names))}) is used by a contract")

    # -- conventions ----------------------------------------------------------------------------
    owners_by_record: dict[str, str] = {}
    definitions: dict[str, tuple[str, str]] = {}  # full name -> (contract, canonical definition)
    for c in manifest.contracts:
        where = f"contract {c.name} ({c.subject})"
        if c.name != f"{c.stage}.{c.event}":
            problems.append(f"{where}: name must be '<stage>.<event>' of its topic, i.e. {c.stage}.{c.event!s}")
        if not c.schema_file.endswith(f".v{c.major}.avsc"):
            problems.append(f"{where}: schema file {c.schema_file} must end in .v{c.major}.avsc (the topic's major)")
        ns = c.schema.get("namespace", "")
        if not ns.endswith(f".v{c.major}"):
            problems.append(f"{where}: namespace {ns!r} must end in .v{c.major}")
        fields = c.schema.get("fields", [])
        names = [f.get("name") for f in fields]
        if names != ["envelope", "payload"]:
            problems.append(f"{where}: record must have exactly the fields [envelope, payload], not {names}")
        else:
            env_t = fields[0]["type"]
            env_name = env_t if isinstance(env_t, str) else f"{env_t.get('namespace')}.{env_t.get('name')}"
            if env_name != ENVELOPE:
                problems.append(f"{where}: envelope must be {ENVELOPE}, not {env_name}")
            pay_t = fields[1]["type"]
            if not (isinstance(pay_t, dict) and pay_t.get("type") == "record"):
                problems.append(f"{where}: payload must be a record defined in the schema")
        if c.record_name in owners_by_record:
            problems.append(f"{where}: record name {c.record_name} is already used by contract {owners_by_record[c.record_name]}")
        owners_by_record[c.record_name] = c.name
        for full, definition in collect_named_types(c.schema).items():
            canon = json.dumps(definition, sort_keys=True)
            if full in definitions and definitions[full][1] != canon:
                problems.append(f"{where}: named type {full} differs from its definition in contract {definitions[full][0]} "
                                "(one name, one definition: move it to schemas/common/ or rename it)")
            definitions.setdefault(full, (c.name, canon))
        for p in constraint_problems(c.schema):
            problems.append(f"{where}: {p}")

    # -- workflows ------------------------------------------------------------------------------
    wf_path = root / "workflows.yaml"
    if wf_path.exists():
        problems += validate_workflows(wf_path, manifest)
    return problems


def workflow_stages(spec: dict | None) -> list[str]:
    """Stage names a workflow uses (steps, and any nested branches)."""
    out: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("stage"), str):
                out.append(node["stage"])
            for v in node.values():
                if isinstance(v, (list, dict)):
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk((spec or {}).get("steps", []))
    return list(dict.fromkeys(out))
