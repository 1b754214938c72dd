"""Fuel analysis: status thresholds, suggested budgets and their wording."""

from __future__ import annotations

import pytest

from workbench.sandbox._fuel import MIN_SUGGESTED_BUDGET, analyze_fuel, nice_ceil

B = 10**9
M = 10**6


@pytest.mark.parametrize(
    ("consumed", "status"),
    [
        (0, "efficient"),
        (240 * M, "efficient"),
        (999_999_999, "efficient"),  # 49.99...%
        (1 * B, "moderate"),  # exactly 50%
        (1_499_999_999, "moderate"),
        (1_500_000_000, "warning"),  # exactly 75%
        (1_799_999_999, "warning"),
        (1_800_000_000, "critical"),  # exactly 90%
        (2 * B, "critical"),  # 100% without the trap is still "critical"
    ],
)
def test_status_thresholds(consumed: int, status: str) -> None:
    assert analyze_fuel(consumed, 2 * B).status == status


def test_exhausted_overrides_utilization() -> None:
    analysis = analyze_fuel(300 * M, 2 * B, exhausted=True)
    assert analysis.status == "exhausted"
    assert analysis.utilization_percent == 15.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 1),
        (1, 1),
        (2, 2),
        (3, 5),
        (6, 10),
        (11, 20),
        (21, 25),
        (26, 50),
        (51, 100),
        (2_400_000_000, 2_500_000_000),
        (2_500_000_001, 5_000_000_000),
        (10_000_001, 20_000_000),
        (7 * B, 10 * B),
    ],
)
def test_nice_ceil(value: int, expected: int) -> None:
    assert nice_ceil(value) == expected


def test_nice_ceil_results_are_nice() -> None:
    for value in range(1, 5000, 7):
        result = nice_ceil(value)
        assert result >= value
        digits = str(result).rstrip("0")
        assert digits in {"1", "2", "25", "5"}


def test_efficient_run_may_get_a_smaller_budget() -> None:
    analysis = analyze_fuel(240 * M, 2 * B)
    assert analysis.suggested_budget == 500 * M  # 2 x 240 M, rounded up to a nice number
    assert "12%" in analysis.recommendation
    assert "240 M of 2 B" in analysis.recommendation
    assert "500 M" in analysis.recommendation


def test_efficient_run_at_the_current_budget_says_so() -> None:
    analysis = analyze_fuel(900 * M, 2 * B)
    assert analysis.suggested_budget == 2 * B
    assert "current budget suits" in analysis.recommendation


def test_moderate_run_suggests_room_to_grow() -> None:
    analysis = analyze_fuel(1_240 * M, 2 * B)
    assert analysis.status == "moderate"
    assert analysis.suggested_budget == 2_500 * M
    assert "2.5 B" in analysis.recommendation


@pytest.mark.parametrize("consumed", [1_500 * M, 1_700 * M, 1_940 * M, 2 * B])
def test_warning_and_critical_never_suggest_less_than_the_budget(consumed: int) -> None:
    analysis = analyze_fuel(consumed, 2 * B)
    assert analysis.status in ("warning", "critical")
    assert analysis.suggested_budget >= 2 * B
    assert analysis.suggested_budget == 5 * B
    assert "Raise the budget to 5 B" in analysis.recommendation


def test_warning_recommendation_uses_human_units() -> None:
    analysis = analyze_fuel(1_700 * M, 2 * B)
    assert analysis.utilization_percent == 85.0
    assert "85%" in analysis.recommendation
    assert "1.7 B of 2 B" in analysis.recommendation


@pytest.mark.parametrize("consumed", [30 * M, 123 * M, 777 * M, 1_234 * M, 3_456 * M])
def test_suggestion_puts_the_workload_near_half_the_budget(consumed: int) -> None:
    analysis = analyze_fuel(consumed, 4 * B)
    share = consumed / analysis.suggested_budget
    assert 0.2 <= share <= 0.5


def test_small_runs_get_the_minimum_budget() -> None:
    analysis = analyze_fuel(28_000, 2 * B)
    assert analysis.suggested_budget == MIN_SUGGESTED_BUDGET == 10_000_000
    assert "10 M" in analysis.recommendation


@pytest.mark.parametrize(
    ("budget", "suggested"),
    [(2 * B, 10 * B), (3 * B, 20 * B), (500 * M, 2 * B), (1 * M, MIN_SUGGESTED_BUDGET)],
)
def test_exhausted_suggests_at_least_four_times_the_budget(budget: int, suggested: int) -> None:
    analysis = analyze_fuel(budget, budget, exhausted=True)
    assert analysis.status == "exhausted"
    assert analysis.suggested_budget == suggested
    assert analysis.suggested_budget >= 4 * budget


def test_exhausted_recommendation_mentions_infinite_loops() -> None:
    text = analyze_fuel(2 * B, 2 * B, exhausted=True).recommendation
    assert "2 B" in text
    assert "at least 10 B" in text
    assert "loop forever" in text
    assert "smaller input" in text
    assert text.count(". ") <= 1  # one or two sentences


def test_budget_at_the_policy_maximum_is_not_raised() -> None:
    top = 10**12
    exhausted = analyze_fuel(top, top, exhausted=True)
    assert exhausted.suggested_budget == top
    assert "largest a policy allows (1 T)" in exhausted.recommendation
    critical = analyze_fuel(950 * B, top)
    assert critical.suggested_budget == top
    assert "Raise" not in critical.recommendation
    assert "cheaper" in critical.recommendation


def test_budget_zero_does_not_divide_by_zero() -> None:
    idle = analyze_fuel(0, 0)
    assert idle.status == "efficient"
    assert idle.utilization_percent == 0.0
    assert idle.suggested_budget == MIN_SUGGESTED_BUDGET
    busy = analyze_fuel(5 * M, 0)
    assert busy.status == "critical"
    assert busy.utilization_percent == 100.0
    assert busy.suggested_budget == MIN_SUGGESTED_BUDGET
    assert "no fuel budget" in busy.recommendation
    ran_out = analyze_fuel(0, 0, exhausted=True)
    assert ran_out.status == "exhausted"
    assert ran_out.suggested_budget == MIN_SUGGESTED_BUDGET


def test_negative_values_are_treated_as_zero() -> None:
    analysis = analyze_fuel(-5, 2 * B)
    assert analysis.fuel_consumed == 0
    assert analysis.status == "efficient"


def test_fields_are_copied_through() -> None:
    analysis = analyze_fuel(333_333_333, 1 * B)
    assert analysis.fuel_consumed == 333_333_333
    assert analysis.fuel_budget == 1 * B
    assert analysis.utilization_percent == 33.33
