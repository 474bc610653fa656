"""Multi-condition policies: the policy's ``combiner`` applied to per-condition states.

A layer above :mod:`ctscan_ops.alerting.engine.evaluator`: every condition is evaluated on its
own (values, missing-data handling, retest window, trigger, auto_close hold), exactly as for a
one-condition policy; this module only combines the resulting per-group per-tick open states.
:mod:`ctscan_ops.alerting.engine.reference` re-implements the same rules per tick, sharing no
code with this module; ``tests/alerting/test_combiner_property.py`` holds the two equal.

Semantics (source: the API's ``AlertPolicy.ConditionCombinerType``, google/monitoring/v3/
alert.proto, as published in the client references, e.g.
https://cloud.google.com/ruby/docs/reference/google-cloud-monitoring-v3/latest/Google-Cloud-Monitoring-V3-AlertPolicy-ConditionCombinerType;
../shared/reference/peers-and-semantics.md A1):

``OR``
    "An incident is created if any of the listed conditions is met." Incidents stay per
    condition and per time series (group), as the evaluator already reports them; nothing is
    combined.
``AND``
    "An incident is created only if all the conditions are met simultaneously. This combiner is
    satisfied if all conditions are met, even if they are met on completely different
    resources." A condition is *met* at a tick when at least one of its groups is in the open
    state there (its trigger already applied). The policy has one incident (labels ``{}``)
    for each run of ticks on which every condition is met.
``AND_WITH_MATCHING_RESOURCE``
    "An incident is created only if all conditions are met simultaneously on at least one
    resource." One incident per group of the primary condition (``conditions[0]``): group ``g``
    is open at a tick when it is open in the primary condition and every other condition has an
    open group on the *same resource*. Two groups are on the same resource when they agree on
    every ``resource.labels.*`` key both carry (the rule the evaluator uses to match a ratio's
    denominator); a group that was reduced to no resource label (``group_by_fields: []``)
    therefore matches every resource. Incident labels are the primary group's labels.

No data (per condition)
    Each condition applies its own ``evaluation_missing_data`` before combining: INACTIVE -> a
    tick without data does not meet the condition (so an AND cannot open, and an open AND
    incident closes); ACTIVE -> it does; NO_OP -> the condition keeps its last state.
    auto_close holds a condition's group closed as in the evaluator.

Closing
    A combined incident closes at the first tick on which the combination no longer holds.
    ``close_reason`` is ``"auto_close"`` when, at that tick, some condition (AND) -- or, for
    AND_WITH_MATCHING_RESOURCE, the primary group or every group of another condition that
    matches its resource -- has had no data for ``auto_close`` seconds after having had data
    (the policy "has no data for this long"); otherwise ``"cleared"``.

Peak
    The most extreme value of the primary condition over the run (max for GT, min for LT), taken
    over the primary groups that are open at each tick (AND), or of the incident's primary
    group (AND_WITH_MATCHING_RESOURCE).

Warm-up: the combined state is computed on the returned ticks only; an incident open at the
first returned tick opens there (use ``warmup=False`` with enough look-back, as the shadow
evaluation does, for exact open times).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ctscan_ops.alerting.catalog import COMBINERS, Policy
from ctscan_ops.alerting.engine.evaluator import (
    TICK_S,
    ConditionResult,
    EvaluationResult,
    Incident,
    incident_id,
)

__all__ = [
    "CombinedResult",
    "combine_states",
    "evaluate_policy",
    "resources_match",
]


@dataclass
class CombinedResult(EvaluationResult):
    """An :class:`EvaluationResult` whose one condition is the combined policy state.

    ``conditions`` holds a single synthetic :class:`ConditionResult` (index 0, the primary
    condition, combined groups/met/incidents) so every consumer of one-condition results works
    unchanged; ``per_condition`` keeps what each condition alone would have done.
    """

    combiner: str = "OR"
    per_condition: list[ConditionResult] = field(default_factory=list)


def _resource_labels(labels: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in labels.items() if k.startswith("resource.labels.")}


def resources_match(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    """Same resource: equal on every ``resource.labels.*`` key both groups carry."""
    ra, rb = _resource_labels(a), _resource_labels(b)
    return all(ra[k] == rb[k] for k in ra.keys() & rb.keys())


def _auto_close_hold(values: np.ndarray, auto_close_s: int | None, tick_s: int) -> np.ndarray:
    """(G, T): no data in the last ``auto_close`` seconds and some data before that."""
    has = ~np.isnan(values)
    hold = np.zeros(values.shape, dtype=bool)
    if not auto_close_s or auto_close_s <= 0 or values.size == 0:
        return hold
    m = math.ceil(auto_close_s / tick_s)
    n_t = values.shape[1]
    if m >= n_t:
        return hold
    idx = np.arange(n_t)
    last = np.maximum.accumulate(np.where(has, idx, -1), axis=1)
    hold = (last >= 0) & (idx[None, :] - last >= m)
    return hold


def combine_states(
    combiner: str,
    met: Sequence[np.ndarray],
    labels: Sequence[Sequence[Mapping[str, str]]],
) -> tuple[list[dict[str, str]], np.ndarray, list[np.ndarray]]:
    """Combined open state from per-condition ``met`` arrays (each (G_c, T)).

    Returns ``(groups, state, members)``: the combined groups' labels, their (G, T) state and,
    per combined group, a (C, ...) list of boolean masks over each condition's groups that the
    combined group depends on (AND: all groups; AWMR: the primary group and the matching ones).
    """
    n_t = met[0].shape[1]
    if combiner == "AND":
        state = np.ones(n_t, dtype=bool)
        for m in met:
            state &= m.any(axis=0) if m.shape[0] else np.zeros(n_t, dtype=bool)
        members = [np.ones(m.shape[0], dtype=bool) for m in met]
        return [{}], state[None, :], [members]
    if combiner != "AND_WITH_MATCHING_RESOURCE":
        raise ValueError(f"combiner {combiner!r}: expected AND or AND_WITH_MATCHING_RESOURCE")
    groups: list[dict[str, str]] = []
    rows: list[np.ndarray] = []
    all_members: list[list[np.ndarray]] = []
    for g, lab in enumerate(labels[0]):
        row = met[0][g].copy()
        members = [np.arange(met[0].shape[0]) == g]
        for c in range(1, len(met)):
            match = np.array([resources_match(lab, other) for other in labels[c]], dtype=bool)
            members.append(match)
            row &= met[c][match].any(axis=0) if match.any() else np.zeros(n_t, dtype=bool)
        groups.append(dict(lab))
        rows.append(row)
        all_members.append(members)
    state = np.array(rows, dtype=bool) if rows else np.zeros((0, n_t), dtype=bool)
    return groups, state, all_members


def evaluate_policy(
    policy: Policy,
    series: Sequence[Any],
    start: float,
    end: float,
    *,
    auto_close_s: int | None = None,
    policy_name: str | None = None,
    warmup: bool = True,
    tick_s: int = TICK_S,
) -> EvaluationResult:
    """Evaluate ``policy`` with its combiner (OR: the evaluator's result as it is)."""
    from ctscan_ops.alerting.engine.evaluator import evaluate

    combiner = policy.combiner
    if combiner not in COMBINERS:
        raise ValueError(f"policy {policy.name!r}: unknown combiner {combiner!r}")
    base = evaluate(
        replace(policy, combiner="OR"),
        series,
        start,
        end,
        auto_close_s=auto_close_s,
        policy_name=policy_name,
        warmup=warmup,
        tick_s=tick_s,
    )
    if combiner == "OR" or len(base.conditions) < 2:
        return base
    auto_close = policy.auto_close_s if auto_close_s is None else auto_close_s
    conds = base.conditions
    groups, state, members = combine_states(
        combiner, [c.met for c in conds], [c.groups for c in conds]
    )
    holds = [_auto_close_hold(c.values, auto_close, tick_s) for c in conds]
    primary = conds[0]
    is_gt = primary.condition.comparison == "COMPARISON_GT"
    pick = np.fmax if is_gt else np.fmin
    n_t = base.ticks.size
    values = np.full(state.shape, np.nan)
    if combiner == "AND":
        if primary.values.shape[0]:
            # while some primary group is open, only the open groups' values count
            some_open = primary.met.any(axis=0)
            src = np.where(some_open[None, :] & ~primary.met, np.nan, primary.values)
            values[0] = pick.reduce(src, axis=0)
    else:
        values[:] = primary.values
    incidents: list[Incident] = []
    name = base.policy
    for gi, lab in enumerate(groups):
        row = state[gi]
        padded = np.concatenate([[False], row, [False]]).astype(np.int8)
        d = np.diff(padded)
        opens = np.flatnonzero(d == 1)
        closes = np.flatnonzero(d == -1)
        for a, e in zip(opens.tolist(), closes.tolist(), strict=True):
            seg = values[gi, a:e]
            pk = float(pick.reduce(seg)) if seg.size else math.nan
            if e < n_t:
                close: float | None = float(base.ticks[e])
                held = _held(combiner, holds, members[gi], e)
                reason: str | None = "auto_close" if held else "cleared"
                close_index: int | None = e
            else:
                close, reason, close_index = None, None, None
            incidents.append(
                Incident(
                    id=incident_id(name, 0, lab, float(base.ticks[a])),
                    policy=name,
                    condition=0,
                    labels=dict(lab),
                    open=float(base.ticks[a]),
                    close=close,
                    peak=None if math.isnan(pk) else pk,
                    close_reason=reason,
                    group=gi,
                    open_index=a,
                    close_index=close_index,
                )
            )
    incidents.sort(key=lambda i: (i.open, i.group))
    combined = ConditionResult(0, primary.condition, groups, values, state, incidents)
    return CombinedResult(
        policy=base.policy,
        environment=base.environment,
        ticks=base.ticks,
        conditions=[combined],
        incidents=list(incidents),
        issues=base.issues,
        combiner=combiner,
        per_condition=list(conds),
    )


def _held(combiner: str, holds: list[np.ndarray], members: list[np.ndarray], e: int) -> bool:
    """Whether the policy is in an auto_close hold at tick ``e`` (see module docstring)."""
    for c, hold in enumerate(holds):
        mask = members[c]
        if not mask.any():
            continue
        if combiner == "AND_WITH_MATCHING_RESOURCE" and c == 0:
            if hold[mask, e].any():
                return True
            continue
        if hold[mask, e].all():
            return True
    return False
