"""Fuel analysis: how much of its budget a run used, and a budget that would suit it.

Fuel is roughly one unit per WebAssembly instruction (``format_fuel`` writes
``2.5 B`` for 2.5 x 10**9). :func:`analyze_fuel` rates a run by utilization:

=============  ===================================================
status         utilization of ``fuel_budget``
=============  ===================================================
``efficient``  below 50 %
``moderate``   50 % up to 75 %
``warning``    75 % up to 90 %
``critical``   90 % and more (without running out)
``exhausted``  the budget ran out (the host saw the out-of-fuel trap)
=============  ===================================================

The suggested budget gives the same workload about 50 % utilization, is rounded
up to a "nice" number (1, 2, 2.5 or 5 x 10**k) and is never below
:data:`MIN_SUGGESTED_BUDGET`. Usage::

    analyze_fuel(1_700_000_000, 2_000_000_000).status     # 'warning'
    analyze_fuel(2_000_000_000, 2_000_000_000, exhausted=True).suggested_budget
"""

from __future__ import annotations

from dataclasses import dataclass

from ._policy import _bounds, format_fuel
from ._profile import FuelProfile, ProfileLine
from ._result import FuelAnalysis, FuelStatus

__all__ = [
    "MIN_SUGGESTED_BUDGET",
    "Calibration",
    "Hotspot",
    "analyze_fuel",
    "calibrate_budget",
    "dominant_line",
    "find_hotspot",
    "nice_ceil",
]

#: The smallest budget ever suggested (a fresh Python run alone costs more).
MIN_SUGGESTED_BUDGET = 10_000_000

# Upper bounds of utilization (percent) for each status below "critical".
_THRESHOLDS: tuple[tuple[float, FuelStatus], ...] = (
    (50.0, "efficient"),
    (75.0, "moderate"),
    (90.0, "warning"),
)
# A suggestion gives the workload this share of the budget: room to grow 2x.
_TARGET_SHARE = 2
# After running out we don't know the true cost; ask for at least this many times more.
_EXHAUSTED_FACTOR = 4


def analyze_fuel(
    fuel_consumed: int,
    fuel_budget: int,
    *,
    exhausted: bool = False,
    profile: FuelProfile | None = None,
) -> FuelAnalysis:
    """Rate one run's fuel use and suggest a budget for similar runs.

    Parameters
    ----------
    fuel_consumed
        Fuel the user's code used (start-up excluded), in instructions.
    fuel_budget
        The budget it ran under. ``0`` is accepted: utilization is then 0 % for
        a run that used nothing and 100 % otherwise.
    exhausted
        True when the budget ran out before the code finished.
    profile
        The run's fuel profile, if it was profiled: a run that used most of its
        budget then also hears which line spent it (see :func:`find_hotspot`).

    Returns
    -------
    FuelAnalysis
        ``status``, ``utilization_percent`` (not capped at 100),
        ``suggested_budget`` (capped at the largest budget a policy allows) and a
        one- or two-sentence ``recommendation`` with figures in human units.
    """
    consumed = max(0, fuel_consumed)
    budget = max(0, fuel_budget)
    # With no budget to divide by, a run that used anything used "all" of it.
    utilization = 100.0 * consumed / budget if budget else (100.0 if consumed else 0.0)
    status: FuelStatus = "exhausted" if exhausted else _status(utilization)

    if status == "exhausted":
        target = _EXHAUSTED_FACTOR * max(budget, consumed)
    elif status in ("warning", "critical"):
        target = max(_TARGET_SHARE * consumed, budget)
    else:
        target = _TARGET_SHARE * consumed
    suggested = min(max(nice_ceil(target), MIN_SUGGESTED_BUDGET), _max_budget())

    recommendation = _recommendation(status, utilization, consumed, budget, suggested)
    hotspot = None
    if profile is not None and status in ("warning", "critical", "exhausted"):
        hotspot = find_hotspot(profile, budget)
        if hotspot is not None:
            recommendation = f"{recommendation} {hotspot.sentence} {hotspot.fix}"
    dominant = dominant_line(profile) if profile is not None else None
    return FuelAnalysis(
        status=status,
        utilization_percent=round(utilization, 2),
        fuel_consumed=consumed,
        fuel_budget=budget,
        suggested_budget=suggested,
        recommendation=recommendation,
        hot_line=hotspot.line.line if hotspot else None,
        hot_line_percent=hotspot.percent if hotspot else None,
        dominant_line=dominant[0].line if dominant else None,
        dominant_line_percent=dominant[1] if dominant else None,
        dominant_line_sentence=dominant[2] if dominant else "",
    )


