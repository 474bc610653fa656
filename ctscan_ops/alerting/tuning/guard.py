"""Minimum-traffic guard of a ratio policy: the lowest request-rate floor the shadow data supports.

A 5xx ratio over a handful of requests fires on one error: one failed request in a quiet
five minutes of staging is a 10 % "error rate". Cloud Monitoring users guard such a policy with
a second condition on request volume, combined with AND (``request_count`` ALIGN_RATE > floor).
This module picks the floor from recorded series and labelled incident windows:

* candidate floors are the guard's own values at the ticks where the ratio condition is open
  (a floor between two such values behaves exactly like the lower one, with GT);
* for each candidate the guarded state is ``ratio open AND guard condition met`` (the guard's
  retest window and missing-data mode as in the catalog), incidents are its runs and they are
  scored against the windows with :func:`ctscan_ops.alerting.shadow.quality.score`;
* the answer is the lowest floor with no false incident that still detects every labelled window
  the unguarded policy detected; if no floor removes every false incident without missing one,
  there is no answer (``floor`` None: a guard that only thins the false pages also blinds the
  policy whenever traffic is below it), and the lowest floor with the fewest false incidents
  among those that miss none is reported as ``partial_floor``, for a person to weigh;
* the value written to the catalog is the shortest decimal in ``[floor, next candidate)``, the
  interval over which the outcome on this data is identical.

Pure: numpy in, dataclasses out; no Dagster, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ctscan_ops.alerting.engine.evaluator import TICK_S, condition_met
from ctscan_ops.alerting.shadow.quality import score

__all__ = [
    "FloorChoice",
    "choose_floor",
    "evaluate_condition_values",
    "gate_primary_values",
    "guard_evidence",
    "guard_floor_for_policy",
    "guard_markdown",
    "is_guarded",
    "nice_floor",
]


@dataclass(frozen=True)
class _Run:
    id: str
    open: float
    close: float | None


@dataclass
class FloorChoice:
    """The chosen floor and the evidence for it (JSON-ready with :meth:`as_dict`)."""

    floor: float | None  # value for the catalog (None: no floor removes every false incident
    #                      without missing a labelled one, or nothing to remove)
    exact_floor: float | None  # the candidate it stands for
    complete: bool  # every false incident removed (with ``floor``, or there were none)
    incidents_before: int
    false_before: int
    incidents_after: int
    false_after: int
    labelled: int
    detected_before: int
    detected_after: int
    traffic_above_floor: float | None  # share of ticks with data whose traffic is above it
    lowest_missing_floor: float | None  # the lowest candidate that misses a labelled window
    reason: str
    table: list[dict[str, Any]] = field(default_factory=list)
    partial_floor: float | None = None  # fewest false incidents without a miss, when incomplete

    def as_dict(self) -> dict[str, Any]:
        return {
            "floor": self.floor,
            "exact_floor": self.exact_floor,
            "complete": self.complete,
            "incidents_before": self.incidents_before,
            "false_incidents_before": self.false_before,
            "incidents_after": self.incidents_after,
            "false_incidents_after": self.false_after,
            "labelled_incidents": self.labelled,
            "detected_before": self.detected_before,
            "detected_after": self.detected_after,
            "traffic_above_floor": self.traffic_above_floor,
            "lowest_missing_floor": self.lowest_missing_floor,
            "partial_floor": self.partial_floor,
            "reason": self.reason,
        }


def _runs(state: np.ndarray, ticks: np.ndarray) -> list[_Run]:
    padded = np.concatenate([[0], state.astype(np.int8), [0]])
    d = np.diff(padded)
    opens = np.flatnonzero(d == 1)
    closes = np.flatnonzero(d == -1)
    out = []
    for a, e in zip(opens.tolist(), closes.tolist(), strict=True):
        close = float(ticks[e]) if e < ticks.size else None
        out.append(_Run(f"run-{a}", float(ticks[a]), close))
    return out


def nice_floor(lo: float, hi: float | None) -> float:
    """The shortest decimal in ``[lo, hi)`` (``lo`` itself if none is shorter)."""
    if lo <= 0:
        return 0.0
    for digits in range(1, 8):
        step = 10 ** (math.floor(math.log10(lo)) - digits + 1)
        cand = math.ceil(lo / step - 1e-9) * step
        cand = float(f"{cand:.{max(0, -math.floor(math.log10(step)))}f}")
        if cand >= lo and (hi is None or cand < hi):
            return cand
    return float(lo)


def choose_floor(
    primary_open: np.ndarray,
    traffic: np.ndarray,
    ticks: np.ndarray,
    windows: Iterable[Any],
    *,
    guard_duration_s: int = 0,
    guard_missing_data: str = "EVALUATION_MISSING_DATA_INACTIVE",
    tick_s: int = TICK_S,
) -> FloorChoice:
    """Lowest GT floor on ``traffic`` that removes the false incidents of ``primary_open``.

    ``primary_open``: per tick, the ratio condition has an open incident (T,). ``traffic``: the
    guard condition's value per tick (NaN = no data) (T,). ``windows``: labelled incident
    windows of this policy and environment (see :func:`~.quality.windows_from`).
    """
    p = np.asarray(primary_open, dtype=bool)
    v = np.asarray(traffic, dtype=float)
    t = np.asarray(ticks, dtype=float)
    wins = list(windows)
    if not (p.shape == v.shape == t.shape):
        raise ValueError(f"shapes differ: open {p.shape}, traffic {v.shape}, ticks {t.shape}")

    def outcome(floor: float | None) -> tuple[int, int, set[int], int]:
        if floor is None:
            state = p
        else:
            met, _ = condition_met(
                v, "COMPARISON_GT", floor, guard_duration_s, guard_missing_data, None, tick_s
            )
            state = p & met
        runs = _runs(state, t)
        q = score(runs, wins, t, tick_s=tick_s)
        detected = {i for i, d in enumerate(q.window_detection_s) if d is not None}
        return q.incidents, q.false_incidents, detected, q.labelled_incidents

    inc0, false0, det0, labelled = outcome(None)
    cands = np.unique(v[p & ~np.isnan(v)])
    table: list[dict[str, Any]] = []
    best: tuple[float, int, int, set[int]] | None = None  # floor, incidents, false, detected
    lowest_missing: float | None = None
    for f in cands.tolist():
        inc, false, det, _ = outcome(f)
        keeps = det0 <= det
        table.append({"floor": f, "incidents": inc, "false": false, "missed": len(det0 - det)})
        if not keeps:
            lowest_missing = f if lowest_missing is None else min(lowest_missing, f)
            break  # a higher floor removes more ticks and cannot bring the window back
        if best is None or false < best[2]:
            best = (f, inc, false, det)
        if false == 0:
            break
    if best is None or best[2] >= false0:
        return FloorChoice(
            floor=None,
            exact_floor=None,
            complete=false0 == 0,
            incidents_before=inc0,
            false_before=false0,
            incidents_after=inc0,
            false_after=false0,
            labelled=labelled,
            detected_before=len(det0),
            detected_after=len(det0),
            traffic_above_floor=None,
            lowest_missing_floor=lowest_missing,
            reason=(
                "no false incident to remove"
                if false0 == 0
                else "no floor removes a false incident without missing a labelled one"
            ),
            table=table,
        )
    f, inc, false, det = best
    higher = cands[cands > f]
    value = nice_floor(f, float(higher[0]) if higher.size else None)
    has = ~np.isnan(v)
    share = float(np.count_nonzero(v[has] > value) / np.count_nonzero(has)) if has.any() else None
    kept = f"keeps {len(det)}/{labelled} labelled incident(s)"
    above = "" if share is None else f"; traffic is above it on {share:.0%} of the ticks"
    if false == 0:
        reason = f"lowest floor removing all {false0} false incident(s); {kept}{above}"
    else:
        reason = (
            f"no floor removes all {false0} false incident(s) without missing a labelled one "
            f"(a floor of {value:g} would remove {false0 - false} and {kept}{above}); none set"
        )
    return FloorChoice(
        floor=value if false == 0 else None,
        partial_floor=None if false == 0 else value,
        exact_floor=f,
        complete=false == 0,
        incidents_before=inc0,
        false_before=false0,
        incidents_after=inc,
        false_after=false,
        labelled=labelled,
        detected_before=len(det0),
        detected_after=len(det),
        traffic_above_floor=share,
        lowest_missing_floor=lowest_missing,
        reason=reason,
        table=table,
    )


def evaluate_condition_values(
    policy: Any,
    index: int,
    values_for: Any,
    start: float,
    end: float,
    *,
    auto_close_s: int | None = None,
    tick_s: int = TICK_S,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``evaluate(policy.conditions[index], series, start, end, auto_close_s=...)`` from
    aligned values: ``values_for(policy, index, ticks)`` gives the condition's groups over
    ``ticks`` (warm-up of its duration included, as :func:`evaluate` aligns them). Returns
    the output ticks, values (G, T) and open-incident state (G, T) over ``[start, end]``."""
    from ctscan_ops.alerting.engine.evaluator import (
        incidents_from_values,
        make_ticks,
        stack_values,
    )

    cond = policy.conditions[index]
    out_ticks = make_ticks(start, end, tick_s)
    ticks = make_ticks(start - cond.duration_s, end, tick_s)
    groups = values_for(policy, index, ticks)
    vals = stack_values(groups, ticks.size)
    met, _ = incidents_from_values(
        vals,
        ticks,
        cond.comparison,
        cond.threshold_value,
        cond.duration_s,
        cond.evaluation_missing_data,
        auto_close_s,
        trigger=cond.trigger,
        labels=[g.labels for g in groups],
        policy=cond.display_name or "condition",
        condition=0,
        tick_s=tick_s,
    )
    cut = ticks.size - out_ticks.size
    return out_ticks, vals[:, cut:], met[:, cut:]


