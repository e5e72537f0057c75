"""The TypeScript client against the Python side, without servers: it builds with `tsc --strict`,
writes the same Avro bytes as fastavro for every contract, enforces the same constraints with the
same field paths, reads patterns the way Python's `re` does, and derives the same ids."""
from __future__ import annotations

import copy
import io
import json
import re

import fastavro
import pytest

from registry.codegen import constraint_table, Model
from registry.constraints import ConstraintViolation, check_record
from registry.manifest import collect_named_types, default_manifest
from streams.core.envelope import derived_id
from tests import tsclient
from tests.unit.contracts.test_codegen import sample


def test_builds_with_tsc_strict():
    config = json.loads((tsclient.PACKAGE / "tsconfig.json").read_text())
    assert config["compilerOptions"]["strict"] is True
    result = tsclient.build()
    assert result.returncode == 0, result.stdout + result.stderr
    assert tsclient.TOOL.exists()


def _sample(contract):
    return sample(contract.schema, collect_named_types(contract.schema))


def test_avro_bytes_equal_fastavro_for_every_contract():
    manifest = default_manifest()
    records = {c.name: _sample(c) for c in manifest.contracts}
    node = tsclient.run("encode", {"records": records})
    for c in manifest.contracts:
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, c.parsed_schema, records[c.name])
        assert node[c.name] == buf.getvalue().hex(), c.name


def _listing(title_length: int = 140, **changes) -> dict:
    contract = default_manifest().by_name("etsy-listing.completed")
    record = _sample(contract)
    listing = record["payload"]["listing"]
    listing.update(title="T" * title_length, when_made="made_to_order", tags=["ok", "Café ü"], materials=["PLA"], images=[])
    listing["price"]["currency_code"] = "USD"
    for path, value in changes.items():
        target = record
        *parents, leaf = path.split(".")
        for p in parents:
            target = target[p]
        target[leaf] = value
    return record


CASES = {
    "valid": _listing(),
    "title 141": _listing(141),
    "title 140 astral": _listing(0, **{"payload.listing.title": "🙂" * 140}),  # code points, not UTF-16 units
    "title 141 astral": _listing(0, **{"payload.listing.title": "🙂" * 141}),
    "title newline": _listing(0, **{"payload.listing.title": "two\nlines"}),
    "14 tags": _listing(**{"payload.listing.tags": [f"t{i}" for i in range(14)]}),
    "duplicate tag": _listing(**{"payload.listing.tags": ["a", "b", "a"]}),
    "tag underscore": _listing(**{"payload.listing.tags": ["ok", "snake_case"]}),
    "tag 21 chars": _listing(**{"payload.listing.tags": ["x" * 21]}),
    "price 0": _listing(**{"payload.listing.price.amount": 0}),
    "currency lower": _listing(**{"payload.listing.price.currency_code": "usd"}),
    "currency trailing newline": _listing(**{"payload.listing.price.currency_code": "USD\n"}),
    "quantity 1000": _listing(**{"payload.listing.quantity": 1000}),
}


def _python_violation(contract_name: str, record: dict):
    try:
        check_record(default_manifest().by_name(contract_name).schema, record)
    except ConstraintViolation as exc:
        return {"field": exc.field, "constraint": exc.constraint}
    return None


def test_constraints_name_the_same_field_path_as_python():
    names = list(CASES)
    node = tsclient.run("check", {"cases": [{"contract": "etsy-listing.completed", "record": CASES[n]} for n in names]})
    results = dict(zip(names, node))
    for name in names:
        expected = _python_violation("etsy-listing.completed", CASES[name])
        got = None if results[name] is None else {k: results[name][k] for k in ("field", "constraint")}
        assert got == expected, name
    assert results["valid"] is None
    assert results["title 141"]["field"] == "payload.listing.title"
    assert results["title 141"]["constraint"] == "maxLength"
    assert "141" in results["title 141"]["message"] and "140" in results["title 141"]["message"]
    assert results["duplicate tag"]["field"] == "payload.listing.tags[2]"


STRINGS = ["", "a", "abc", "ABC", "USD", "USD\n", "usd", "Café", "ü-ß", "x_y", "snake_case", "made_to_order",
           "1990s", "2010_2020", "before_2007", "front", "turntable_07", "a" * 64, "0123456789abcdef" * 4,
           "50% off: A&B + C", "100%% off", "a::b", "🙂", "tab\there", "line\n", "™ ©", "Ünïcödé 北京", "٣", "x" * 141]


def test_every_declared_pattern_matches_as_in_python():
    manifest = default_manifest()
    entries = []
    for contract in manifest.contracts:
        model = Model([contract])
        for entry in constraint_table(model, contract):
            if "pattern" in entry["spec"]:
                entries.append((contract, entry))
    assert entries, "the manifest declares patterns; the table must carry them"
    py_patterns = _python_patterns(manifest)
    node = tsclient.run("patterns", {"cases": [{"pattern": e["spec"]["pattern"], "samples": STRINGS} for _, e in entries]})
    for (contract, entry), answers in zip(entries, node):
        py = py_patterns[(contract.name, tuple(entry["path"]))]
        assert answers == [re.search(py, s) is not None for s in STRINGS], (contract.name, entry["path"], py)


def _python_patterns(manifest) -> dict:
    """(contract, path) -> the Python pattern, walking the same table without translation."""
    import registry.codegen as codegen

    out = {}
    original = codegen.js_pattern
    codegen.js_pattern = lambda p: p
    try:
        for contract in manifest.contracts:
            for entry in constraint_table(Model([contract]), contract):
                if "pattern" in entry["spec"]:
                    out[(contract.name, tuple(entry["path"]))] = entry["spec"]["pattern"]
    finally:
        codegen.js_pattern = original
    return out


def test_derived_ids_equal_python():
    parts = [["scan-1", "model-1"], ["a"], ["ü", "🙂", ""]]
    assert tsclient.run("derived-ids", {"parts": parts}) == [derived_id(*p) for p in parts]


def test_untranslatable_pattern_fails_generation():
    from registry.codegen import js_pattern

    with pytest.raises(ValueError, match="no JavaScript spelling"):
        js_pattern(r"^[\W]+$")