def dominant_line(profile: FuelProfile) -> tuple[ProfileLine, float, str] | None:
    """The line that spent the most fuel itself, its share of the profiled fuel, in words."""
    if not profile.lines:
        return None
    top = max(profile.lines, key=lambda item: (item.self_fuel, -item.line))
    profiled = profile.total_fuel - profile.unprofiled_fuel
    if top.self_fuel <= 0 or profiled <= 0:
        return None
    percent = round(100.0 * top.self_fuel / profiled, 1)
    text = top.text if len(top.text) <= 60 else top.text[:57] + "..."
    where = f"Line {top.line}" + (f", `{text}`," if text else "")
    runs = "once" if top.hits == 1 else f"{top.hits:,} times"
    return top, percent, f"{where} spent {_percent(percent)} of the fuel (it ran {runs})."


@dataclass(frozen=True)
class Calibration:
    """A fuel budget measured from one run (see :func:`calibrate_budget`)."""

    budget: int  # the budget to set
    fuel_used: int  # what the measuring run used
    dominant_line: int | None  # with a profile: the line that spent the most
    message: str  # one or two sentences for a status bar or a log


def calibrate_budget(
    fuel_used: int,
    margin: float,
    *,
    profile: FuelProfile | None = None,
    min_budget: int = MIN_SUGGESTED_BUDGET,
) -> Calibration:
    """The budget a measuring run suggests: what it used plus ``margin``, rounded up.

    Parameters
    ----------
    fuel_used
        The measuring run's ``fuel_consumed`` (run it with a generous budget).
    margin
        Head-room as a fraction (0.5 is 50 %).
    profile
        The run's fuel profile, if it was profiled: the message then names the
        line that dominates, so a budget isn't raised for one loop that should change.
    min_budget
        The smallest budget returned.

    Usage::

        result = sandbox.execute(code, policy=generous, profile=True)
        calibrate_budget(result.fuel_consumed, 0.5, profile=result.profile).budget
    """
    used = max(0, fuel_used)
    budget = min(_max_budget(), max(min_budget, nice_ceil(int(used * (1 + max(0.0, margin))))))
    message = (
        f"Calibrated: the code used {_words(used)}; fuel budget {_words(budget)} "
        f"({round(100 * max(0.0, margin))} % margin)."
    )
    dominant = dominant_line(profile) if profile is not None else None
    if dominant is not None:
        message = f"{message} {dominant[2]}"
    return Calibration(
        budget=budget,
        fuel_used=used,
        dominant_line=dominant[0].line if dominant else None,
        message=message,
    )


#: A line that ran at least this many times is a loop body: the place to change.
HOT_LOOP_HITS = 1000
#: A line with at least this share of the budget "spent most of it".
HOT_SHARE = 50.0


@dataclass(frozen=True)
class Hotspot:
    """The line that spent most of a profiled run's fuel, in words."""

    line: ProfileLine
    percent: float
    sentence: str  # "Line 12, `for ...`, used 81% of the budget (40,000 runs)."
    fix: str  # whether a larger budget or a change to that line is the sensible fix


