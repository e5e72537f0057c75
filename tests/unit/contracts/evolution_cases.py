"""Schema-evolution cases with the verdict Confluent's compatibility levels give each, as data.

Used offline by test_evolution.py (avro's reader/writer checker through registry.compatibility)
and reusable against a live registry: register `history` in order under NONE, set the level,
then ask whether `new` is accepted.

How the expectations are derived (Confluent "Schema Evolution and Compatibility"):
  backward = a reader with the NEW schema resolves data written with an OLD one;
  forward  = a reader with an OLD schema resolves data written with the NEW one;
  BACKWARD / FORWARD / FULL compare with the latest version only, *_TRANSITIVE with every
  earlier version, FULL = both directions, NONE accepts everything.
Confluent's summary: BACKWARD allows deleting fields and adding optional fields; FORWARD allows
adding fields and deleting optional fields; FULL allows adding and deleting optional fields.
Each case states the Avro resolution rule that decides it (Avro spec, "Schema Resolution").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LEVELS = ("BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE",
          "FULL", "FULL_TRANSITIVE", "NONE")


@dataclass(frozen=True)
class EvolutionCase:
    name: str
    history: tuple[dict[str, Any], ...]  # released versions, oldest first
    new: dict[str, Any]
    expected: dict[str, bool]  # level -> accepted
    why: str

    @property
    def old_schema(self) -> dict[str, Any]:
        return self.history[-1]

    @property
    def new_schema(self) -> dict[str, Any]:
        return self.new


def verdicts(backward: bool, forward: bool, backward_all: bool | None = None,
             forward_all: bool | None = None) -> dict[str, bool]:
    """Expected acceptance per level from the directions against the latest / all versions."""
    b_all = backward if backward_all is None else backward_all
    f_all = forward if forward_all is None else forward_all
    return {
        "BACKWARD": backward, "BACKWARD_TRANSITIVE": b_all,
        "FORWARD": forward, "FORWARD_TRANSITIVE": f_all,
        "FULL": backward and forward, "FULL_TRANSITIVE": b_all and f_all,
        "NONE": True,
    }


def record(*fields: dict, name: str = "Thing", namespace: str = "dev.meshstream.evolution", **extra) -> dict:
    return {"type": "record", "name": name, "namespace": namespace, "fields": list(fields), **extra}


def f(name: str, type_: Any, **extra) -> dict:
    return {"name": name, "type": type_, **extra}


ID = f("id", "string")
COLOR = {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN"]}
COLOR_WITH_DEFAULT = {"type": "enum", "name": "Color", "symbols": ["UNKNOWN", "RED", "GREEN"], "default": "UNKNOWN"}

CASES: list[EvolutionCase] = [
    EvolutionCase(
        "add optional field (with default)",
        (record(ID),), record(ID, f("note", ["null", "string"], default=None)),
        verdicts(backward=True, forward=True),
        "new reader fills the default for old data; old readers ignore the unknown field"),
    EvolutionCase(
        "add required field (no default)",
        (record(ID),), record(ID, f("size", "long")),
        verdicts(backward=False, forward=True),
        "new reader has no value (and no default) for old data; old readers ignore the new field"),
    EvolutionCase(
        "remove field that had a default",
        (record(ID, f("note", "string", default="")),), record(ID),
        verdicts(backward=True, forward=True),
        "new reader ignores the old field; old readers use their default for new data"),
    EvolutionCase(
        "remove field without default",
        (record(ID, f("size", "long")),), record(ID),
        verdicts(backward=True, forward=False),
        "new reader ignores it; old readers need it and have no default"),
    EvolutionCase(
        "promote int to long",
        (record(ID, f("count", "int")),), record(ID, f("count", "long")),
        verdicts(backward=True, forward=False),
        "a long reader reads int data (promotion); an int reader cannot read long data"),
    EvolutionCase(
        "narrow long to int",
        (record(ID, f("count", "long")),), record(ID, f("count", "int")),
        verdicts(backward=False, forward=True),
        "the reverse of a promotion"),
    EvolutionCase(
        "promote float to double",
        (record(ID, f("ratio", "float")),), record(ID, f("ratio", "double")),
        verdicts(backward=True, forward=False),
        "float promotes to double, not back"),
    EvolutionCase(
        "enum symbol added, no enum default",
        (record(ID, f("color", COLOR)),),
        record(ID, f("color", {**COLOR, "symbols": ["RED", "GREEN", "BLUE"]})),
        verdicts(backward=True, forward=False),
        "new reader knows every old symbol; old readers meet BLUE with no default to fall back to"),
    EvolutionCase(
        "enum symbol added, readers have an enum default",
        (record(ID, f("color", COLOR_WITH_DEFAULT)),),
        record(ID, f("color", {**COLOR_WITH_DEFAULT, "symbols": ["UNKNOWN", "RED", "GREEN", "BLUE"]})),
        verdicts(backward=True, forward=True),
        "old readers map the unknown BLUE to their enum default UNKNOWN"),
    EvolutionCase(
        "enum symbol added, only the new schema declares an enum default",
        (record(ID, f("color", COLOR)),),
        record(ID, f("color", {**COLOR, "symbols": ["RED", "GREEN", "BLUE"], "default": "RED"})),
        verdicts(backward=True, forward=False),
        "the enum default helps the reader that has it; old readers do not"),
    EvolutionCase(
        "enum symbol removed, no enum default",
        (record(ID, f("color", COLOR)),), record(ID, f("color", {**COLOR, "symbols": ["RED"]})),
        verdicts(backward=False, forward=True),
        "old data may hold GREEN, which the new reader cannot map"),
    EvolutionCase(
        "enum symbol removed, new schema has an enum default",
        (record(ID, f("color", COLOR_WITH_DEFAULT)),),
        record(ID, f("color", {**COLOR_WITH_DEFAULT, "symbols": ["UNKNOWN", "RED"]})),
        verdicts(backward=True, forward=True),
        "the new reader maps old GREEN to UNKNOWN; old readers know every remaining symbol"),
    EvolutionCase(
        "union branch added",
        (record(ID, f("value", ["null", "string"], default=None)),),
        record(ID, f("value", ["null", "string", "long"], default=None)),
        verdicts(backward=True, forward=False),
        "new reader's union covers every old branch; old readers cannot read a long branch"),
    EvolutionCase(
        "union branch removed",
        (record(ID, f("value", ["null", "string", "long"], default=None)),),
        record(ID, f("value", ["null", "string"], default=None)),
        verdicts(backward=False, forward=True),
        "old data may use the long branch the new reader dropped"),
    EvolutionCase(
        "make a field nullable (string -> [null, string])",
        (record(ID, f("name", "string")),), record(ID, f("name", ["null", "string"], default=None)),
        verdicts(backward=True, forward=False),
        "a union reader reads plain strings; a string reader cannot read a null"),
    EvolutionCase(
        "rename field with an alias for the old name",
        (record(ID, f("name", "string")),), record(ID, f("title", "string", aliases=["name"])),
        verdicts(backward=True, forward=False),
        "aliases are a reader-side feature: the new reader finds 'name' through its alias; old readers "
        "look for 'name' in new data and find only 'title'"),
    EvolutionCase(
        "rename field with an alias and a default",
        (record(ID, f("name", "string", default="")),), record(ID, f("title", "string", aliases=["name"], default="")),
        verdicts(backward=True, forward=True),
        "as above, and old readers fall back to their default for 'name'"),
    EvolutionCase(
        "rename field without alias",
        (record(ID, f("name", "string")),), record(ID, f("title", "string")),
        verdicts(backward=False, forward=False),
        "a different field as far as Avro is concerned: neither side finds its required field"),
    EvolutionCase(
        "rename record with an alias for the old name",
        (record(ID, name="Thing"),), record(ID, name="Item", aliases=["dev.meshstream.evolution.Thing"]),
        verdicts(backward=True, forward=False),
        "the new reader accepts the old name through its alias; old readers see a different record name"),
    EvolutionCase(
        "change a field's type (string -> int)",
        (record(ID, f("size", "string")),), record(ID, f("size", "int")),
        verdicts(backward=False, forward=False),
        "no resolution between string and int"),
    EvolutionCase(
        "only the latest version matters for non-transitive levels",
        # v1 has `size` as a string, v2 drops it, v3 brings it back as an int with a default.
        (record(ID, f("size", "string")), record(ID)),
        record(ID, f("size", "int", default=0)),
        verdicts(backward=True, forward=True, backward_all=False, forward_all=False),
        "against v2 both directions resolve; against v1 an int reader meets string data (backward) and "
        "a string reader meets int data (forward)"),
]
