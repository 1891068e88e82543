"""The drills' own plumbing: the budget option reaches the drills."""

from __future__ import annotations


def test_budget_is_small_in_the_suite_and_scales(drill_budget: int) -> None:
    assert drill_budget in (1, 10)