def find_hotspot(profile: FuelProfile, fuel_budget: int) -> Hotspot | None:
    """The line of the user's code that spent the most fuel itself, and what to do.

    A line that took most of the budget over many runs is a loop to change (or
    to bound); one that took it in a few runs is big work that a larger budget
    suits; fuel spread thin over many lines also calls for a larger budget.
    """
    if not profile.lines or fuel_budget <= 0:
        return None
    top = max(profile.lines, key=lambda item: (item.self_fuel, -item.line))
    if top.self_fuel <= 0:
        return None
    text = top.text if len(top.text) <= 60 else top.text[:57] + "..."
    where = f"Line {top.line}" + (f", `{text}`," if text else "")
    runs = "once" if top.hits == 1 else f"{top.hits:,} times"
    profiled = profile.total_fuel - profile.unprofiled_fuel
    if profile.unprofiled_fuel and profiled > 0:
        # Profiling stopped part-way (its allowance ran out): the share of what
        # was profiled is the best estimate of the share of the run.
        percent = round(100.0 * top.self_fuel / profiled, 1)
        sentence = (
            f"{where} used {_percent(percent)} of the fuel while the run was profiled "
            f"(it ran {runs} before profiling stopped)."
        )
    else:
        percent = round(100.0 * top.self_fuel / fuel_budget, 1)
        sentence = f"{where} used {_percent(percent)} of the budget (it ran {runs})."
    if percent >= HOT_SHARE and top.hits >= HOT_LOOP_HITS:
        per_run = _words(top.self_fuel // top.hits)
        fix = (
            f"Change that line rather than the budget: each run of it costs about {per_run} "
            "instructions, so a cheaper body or fewer iterations is the fix (and if it is "
            "meant to end, check that its loop can)."
        )
    elif percent >= HOT_SHARE:
        fix = (
            "That line is one large piece of work: if it is meant to be that large, a larger "
            "budget is the sensible fix; otherwise make that step cheaper."
        )
    else:
        fix = (
            "No single line dominates, so a larger budget is the sensible fix if the work "
            "is meant to be this large."
        )
    return Hotspot(line=top, percent=percent, sentence=sentence, fix=fix)


def nice_ceil(value: int) -> int:
    """Round ``value`` up to the next number of the form 1, 2, 2.5 or 5 x 10**k.

    Values below 1 give 1; 2.5 only appears from 25 upwards, so the result is
    always an integer.
    """
    scale = 1
    while True:
        for candidate in (scale, 2 * scale, 5 * scale // 2, 5 * scale):
            if candidate >= value:
                return candidate
        scale *= 10


def _status(utilization: float) -> FuelStatus:
    for upper, status in _THRESHOLDS:
        if utilization < upper:
            return status
    return "critical"


def _max_budget() -> int:
    bounds = _bounds("fuel_budget")
    return int(bounds[1]) if bounds is not None else 10**12


def _percent(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0") + "%"


def _words(count: int) -> str:
    return format_fuel(count)


def _recommendation(
    status: FuelStatus, utilization: float, consumed: int, budget: int, suggested: int
) -> str:
    new = _words(suggested)
    at_max = suggested <= budget and status in ("warning", "critical", "exhausted")
    cheaper = (
        f"The budget is already the largest a policy allows ({_words(budget)}), "
        "so the work itself has to get cheaper"
    )
    if status == "exhausted":
        raise_it = (
            cheaper
            if at_max
            else (f"If the work is genuinely large, raise the budget to at least {new}")
        )
        return (
            f"The fuel budget of {_words(budget)} instructions ran out before the code "
            f"finished. {raise_it}; the code may also loop forever, so run it once with a "
            "much smaller input (or check that every loop condition can become false) to tell "
            "which."
        )
    if budget == 0:
        return (
            f"There was no fuel budget to measure against (0); this run used "
            f"{_words(consumed)} instructions. A budget of {new} would suit similar runs."
        )
    share = (
        f"This run used {_percent(utilization)} of its fuel budget "
        f"({_words(consumed)} of {_words(budget)} instructions)"
    )
    if status == "efficient":
        if suggested < budget:
            return f"{share}, plenty of headroom. A budget of {new} would also suit similar runs."
        return f"{share}, plenty of headroom. The current budget suits similar runs."
    if status == "moderate":
        if suggested <= budget:
            return f"{share}, which is comfortable. The current budget suits similar runs."
        return (
            f"{share}, which is comfortable. For larger inputs, consider a budget of {new} "
            "so the same code has room to grow."
        )
    close = ", close to the limit" if status == "warning" else " and nearly ran out"
    if at_max:
        return f"{share}{close}. {cheaper}: do less per run or use a faster approach."
    if status == "warning":
        return (
            f"{share}{close}. Raise the budget to {new} so that a slightly larger input "
            "doesn't run out."
        )
    return f"{share}{close}. Raise the budget to {new} before running it on more data."
