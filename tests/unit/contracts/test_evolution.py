"""Every evolution case is accepted or rejected under every level exactly as Confluent says."""
from __future__ import annotations

import pytest

from registry.compatibility import LEVELS as MODULE_LEVELS
from registry.compatibility import can_read, check_against, directions
from tests.unit.contracts.evolution_cases import CASES, LEVELS

PARAMS = [pytest.param(case, level, id=f"{case.name} | {level}") for case in CASES for level in LEVELS]


@pytest.mark.parametrize("case,level", PARAMS)
def test_case_under_level(case, level):
    history = list(enumerate(case.history, start=1))
    problems = check_against("evolution-value", case.new, history, level)
    accepted = not problems
    assert accepted == case.expected[level], (
        f"{case.name} under {level}: expected {'accept' if case.expected[level] else 'reject'} ({case.why}); "
        f"got {[str(p) for p in problems] or 'accepted'}")
    for p in problems:  # every rejection names subject, version and what broke
        assert p.subject == "evolution-value" and 1 <= p.version <= len(case.history)
        assert str(p).startswith(f"evolution-value: ") and f"v{p.version}" in str(p)
        assert p.messages and all(p.messages)


def test_levels_are_confluents():
    assert set(MODULE_LEVELS) == set(LEVELS)
    assert directions("NONE") == (False, False, False)
    assert directions("FULL_TRANSITIVE") == (True, True, True)
    assert directions("FORWARD") == (False, True, False)
    with pytest.raises(ValueError):
        directions("BACKWARDS")


def test_every_level_is_exercised_both_ways():
    for level in LEVELS[:-1]:
        outcomes = {case.expected[level] for case in CASES}
        assert outcomes == {True, False}, level


def test_rejection_message_names_the_problem():
    case = next(c for c in CASES if c.name == "add required field (no default)")
    ok, why = can_read(case.new, case.old_schema)
    assert not ok and "reader_field_missing_default_value" in why[0] and "size" in why[0]