def guard_floor_for_policy(
    policy: Any,
    series: Sequence[Any] | None,
    start: float,
    end: float,
    windows: Iterable[Any],
    *,
    guard_index: int = 1,
    values_for: Any = None,
) -> FloorChoice:
    """:func:`choose_floor` for a resolved guarded policy (ratio: condition 0, guard: index).

    The ratio condition is evaluated alone with the policy's auto_close; the guard's values come
    from the same evaluator, so the floor holds for what the evaluator (and Cloud Monitoring)
    computes.
    """
    from ctscan_ops.alerting.engine.evaluator import evaluate

    guard_cond = policy.conditions[guard_index]
    if values_for is not None:  # from aligned values (stored by shadow_incidents)
        ticks, _, ratio_met = evaluate_condition_values(
            policy, 0, values_for, start, end, auto_close_s=policy.auto_close_s
        )
        primary_open = ratio_met.any(axis=0) if ratio_met.shape[0] else np.zeros(ticks.size, bool)
        _, g_values, _ = evaluate_condition_values(policy, guard_index, values_for, start, end)
    else:
        ratio = evaluate(policy.conditions[0], series, start, end, auto_close_s=policy.auto_close_s)
        guard = evaluate(guard_cond, series, start, end)
        ticks, primary_open, g_values = ratio.ticks, ratio.met, guard.conditions[0].values
    if g_values.shape[0] > 1:
        raise ValueError(
            f"policy {policy.name!r}: the guard condition has {g_values.shape[0]} series; "
            "a floor is chosen for a guard reduced to one series (group_by_fields: [])"
        )
    traffic = g_values[0] if g_values.shape[0] else np.full(ticks.size, np.nan)
    return choose_floor(
        primary_open,
        traffic,
        ticks,
        windows,
        guard_duration_s=guard_cond.duration_s,
        guard_missing_data=guard_cond.evaluation_missing_data,
    )


