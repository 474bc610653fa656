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

import numpy as np

from ctscan_ops.alerting.catalog import Policy
from ctscan_ops.alerting.engine.series import TimeSeries
from ctscan_ops.alerting.shadow.quality import LabelWindow
from ctscan_ops.alerting.tuning.recommend import P0_MTTD_TARGET_S, TuningParams


@dataclass
class TuningResult:
    """Per policy the tuning document and what its plots draw (:func:`plot_data`; rendered
    by :func:`render_plots`, outside the report's run); ``plots`` as ``(link name, artifact
    key, PNG bytes)`` once rendered."""

    docs: dict[str, dict[str, Any]] = field(default_factory=dict)
    plot_data: dict[str, dict[str, Any]] = field(default_factory=dict)
    plots: list[tuple[str, str, bytes]] = field(default_factory=list)


#: ``values_for(policy, condition index, ticks)``: the condition's aligned groups over ``ticks``
ValuesFor = Callable[[Policy, int, np.ndarray], list[Any]]


def series_values(series_for: Callable[[Policy], list[TimeSeries]]) -> ValuesFor:
    """The plain flow: each policy's series fetched once, each condition aligned on the grid
    asked for (:func:`aligned_by_day`)."""
    fetched: dict[int, list[TimeSeries]] = {}

    def values_for(policy: Policy, index: int, ticks: np.ndarray) -> list[Any]:
        if id(policy) not in fetched:
            fetched[id(policy)] = series_for(policy)
        return aligned_by_day(policy.conditions[index], fetched[id(policy)], ticks)

    return values_for


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


#: ticks aligned per call by :func:`aligned_by_day`
ALIGN_CHUNK_TICKS = 1440


def aligned_by_day(cond: Any, series: Sequence[TimeSeries], ticks: np.ndarray) -> list[Any]:
    """``aligned_condition_values`` over ``ticks``, a day of ticks at a time for distributions.

    An aligned value at tick ``t`` depends only on the points of ``(t - P, t]`` and the other
    series at ``t``, so pieces of the tick grid give the same values; for distribution series
    (bucket counts per tick) the whole-window call was measured superlinear in the window
    (35 days of ``request_latencies``: 21 s, against ~1 s per 10 days a day at a time). Scalar
    series stay one call (windows wider than 16 points keep a running sum whose last bits
    depend on where the grid starts: :mod:`ctscan_ops.alerting.engine.windows`). If the
    pieces do not list the same groups, the whole call decides.
    """
    from ctscan_ops.alerting.engine.evaluator import GroupValues, aligned_condition_values

    n = ticks.size
    if n <= 2 * ALIGN_CHUNK_TICKS or not any(s.value_type == "DISTRIBUTION" for s in series):
        return aligned_condition_values(cond, series, ticks)
    parts = [
        aligned_condition_values(cond, series, ticks[i : i + ALIGN_CHUNK_TICKS])
        for i in range(0, n, ALIGN_CHUNK_TICKS)
    ]
    labels = [g.labels for g in parts[0]]
    if any([g.labels for g in p] != labels for p in parts[1:]):
        return aligned_condition_values(cond, series, ticks)
    return [
        GroupValues(labels[j], np.concatenate([p[j].values for p in parts]))
        for j in range(len(labels))
    ]


#: points of a timeline line kept by :func:`line_envelope` (4 per column of a ~1000 px plot)
ENVELOPE_POINTS = 4000


