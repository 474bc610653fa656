"""The threshold-tuning report of one environment, as data and PNGs (no Dagster, no storage).

``threshold_tuning_report`` (alerting/tuning_assets.py) stays a thin wrapper: it fetches the
series and the register, calls :func:`tune_environment`, stores what comes back and writes the
Terraform variables. Everything that decides what the report says is here, testable on plain
arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ctscan_ops.alerting.catalog import Policy
from ctscan_ops.alerting.engine.series import TimeSeries
from ctscan_ops.alerting.shadow.quality import LabelWindow
from ctscan_ops.alerting.tuning.recommend import P0_MTTD_TARGET_S, TuningParams


@dataclass
class TuningResult:
    """Per policy the tuning document; the plots as ``(link name, artifact key, PNG bytes)``."""

    docs: dict[str, dict[str, Any]] = field(default_factory=dict)
    plots: list[tuple[str, str, bytes]] = field(default_factory=list)


def params_for(
    policy: Policy,
    params: TuningParams,
    *,
    false_page_budget: Mapping[str, float] | None = None,
    p0_mttd_target_s: float = P0_MTTD_TARGET_S,
) -> TuningParams:
    """The targets for one policy: its severity's false-page budget and, for a P0, its
    detection-time promise (a P0 is never loosened beyond it)."""
    out = params
    if false_page_budget and policy.severity in false_page_budget:
        out = replace(out, false_page_budget_per_week=float(false_page_budget[policy.severity]))
    if policy.severity == "P0":
        out = replace(out, max_detection_s=float(p0_mttd_target_s))
    return out


def _no_data_doc(current: tuple[float, int]) -> dict[str, Any]:
    return {
        "recommended": {
            "threshold": None,
            "duration_s": None,
            "reason": "no data for this policy in the shadow window",
        },
        "current": {"threshold": current[0], "duration_s": current[1]},
        "readiness": {"verdict": "not_enough_data", "reasons": ["no data"]},
    }


def tune_environment(
    policies: Sequence[Policy],
    series_for: Callable[[Policy], list[TimeSeries]],
    windows_for: Callable[[str], list[LabelWindow]],
    *,
    environment: str,
    start: float,
    end: float,
    params: TuningParams,
    prefix: str,
    false_page_budget: Mapping[str, float] | None = None,
    p0_mttd_target_s: float = P0_MTTD_TARGET_S,
) -> TuningResult:
    """Tune every policy of ``environment`` over ``[start, end]`` (walk-forward holdout).

    ``series_for(policy)``: the policy's series with enough lookback; ``windows_for(name)``:
    the register's labelled windows of that policy in the environment; ``prefix``: where the
    plots will be stored (their artifact keys are part of the result). P0 policies are tuned
    too, under their detection-time promise (``p0_mttd_target_s``); their documents carry
    ``severity: P0`` so that the output never applies them (:mod:`tfvars`, :mod:`proposal`).
    """
    import numpy as np

    from ctscan_ops.alerting.engine.evaluator import aligned_condition_values, make_ticks
    from ctscan_ops.alerting.shadow.incidents import parse_time
    from ctscan_ops.alerting.tuning.guard import gate_primary_values, guard_evidence
    from ctscan_ops.alerting.tuning.plots import curve_png, timeline_png
    from ctscan_ops.alerting.tuning.recommend import Condition1D, incidents_for_setting, tune

    env = environment
    ticks = make_ticks(start, end)
    result = TuningResult()
    for policy in policies:
        cond = policy.condition
        series = series_for(policy)
        groups = aligned_condition_values(cond, series, ticks)
        windows = windows_for(policy.name)
        current = (cond.threshold_value, cond.duration_s)
        if not groups or all(np.isnan(g.values).all() for g in groups):
            result.docs[policy.name] = {"severity": policy.severity, **_no_data_doc(current)}
            continue
        values = np.vstack([g.values for g in groups])
        values = values[0] if values.shape[0] == 1 else values
        values, _ = gate_primary_values(policy, series, ticks, values)  # AND: others fixed
        c1 = Condition1D(cond.comparison, cond.evaluation_missing_data, policy.auto_close_s)
        pol_params = params_for(
            policy, params, false_page_budget=false_page_budget, p0_mttd_target_s=p0_mttd_target_s
        )
        doc = {"severity": policy.severity, **tune(values, ticks, windows, c1, pol_params, current)}
        guard = guard_evidence(policy, series, start, end, windows)
        if guard is not None:  # the floor in force vs the one the shadow data chooses
            doc["guard"] = guard
        result.docs[policy.name] = doc
        rec = doc.get("recommended") or {}
        curve_key = f"{prefix}/{policy.name}-curve.png"
        result.plots.append(
            (
                f"{policy.name}_curve",
                curve_key,
                curve_png(
                    doc["curve"],
                    current=doc.get("current"),
                    recommended=rec if rec.get("threshold") is not None else None,
                    title=f"{env}/{policy.name}",
                ),
            )
        )
        settings_plot = {
            "current": (
                current[0],
                incidents_for_setting(values, ticks, c1, current[0], current[1]),
            )
        }
        if rec.get("threshold") is not None:
            settings_plot["recommended"] = (
                rec["threshold"],
                incidents_for_setting(values, ticks, c1, rec["threshold"], rec["duration_s"]),
            )
        # the worst group per tick (ticks where no group has data stay NaN)
        line = values if values.ndim == 1 else np.fmax.reduce(values, axis=0)
        timeline_key = f"{prefix}/{policy.name}-timeline.png"
        result.plots.append(
            (
                f"{policy.name}_timeline",
                timeline_key,
                timeline_png(
                    ticks,
                    line,
                    windows,
                    settings_plot,
                    split_time=parse_time(doc["split_time"], "split_time")
                    if doc.get("split_time")
                    else None,
                    title=f"{env}/{policy.name}",
                ),
            )
        )
    return result