def gate_primary_values(
    policy: Any, series: Any, ticks: np.ndarray, values: np.ndarray, *, values_for: Any = None
) -> tuple[np.ndarray, str | None]:
    """With ``combiner: AND`` the fixed conditions gate the tuned one: where they are not all
    met (evaluated once, at their catalog values) the primary's value counts as no data, which
    with INACTIVE missing data never violates. This restarts the primary's retest window when a
    gate drops, so the sweep is at most as eager as the API's AND of the two states."""
    if policy.combiner != "AND" or len(policy.conditions) < 2:
        return values, None
    if policy.condition.evaluation_missing_data != "EVALUATION_MISSING_DATA_INACTIVE":
        return values, "other conditions not applied: the primary condition is not INACTIVE"
    from ctscan_ops.alerting.engine.evaluator import evaluate

    gate = np.ones(ticks.size, dtype=bool)
    start, end = float(ticks[0]), float(ticks[-1])
    for i, c in enumerate(policy.conditions[1:], start=1):
        if values_for is not None:  # from aligned values (``values_for(policy, i, ticks)``)
            _, _, met = evaluate_condition_values(
                policy, i, values_for, start, end, auto_close_s=policy.auto_close_s
            )
            gate &= met.any(axis=0) if met.shape[0] else False
            continue
        res = evaluate(c, series, start, end, auto_close_s=policy.auto_close_s)
        gate &= res.conditions[0].any_met
    gated = np.where(gate, values, np.nan)
    share = float(np.count_nonzero(gate) / gate.size) if gate.size else 0.0
    return gated, (
        f"combiner AND: condition[0] swept only where the fixed condition(s) are met "
        f"({share:.0%} of the ticks)"
    )


