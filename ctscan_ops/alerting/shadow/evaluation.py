"""Shadow-mode evaluation over time: incremental (sensor) and by day (backfillable asset).

A disabled Cloud Monitoring policy does not evaluate, so ctscan_ops replays what it would have
done. Two entry points, one semantics (:func:`ctscan_ops.alerting.engine.evaluator.evaluate`):

- :func:`advance` moves a policy's shadow state forward from the last evaluated tick to a new
  one, returning incident open/close events. It looks back only ``lookback_s(policy)`` before
  the first new tick (longest alignment period + retest window + auto_close + one tick): that
  is all the history any new tick's state can depend on, so the cost of a sensor tick depends on
  the new points, not on how much history exists.
- :func:`incidents_opened_between` lists the incidents that open inside a window (a day), with
  their close found by evaluating up to ``close_horizon_s`` further; an incident belongs to the
  day it opened in, so daily partitions never count one twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ctscan_ops.alerting.catalog import Policy
from ctscan_ops.alerting.engine.evaluator import (
    TICK_S,
    EvaluationResult,
    Incident,
    evaluate,
    incident_id,
    iso,
)
from ctscan_ops.alerting.engine.series import TimeSeries


@dataclass(frozen=True)
class ShadowEvent:
    """An incident the policy would have opened or closed."""

    kind: str  # "open" | "close"
    policy: str
    environment: str
    incident_id: str
    labels: dict[str, str]
    at: float  # epoch seconds of the tick
    open: float
    peak: float | None
    close_reason: str | None = None  # "cleared" | "auto_close" (close events)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["at_iso"] = iso(self.at)
        d["open_iso"] = iso(self.open)
        return d


def lookback_s(policy: Policy) -> int:
    """History needed before a tick to know its state exactly."""
    longest = 0
    for cond in policy.conditions:
        periods = [a.alignment_period_s or TICK_S for a in cond.aggregations]
        periods += [a.alignment_period_s or TICK_S for a in cond.denominator_aggregations]
        longest = max(longest, max(periods, default=TICK_S) + cond.duration_s)
    return longest + (policy.auto_close_s or 0) + TICK_S


def floor_tick(ts: float) -> float:
    return float(np.floor(ts / TICK_S) * TICK_S)


def group_key(condition: int, labels: Mapping[str, str]) -> str:
    return json.dumps([condition, sorted(labels.items())], separators=(",", ":"))


def advance(
    policy: Policy,
    series: Sequence[TimeSeries],
    open_incidents: Mapping[str, Mapping[str, Any]],
    evaluated_through: float,
    new_end: float,
) -> tuple[list[ShadowEvent], dict[str, dict[str, Any]]]:
    """Evaluate ticks in ``(evaluated_through, new_end]`` given the incidents open before them.

    ``open_incidents`` maps :func:`group_key` to ``{"id", "open", "peak", "labels"}`` (JSON-able,
    kept in the sensor cursor). ``series`` must cover ``lookback_s(policy)`` before the first
    new tick. Returns the events in time order and the incidents open after ``new_end``.
    """
    first = floor_tick(evaluated_through) + TICK_S
    last = floor_tick(new_end)
    state: dict[str, dict[str, Any]] = {k: dict(v) for k, v in open_incidents.items()}
    if last < first:
        return [], state
    start = first - lookback_s(policy)
    result = evaluate(policy, series, start, last, warmup=False)
    ticks = result.ticks
    new_mask = ticks >= first
    env = policy.environment or ""
    events: list[ShadowEvent] = []
    for cond in result.conditions:
        is_gt = cond.condition.comparison == "COMPARISON_GT"
        reasons = {round(i.close, 3): i.close_reason for i in cond.incidents if i.close}
        for g, labels in enumerate(cond.groups):
            key = group_key(cond.index, labels)
            met = cond.met[g][new_mask]
            vals = cond.values[g][new_mask]
            t_new = ticks[new_mask]
            current = state.get(key)
            for j, is_met in enumerate(met):
                v = vals[j]
                if is_met and current is None:
                    opened = float(t_new[j])
                    current = {
                        "id": incident_id(policy.name, cond.index, labels, opened),
                        "open": opened,
                        "peak": None if np.isnan(v) else float(v),
                        "labels": dict(labels),
                    }
                    state[key] = current
                    events.append(_event("open", policy.name, env, current, opened))
                elif is_met and current is not None and not np.isnan(v):
                    peak = current["peak"]
                    if peak is None or (v > peak if is_gt else v < peak):
                        current["peak"] = float(v)
                elif not is_met and current is not None:
                    closed_at = float(t_new[j])
                    reason = reasons.get(round(closed_at, 3), "cleared")
                    events.append(_event("close", policy.name, env, current, closed_at, reason))
                    del state[key]
                    current = None
    # groups that vanished entirely from the output (no series at all) stay open until
    # auto_close says otherwise; the evaluator handles that when their data returns.
    events.sort(key=lambda e: (e.at, e.kind != "close", e.incident_id))
    return events, state


def _event(
    kind: str, policy: str, env: str, inc: Mapping[str, Any], at: float, reason: str | None = None
) -> ShadowEvent:
    return ShadowEvent(
        kind=kind,
        policy=policy,
        environment=env,
        incident_id=inc["id"],
        labels=dict(inc["labels"]),
        at=at,
        open=inc["open"],
        peak=inc["peak"],
        close_reason=reason,
    )


def incidents_opened_between(
    policy: Policy,
    series: Sequence[TimeSeries],
    start: float,
    end: float,
    close_horizon_s: int = 6 * 3600,
) -> list[Incident]:
    """Incidents whose open tick is in ``[start, end)``; closes searched up to the horizon.

    ``series`` must cover ``[start - lookback_s(policy), end + close_horizon_s]`` where data
    exists. An incident still open at the horizon (or at the end of the data) has no close.
    """
    return evaluate_day(policy, series, start, end, close_horizon_s)[0]


def evaluate_day(
    policy: Policy,
    series: Sequence[TimeSeries],
    start: float,
    end: float,
    close_horizon_s: int = 6 * 3600,
) -> tuple[list[Incident], EvaluationResult]:
    """:func:`incidents_opened_between` and the evaluation it came from (its per-condition
    aligned values over ``[floor_tick(start) - lookback_s(policy), floor_tick(end) +
    close_horizon_s]``, which ``shadow_incidents`` stores for the tuning report)."""
    eval_start = floor_tick(start) - lookback_s(policy)
    eval_end = floor_tick(end) + close_horizon_s
    result = evaluate(policy, series, eval_start, eval_end, warmup=False)
    return [i for i in result.incidents if start <= i.open < end], result