def line_envelope(
    ticks: np.ndarray, values: np.ndarray, max_points: int = ENVELOPE_POINTS
) -> tuple[np.ndarray, np.ndarray]:
    """The points a line plot of ``values`` needs at ``max_points / 4`` columns (M4 envelope).

    Per bucket of consecutive ticks: the first, last, lowest and highest point, in time order,
    plus both sides of every change between data and no data (NaN breaks the line, and must
    keep breaking it). Rasterized at the plot's width it covers the same columns at the same
    heights as the full line (antialiased edges differ on ~0.3 % of the pixels); drawing
    every tick (28,800 for 20 days) was most of a timeline's cost. Short series come back
    unchanged.
    """
    n = values.size
    if n <= max_points:
        return ticks, values
    size = -(-n // (max_points // 4))
    pad = (-n) % size
    v = np.concatenate([values, np.full(pad, np.nan)]).reshape(-1, size)
    has = ~np.isnan(v)
    rows = np.flatnonzero(has.any(axis=1))
    base = rows * size
    filled_lo = np.where(has[rows], v[rows], np.inf)
    filled_hi = np.where(has[rows], v[rows], -np.inf)
    keep = [
        np.arange(0, n, size),
        np.minimum(np.arange(size - 1, n + size - 1, size), n - 1),
        base + filled_lo.argmin(axis=1),
        base + filled_hi.argmax(axis=1),
    ]
    nan = np.isnan(values)
    change = np.flatnonzero(nan[1:] != nan[:-1])
    keep += [change, change + 1]
    idx = np.unique(np.concatenate(keep))
    idx = idx[idx < n]
    return ticks[idx], values[idx]


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
    values_for: ValuesFor | None = None,
    render: bool = True,
) -> TuningResult:
    """Tune every policy of ``environment`` over ``[start, end]`` (walk-forward holdout).

    ``series_for(policy)``: the policy's series with enough lookback; ``values_for``: where
    the conditions' aligned values come from instead (the values ``shadow_incidents`` stored,
    :mod:`stored`; default: aligned from ``series_for``); ``windows_for(name)``: the
    register's labelled windows of that policy in the environment; ``prefix``: where the plots
    will be stored. ``render``: draw the PNGs here (else ``plot_data`` only, for
    :func:`render_plots` in another run). P0 policies are tuned too, under their
    detection-time promise (``p0_mttd_target_s``); their documents carry ``severity: P0`` so
    that the output never applies them (:mod:`tfvars`, :mod:`proposal`).
    """
    import numpy as np

    from ctscan_ops.alerting.engine.evaluator import make_ticks
    from ctscan_ops.alerting.tuning.guard import gate_primary_values, guard_evidence
    from ctscan_ops.alerting.tuning.recommend import Condition1D, incidents_for_setting, tune

    env = environment
    values_for = values_for or series_values(series_for)
    ticks = make_ticks(start, end)
    result = TuningResult()
    for policy in policies:
        cond = policy.condition
        groups = values_for(policy, 0, ticks)
        windows = windows_for(policy.name)
        current = (cond.threshold_value, cond.duration_s)
        if not groups or all(np.isnan(g.values).all() for g in groups):
            result.docs[policy.name] = {"severity": policy.severity, **_no_data_doc(current)}
            continue
        values = np.vstack([g.values for g in groups])
        values = values[0] if values.shape[0] == 1 else values
        # AND: the other conditions, fixed at their catalog values, gate the tuned one
        values, _ = gate_primary_values(policy, None, ticks, values, values_for=values_for)
        c1 = Condition1D(cond.comparison, cond.evaluation_missing_data, policy.auto_close_s)
        pol_params = params_for(
            policy, params, false_page_budget=false_page_budget, p0_mttd_target_s=p0_mttd_target_s
        )
        doc = {"severity": policy.severity, **tune(values, ticks, windows, c1, pol_params, current)}
        guard = guard_evidence(policy, None, start, end, windows, values_for=values_for)
        if guard is not None:  # the floor in force vs the one the shadow data chooses
            doc["guard"] = guard
        result.docs[policy.name] = doc
        rec = doc.get("recommended") or {}
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
        # drawn through its per-pixel-column envelope: the same line, a fraction of the path
        plot_ticks, line = line_envelope(ticks, line)
        result.plot_data[policy.name] = {
            "ticks": plot_ticks.tolist(),
            "line": [None if np.isnan(v) else float(v) for v in line.tolist()],
            "windows": [[float(a), float(b)] for a, b in windows],
            "settings": {
                k: [float(thr), [[float(o), None if c is None else float(c)] for o, c in incs]]
                for k, (thr, incs) in settings_plot.items()
            },
            "split_time": doc.get("split_time"),
        }
    if render:
        result.plots = render_plots(env, result.docs, result.plot_data, prefix)
    return result


def render_plots(
    environment: str,
    docs: Mapping[str, Mapping[str, Any]],
    plot_data: Mapping[str, Mapping[str, Any]],
    prefix: str,
    *,
    inline_width_in: float | None = None,
) -> list[tuple[str, str, bytes]]:
    """Each tuned policy's curve and timeline PNGs as ``(link name, artifact key, bytes)``
    (keys ``{prefix}/{policy}-curve.png`` / ``-timeline.png``; with ``inline_width_in`` also
    the narrow curve the asset page inlines, ``-curve-inline.png``)."""
    import numpy as np

    from ctscan_ops.alerting.shadow.incidents import parse_time
    from ctscan_ops.alerting.tuning.plots import curve_png, timeline_png

    env = environment
    out: list[tuple[str, str, bytes]] = []
    for name, data in plot_data.items():
        doc = docs[name]
        rec = doc.get("recommended") or {}
        curve_args = {
            "current": doc.get("current"),
            "recommended": rec if rec.get("threshold") is not None else None,
            "title": f"{env}/{name}",
        }
        out.append(
            (f"{name}_curve", f"{prefix}/{name}-curve.png", curve_png(doc["curve"], **curve_args))
        )
        if inline_width_in is not None:
            out.append(
                (
                    f"{name}_curve_inline",
                    f"{prefix}/{name}-curve-inline.png",
                    curve_png(doc["curve"], width_in=inline_width_in, **curve_args),
                )
            )
        settings = {
            k: (thr, [(o, c) for o, c in incs]) for k, (thr, incs) in data["settings"].items()
        }
        line = np.array([np.nan if v is None else v for v in data["line"]], dtype=float)
        split = data.get("split_time")
        out.append(
            (
                f"{name}_timeline",
                f"{prefix}/{name}-timeline.png",
                timeline_png(
                    np.asarray(data["ticks"], dtype=float),
                    line,
                    [tuple(w) for w in data["windows"]],
                    settings,
                    split_time=parse_time(split, "split_time") if split else None,
                    title=f"{env}/{name}",
                ),
            )
        )
    return out