def is_guarded(policy: Any) -> bool:
    """A ratio policy ANDed with a single-series condition without denominator (the guard)."""
    return (
        policy.combiner == "AND"
        and len(policy.conditions) == 2
        and policy.conditions[0].is_ratio
        and not policy.conditions[1].is_ratio
    )


def guard_evidence(
    policy: Any,
    series: Sequence[Any] | None,
    start: float,
    end: float,
    windows: Iterable[Any],
    *,
    values_for: Any = None,
) -> dict[str, Any] | None:
    """The tuning report's ``guard`` entry: the floor in force and what the data would choose."""
    if not is_guarded(policy):
        return None
    choice = guard_floor_for_policy(policy, series, start, end, windows, values_for=values_for)
    in_force = policy.conditions[1].threshold_value
    chosen = 0.0 if choice.floor is None else choice.floor
    return {
        "floor_in_force": in_force,
        "matches_data": math.isclose(in_force, chosen, rel_tol=1e-9, abs_tol=1e-12),
        **choice.as_dict(),
    }


def guard_markdown(environment: str, docs: dict[str, dict[str, Any]]) -> str:
    """Markdown table of the guards in tuning documents (empty string without guards)."""
    from ctscan_ops.common.markdown import md_table

    rows = []
    for name in sorted(docs):
        g = docs[name].get("guard")
        if not g:
            continue
        rows.append(
            [
                f"`{name}`",
                f"{g['floor_in_force']:g}",
                "none" if g["floor"] is None else f"{g['floor']:g}",
                f"{g['false_incidents_before']} -> {g['false_incidents_after']}",
                f"{g['detected_after']}/{g['labelled_incidents']}",
                "-" if g["traffic_above_floor"] is None else f"{g['traffic_above_floor']:.0%}",
                g["reason"],
            ]
        )
    if not rows:
        return ""
    header = [
        "policy",
        "floor in force (req/s)",
        "floor the data chooses",
        "false incidents (unguarded -> guarded)",
        "labelled kept",
        "ticks above floor",
        "why",
    ]
    return f"\n### Minimum-traffic guards, `{environment}`\n\n" + md_table(header, rows) + "\n"
