"""Threshold/duration recommendation with a walk-forward guard against overfitting (no Dagster).

Input: one condition's per-tick aligned values (60 s ticks, NaN = no data), labelled incident
windows, and the condition's comparison / missing-data mode / auto_close.

Walk-forward split
    The first ``1 - holdout`` of the ticks is the *train* part, the rest the *holdout* part.
    The exact sweep (:mod:`ctscan_ops.alerting.tuning.sweep`) runs on the train part only; the
    chosen setting is then scored on the holdout part, which it has never seen. The holdout
    evaluation uses the train ticks as context (retest window and carried state), so an incident
    that is running at the split counts as opening at the split. A labelled window that straddles
    the split counts in both parts.

Recommendation (train part), over every threshold class and candidate duration
    feasible: at least one incident, false discovery rate <= ``target_fdr``, false alerts per
    day <= ``max_alerts_per_day`` (when given), per-tick FPR <= ``max_fpr_per_tick`` (default
    1 % of healthy ticks) and recall > 0. The per-tick bound is what rules out the degenerate
    "always firing" setting: one endless incident overlaps every label, so its incident-level
    precision and recall are perfect while it alerts during all healthy time.
    best: highest recall, then smaller median detection time, then fewer false alerts per day,
    then lower per-tick FPR (shorter reset tails), then lower FDR, then shorter duration.
    Adjacent threshold classes of the chosen duration with exactly the same figures form a
    plateau; the threshold recommended is a short decimal from the middle third of the widest
    plateau, as far as the data allow from the edges where the outcome would change.

Evidence (else ``recommended`` is null with the reason)
    train: >= ``MIN_TRAIN_INCIDENTS`` (2) labelled incidents and >= ``MIN_TRAIN_DAYS`` (3) days;
    holdout: >= ``MIN_HOLDOUT_INCIDENTS`` (1) labelled incident and >= ``MIN_HOLDOUT_DAYS`` (1) day.
    Fewer labelled incidents cannot distinguish a tuned threshold from luck; fewer days cannot
    estimate false alerts per day.

Held-out proof (else ``recommended`` is null with ``not proven on held-out data: ...``)
    The setting chosen on the training part is scored on the holdout part; it is *not*
    recommended when there it never fires, its FDR is over target, it detects none of the
    labelled held-out incidents, it detects fewer of them than the current setting, its false
    alerts per day exceed the budget, or (P0, ``max_detection_s``) its median, mean or slowest
    detection exceeds the detection-time promise. The refuted candidate and its figures are
    kept under ``rejected``; ``more_history`` says how much more labelled history a firm
    held-out verdict needs at the observed incident rate (:func:`more_history`).

Readiness (whether enabling is justified; what the Terraform file enables)
    ``ready``: a recommendation exists and on the holdout part, covering >= 7 days
    (``READY_MIN_HOLDOUT_DAYS``), it fired at least once, detected at least one labelled incident,
    its FDR <= target, its false alerts per day <= budget and its per-tick FPR <= bound, and
    the uncertainty rules of :func:`ctscan_ops.alerting.shadow.readiness.assess` hold (>= 3
    labelled held-out incidents, 95 % upper bound of false alerts per week within the
    severity's budget); ``evidence`` carries the intervals.
    ``provisional``: the figures meet the targets but a bound is still too wide (with the days
    to a firm verdict).
    ``not_enough_data``: the holdout part covers fewer than 7 days, or evidence is insufficient.
    ``not_ready``: otherwise, with the failing figures as reasons.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ctscan_ops.alerting.tuning.sweep import (
    TICK_S,
    DurationCurve,
    SweepInputError,
    _shortest_decimal_in,
    normalize_comparison,
    normalize_missing_data,
    sweep_duration,
)

DEFAULT_TARGET_FDR = 0.02
DEFAULT_HOLDOUT = 0.3
DEFAULT_MAX_FPR_PER_TICK = 0.01
MIN_TRAIN_INCIDENTS = 2
MIN_HOLDOUT_INCIDENTS = 1
MIN_TRAIN_DAYS = 3.0
MIN_HOLDOUT_DAYS = 1.0
READY_MIN_HOLDOUT_DAYS = 7.0
P0_MTTD_TARGET_S = 300.0  # the P0 detection-time promise (mean time to detect <= 5 min)
DEFAULT_DURATIONS_S = (0, 60, 120, 180, 300, 420, 600, 900, 1200, 1800)

READY = "ready"
PROVISIONAL = "provisional"
NOT_READY = "not_ready"
NOT_ENOUGH_DATA = "not_enough_data"


@dataclass(frozen=True)
class TuningParams:
    """The operator's targets."""

    target_fdr: float = DEFAULT_TARGET_FDR
    max_alerts_per_day: float | None = None
    holdout: float = DEFAULT_HOLDOUT
    max_fpr_per_tick: float = DEFAULT_MAX_FPR_PER_TICK
    durations_s: tuple[int, ...] = DEFAULT_DURATIONS_S
    # P0: the detection-time promise (MTTD <= 5 min); a candidate slower than this on either
    # part is never recommended. None: no bound (P1/P2).
    max_detection_s: float | None = None
    # readiness: false pages per week the policy may cost (catalog, per severity)
    false_page_budget_per_week: float = 1.0

    def validate(self) -> None:
        if not 0.0 <= self.target_fdr <= 1.0:
            raise SweepInputError(f"target_fdr: {self.target_fdr} is not in [0, 1]")
        if self.max_alerts_per_day is not None and self.max_alerts_per_day < 0:
            raise SweepInputError(
                f"max_alerts_per_day: {self.max_alerts_per_day} must not be negative"
            )
        if not 0.0 <= self.max_fpr_per_tick <= 1.0:
            raise SweepInputError(f"max_fpr_per_tick: {self.max_fpr_per_tick} is not in [0, 1]")
        if not 0.0 < self.holdout < 1.0:
            raise SweepInputError(f"holdout: {self.holdout} is not a fraction in (0, 1)")
        if self.max_detection_s is not None and not self.max_detection_s >= 0:
            raise SweepInputError(f"max_detection_s: {self.max_detection_s} must be >= 0")
        if not self.false_page_budget_per_week > 0:
            raise SweepInputError(
                f"false_page_budget_per_week: {self.false_page_budget_per_week} must be > 0"
            )
        if not self.durations_s:
            raise SweepInputError("durations: need at least one candidate duration")
        for d in self.durations_s:
            if d < 0 or d % TICK_S:
                raise SweepInputError(f"durations: {d} s is not a non-negative multiple of 60")


@dataclass(frozen=True)
class Condition1D:
    """What the sweep needs to know about the condition besides threshold and duration."""

    comparison: str
    missing_data: str
    auto_close_s: int | None = None


def _iso(ts: float) -> str:
    from ctscan_ops.alerting.engine.evaluator import iso

    return iso(ts)


def split_index(n: int, holdout: float) -> int:
    """First holdout tick: the train part is ``[0, split)``."""
    return math.floor(n * (1.0 - holdout) + 1e-9)


def _feasible(curve: DurationCurve, p: TuningParams) -> np.ndarray:
    fdr = curve.false_discovery_rate
    ok = (curve.incidents > 0) & (np.nan_to_num(fdr, nan=1.0) <= p.target_fdr + 1e-12)
    ok &= np.nan_to_num(curve.recall, nan=0.0) > 0
    ok &= np.nan_to_num(curve.fpr_per_tick, nan=0.0) <= p.max_fpr_per_tick + 1e-12
    if p.max_alerts_per_day is not None:
        ok &= curve.false_alerts_per_day <= p.max_alerts_per_day + 1e-12
    if p.max_detection_s is not None:
        for det in (curve.median_detection_s, curve.mean_detection_s):
            ok &= np.nan_to_num(det, nan=math.inf) <= p.max_detection_s + 1e-9
    return ok


def _rank_key(curve: DurationCurve, i: int) -> tuple[float, ...]:
    """Smaller is better (see module docstring)."""
    det = curve.median_detection_s[i]
    return (
        -float(curve.recall[i]),
        math.inf if math.isnan(det) else float(det),
        float(curve.false_alerts_per_day[i]),
        float(np.nan_to_num(curve.fpr_per_tick[i], nan=0.0)),
        float(np.nan_to_num(curve.false_discovery_rate[i], nan=1.0)),
        float(curve.duration_s),
    )


def _figures(curve: DurationCurve) -> np.ndarray:
    """Per class, everything the ranking compares (classes with equal rows are a plateau)."""
    return np.stack(
        [
            curve.incidents.astype(float),
            curve.true_incidents.astype(float),
            curve.detected_windows.astype(float),
            np.nan_to_num(curve.median_detection_s, nan=-1.0),
            curve.met_ticks_unlabelled.astype(float),
        ],
        axis=1,
    )


def _plateau_threshold(curve: DurationCurve, idx: np.ndarray, comparison: str) -> float:
    """A short decimal in the middle third of the widest run of adjacent classes in ``idx``."""
    runs: list[tuple[int, int]] = []
    start = prev = int(idx[0])
    for i in map(int, idx[1:]):
        if i != prev + 1:
            runs.append((start, prev))
            start = i
        prev = i
    runs.append((start, prev))

    def width(r: tuple[int, int]) -> float:
        lo, hi = curve.threshold_lo[r[0]], curve.threshold_hi[r[1]]
        return float(hi - lo) if math.isfinite(lo) and math.isfinite(hi) else math.inf

    a, b = max(runs, key=lambda r: (width(r), r[1] - r[0]))
    lo, hi = float(curve.threshold_lo[a]), float(curve.threshold_hi[b])
    include_lo = normalize_comparison(comparison) == "GT"
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return float(curve.threshold[a] if include_lo else curve.threshold[b])
    third = (hi - lo) / 3.0
    x = _shortest_decimal_in(lo + third, hi - third, True)
    # numerical safety: the pick must stay inside the plateau's classes
    if not (lo <= x <= hi) or curve.class_of(x, comparison) not in range(a, b + 1):
        return float(curve.threshold[(a + b) // 2])
    return x


def choose(
    curves: dict[int, DurationCurve], p: TuningParams, comparison: str
) -> tuple[float, int, str | None]:
    """(threshold, duration_s, None) for the best feasible setting, or (nan, -1, reason)."""
    best_key, best = None, None
    for d, curve in curves.items():
        ok = np.flatnonzero(_feasible(curve, p))
        for i in ok:
            k = _rank_key(curve, int(i))
            if best_key is None or k < best_key:
                best_key, best = k, (d, int(i))
    if best is None:
        budget = (
            "" if p.max_alerts_per_day is None else f", <= {p.max_alerts_per_day} false alerts/day"
        )
        mttd = (
            ""
            if p.max_detection_s is None
            else f", median and mean detection <= {p.max_detection_s:g} s"
        )
        return (
            math.nan,
            -1,
            f"no threshold/duration reaches false discovery rate <= {p.target_fdr}{budget}"
            f"{mttd} and per-tick FPR <= {p.max_fpr_per_tick} while detecting at least one "
            "labelled incident on the training part",
        )
    d, i = best
    curve = curves[d]
    figs = _figures(curve)
    same = np.all(figs == figs[i], axis=1)
    return _plateau_threshold(curve, np.flatnonzero(same), comparison), d, None


def _evaluate(
    values: np.ndarray,
    ticks: np.ndarray,
    windows: Sequence[tuple[float, float]],
    cond: Condition1D,
    threshold: float,
    duration_s: int,
    context_ticks: int,
) -> dict:
    curve = sweep_duration(
        values,
        ticks,
        windows,
        cond.comparison,
        duration_s,
        cond.missing_data,
        cond.auto_close_s,
        context_ticks=context_ticks,
    )
    return curve.quality_at(curve.class_of(threshold, cond.comparison))


def evaluate_setting(
    values: np.ndarray,
    ticks: np.ndarray,
    windows: Sequence[tuple[float, float]],
    cond: Condition1D,
    threshold: float,
    duration_s: int,
    split: int,
) -> dict[str, dict]:
    """Quality of one setting on the train part and on the holdout part."""
    return {
        "train": _evaluate(
            values[..., :split], ticks[:split], windows, cond, threshold, duration_s, 0
        ),
        "holdout": _evaluate(values, ticks, windows, cond, threshold, duration_s, split),
    }


def evidence_problems(train_q: dict, holdout_q: dict) -> list[str]:
    """Reasons the data cannot support a recommendation (empty when it can)."""
    out = []
    if train_q["labelled_incidents"] < MIN_TRAIN_INCIDENTS:
        out.append(
            f"training part has {train_q['labelled_incidents']} labelled incident(s), "
            f"need >= {MIN_TRAIN_INCIDENTS}"
        )
    if train_q["days"] < MIN_TRAIN_DAYS:
        out.append(f"training part covers {train_q['days']:.2f} days, need >= {MIN_TRAIN_DAYS:g}")
    if holdout_q["labelled_incidents"] < MIN_HOLDOUT_INCIDENTS:
        out.append(
            f"holdout part has {holdout_q['labelled_incidents']} labelled incident(s), "
            f"need >= {MIN_HOLDOUT_INCIDENTS}"
        )
    if holdout_q["days"] < MIN_HOLDOUT_DAYS:
        out.append(
            f"holdout part covers {holdout_q['days']:.2f} days, need >= {MIN_HOLDOUT_DAYS:g}"
        )
    return out


def holdout_problems(holdout_q: dict, current_holdout_q: dict | None, p: TuningParams) -> list[str]:
    """Why a chosen setting is not proven on the held-out part (empty: it holds).

    A recommendation must meet the targets on data it was not tuned on: held-out FDR within
    target, at least one labelled held-out incident detected, none of those the current setting
    detects lost, false alerts per day within budget and (P0) detection within its promise.
    """
    out = []
    n, fdr = holdout_q["incidents"], holdout_q["false_discovery_rate"]
    labelled, detected = holdout_q["labelled_incidents"], holdout_q["detected_incidents"]
    if n == 0:
        out.append("never fired on the held-out part")
    if fdr is not None and fdr > p.target_fdr + 1e-12:
        out.append(
            f"held-out FDR {fdr:.3f} > target {p.target_fdr:g} "
            f"({holdout_q['false_incidents']} of {n} incidents false)"
        )
    if labelled and not detected:
        out.append(f"detected none of the {labelled} labelled held-out incident(s)")
    if current_holdout_q is not None and detected < current_holdout_q["detected_incidents"]:
        out.append(
            f"detects {detected} of {labelled} labelled held-out incident(s) where the current "
            f"setting detects {current_holdout_q['detected_incidents']}"
        )
    fpd = holdout_q["false_alerts_per_day"]
    if p.max_alerts_per_day is not None and fpd is not None and fpd > p.max_alerts_per_day:
        out.append(f"held-out false alerts/day {fpd:.2f} > budget {p.max_alerts_per_day:g}")
    if p.max_detection_s is not None:
        for key in ("median_detection_s", "mean_detection_s", "worst_detection_s"):
            det = holdout_q.get(key)
            if det is not None and det > p.max_detection_s:
                what = key.split("_")[0]
                out.append(
                    f"held-out {what} detection time {det:.0f} s > {p.max_detection_s:g} s "
                    "(the P0 detection-time promise)"
                )
    return out


def worst_detection_s(
    values: np.ndarray,
    ticks: np.ndarray,
    windows: Sequence[tuple[float, float]],
    cond: Condition1D,
    threshold: float,
    duration_s: int,
    since: float,
) -> float | None:
    """Slowest detection among the labelled windows that end at or after ``since`` (the held-out
    part), from the evaluator's own incidents: first overlapping incident's open minus the
    window's start (as :func:`ctscan_ops.alerting.shadow.quality.score`). None: none detected."""
    incs: list[tuple[float, float | None]] = []
    for row in np.atleast_2d(values):
        incs += incidents_for_setting(row, ticks, cond, threshold, duration_s)
    end = float(ticks[-1]) + TICK_S
    worst = None
    for ws, we in windows:
        if we < since:
            continue
        opens = [o for o, c in incs if o <= we and (end if c is None else c) > ws]
        if opens:
            d = max(0.0, min(opens) - ws)
            worst = d if worst is None else max(worst, d)
    return worst


def more_history(
    days: float,
    labelled: int,
    p: TuningParams,
    holdout_false_per_day: float | None = None,
) -> dict:
    """How much more labelled history a firm held-out verdict needs, at the observed rates.

    ``days`` / ``labelled``: the whole series and the labelled incidents in it. The held-out part
    is ``p.holdout`` of the history, so it holds ``n`` labelled incidents after
    ``n / (rate x holdout)`` days; a firm held-out verdict needs ``MIN_READY_INCIDENTS`` of them,
    bounding the FDR by the target (Wilson upper bound) needs ``incidents_to_show_fdr`` incidents
    without a false one, and bounding false alerts per week by the budget needs the days of
    :func:`~ctscan_ops.alerting.shadow.readiness.days_to_firm` in the held-out part.
    """
    from ctscan_ops.alerting.shadow.readiness import (
        MIN_READY_INCIDENTS,
        days_to_firm,
        incidents_to_show_fdr,
    )

    h = p.holdout
    rate = labelled / days if days > 0 else 0.0

    def more_days(n_holdout: int | None) -> float | None:
        if n_holdout is None or rate <= 0:
            return None
        return round(max(0.0, n_holdout / (rate * h) - days), 1)

    n_fdr = incidents_to_show_fdr(p.target_fdr)
    out: dict = {
        "days": round(days, 2),
        "labelled_incidents": labelled,
        "labelled_incidents_per_day": round(rate, 4),
        "holdout_fraction": h,
        "holdout_incidents_for_verdict": MIN_READY_INCIDENTS,
        "more_days_for_verdict": more_days(MIN_READY_INCIDENTS),
        "incidents_to_show_target_fdr": n_fdr,
        "more_days_to_show_target_fdr": more_days(n_fdr),
        "more_days_to_bound_false_alerts": None,
    }
    if holdout_false_per_day is not None:
        firm = days_to_firm(holdout_false_per_day, p.false_page_budget_per_week)
        if firm is not None:
            out["more_days_to_bound_false_alerts"] = round(max(0.0, firm / h - days), 1)
    if rate <= 0:
        out["summary"] = (
            f"no labelled incident in {days:.1f} days: label incidents before tuning can be "
            "judged on held-out data"
        )
    else:
        out["summary"] = (
            f"{labelled} labelled incident(s) in {days:.1f} days ({rate * 7:.2f}/week): "
            f"{MIN_READY_INCIDENTS} in the held-out {h:.0%} need about "
            f"{out['more_days_for_verdict']:g} more day(s) of labelled history; showing FDR "
            f"<= {p.target_fdr:g} needs {n_fdr} held-out incidents without a false one, about "
            f"{out['more_days_to_show_target_fdr']:g} more day(s)"
        )
    if out["more_days_to_bound_false_alerts"] is not None:
        out["summary"] += (
            f"; bounding held-out false alerts within {p.false_page_budget_per_week:g}/week "
            f"needs about {out['more_days_to_bound_false_alerts']:g} more day(s) of history"
        )
    return out


_ASSESS_TO_TUNING = {
    "ready": READY,
    "provisional": PROVISIONAL,
    "not_ready": NOT_READY,
    "insufficient_evidence": NOT_ENOUGH_DATA,
}


def readiness(holdout_q: dict | None, p: TuningParams, problems: Sequence[str]) -> dict:
    """Verdict on the held-out figures of the recommended setting (see module docstring)."""
    if problems:
        return {"verdict": NOT_ENOUGH_DATA, "reasons": ["insufficient evidence", *problems]}
    if holdout_q is None:
        return {"verdict": NOT_READY, "reasons": ["no recommendation"]}
    reasons: list[str] = []
    if holdout_q["days"] < READY_MIN_HOLDOUT_DAYS:
        return {
            "verdict": NOT_ENOUGH_DATA,
            "reasons": [
                f"holdout part covers {holdout_q['days']:.2f} days, need >= "
                f"{READY_MIN_HOLDOUT_DAYS:g} to enable"
            ],
        }
    if holdout_q["incidents"] == 0:
        reasons.append("never fired on the holdout part")
    fdr = holdout_q["false_discovery_rate"]
    if fdr is not None and fdr > p.target_fdr:
        reasons.append(f"holdout false discovery rate {fdr:.3f} > target {p.target_fdr}")
    if not holdout_q["recall"]:
        reasons.append("detected no labelled incident on the holdout part")
    tick_fpr = holdout_q["fpr_per_tick"]
    if tick_fpr is not None and tick_fpr > p.max_fpr_per_tick:
        reasons.append(f"holdout per-tick FPR {tick_fpr:.4f} > {p.max_fpr_per_tick}")
    fpd = holdout_q["false_alerts_per_day"]
    if p.max_alerts_per_day is not None and fpd is not None and fpd > p.max_alerts_per_day:
        reasons.append(f"holdout false alerts/day {fpd:.2f} > budget {p.max_alerts_per_day}")
    if reasons:
        return {"verdict": NOT_READY, "reasons": reasons}
    # the held-out figures meet the targets; are they firm? (intervals, >= 3 incidents)
    from types import SimpleNamespace

    from ctscan_ops.alerting.shadow.readiness import assess

    targets = SimpleNamespace(
        min_days=READY_MIN_HOLDOUT_DAYS,
        fdr_target=p.target_fdr,
        p0_mttd_target_s=math.inf if p.max_detection_s is None else p.max_detection_s,
    )
    severity = "P1" if p.max_detection_s is None else "P0"
    ev = assess(severity, holdout_q["days"], holdout_q, targets, p.false_page_budget_per_week)
    verdict = _ASSESS_TO_TUNING[ev["verdict"]]
    out = {"verdict": verdict, "reasons": list(ev["reasons"]), "evidence": ev}
    if ev.get("note"):
        out["reasons"].append(ev["note"])
    return out


def curve_points(curve: DurationCurve) -> dict:
    """Columnar curve for one duration; adjacent classes with identical reported figures are
    merged (their threshold range is kept), so the curve stays small without losing a step."""
    fdr = curve.false_discovery_rate
    rec = curve.recall
    fpd = curve.false_alerts_per_day
    keys = np.stack(
        [np.nan_to_num(fdr, nan=-1.0), np.nan_to_num(rec, nan=-1.0), np.nan_to_num(fpd, nan=-1.0)]
    )
    change = np.ones(curve.threshold.size, dtype=bool)
    change[1:] = (keys[:, 1:] != keys[:, :-1]).any(axis=0)
    starts = np.flatnonzero(change)
    ends = np.append(starts[1:] - 1, curve.threshold.size - 1)

    def num(x: float) -> float | None:
        return None if not math.isfinite(x) else float(x)

    out: dict[str, list] = {
        "threshold": [],
        "threshold_lo": [],
        "threshold_hi": [],
        "false_discovery_rate": [],
        "recall": [],
        "false_alerts_per_day": [],
        "incidents": [],
    }
    for a, b in zip(starts, ends, strict=True):
        out["threshold"].append(num(curve.threshold[a]))
        out["threshold_lo"].append(num(curve.threshold_lo[a]))
        out["threshold_hi"].append(num(curve.threshold_hi[b]))
        out["false_discovery_rate"].append(num(fdr[a]))
        out["recall"].append(num(rec[a]))
        out["false_alerts_per_day"].append(num(fpd[a]))
        out["incidents"].append(int(curve.incidents[a]))
    return {"duration_s": curve.duration_s, **out}


def tune(
    values: np.ndarray,
    ticks: np.ndarray,
    windows: Sequence[tuple[float, float]],
    cond: Condition1D,
    params: TuningParams = TuningParams(),
    current: tuple[float, int] | None = None,
) -> dict:
    """The full tuning document (JSON-ready; documented in the README)."""
    params.validate()
    v = np.asarray(values, dtype=float)  # one series, or groups x ticks (trigger count 1)
    t = np.asarray(ticks, dtype=float)
    if v.shape[-1] != t.size:
        raise SweepInputError(f"values: {v.shape[-1]} ticks but ticks has {t.size}")
    cond = Condition1D(
        normalize_comparison(cond.comparison),
        normalize_missing_data(cond.missing_data),
        cond.auto_close_s,
    )
    split = split_index(t.size, params.holdout)
    if split < 1 or split >= t.size:
        raise SweepInputError(
            f"series: {t.size} ticks are too few to split with holdout {params.holdout}"
        )
    curves = {
        int(d): sweep_duration(
            v[..., :split],
            t[:split],
            windows,
            cond.comparison,
            int(d),
            cond.missing_data,
            cond.auto_close_s,
        )
        for d in sorted(set(params.durations_s))
    }
    any_curve = next(iter(curves.values()))
    # evidence counts do not depend on the setting: probe the holdout with any threshold
    probe = _evaluate(v, t, windows, cond, 0.0, int(params.durations_s[0]), split)
    train_probe = any_curve.quality_at(0)
    problems = evidence_problems(train_probe, probe)

    doc: dict = {
        "comparison": "COMPARISON_" + cond.comparison,
        "evaluation_missing_data": cond.missing_data,
        "auto_close_s": cond.auto_close_s,
        "target_fdr": params.target_fdr,
        "max_alerts_per_day": params.max_alerts_per_day,
        "max_fpr_per_tick": params.max_fpr_per_tick,
        "holdout_fraction": params.holdout,
        "split_time": _iso(float(t[split])),
        "train_window": [_iso(float(t[0])), _iso(float(t[split - 1]) + TICK_S)],
        "holdout_window": [_iso(float(t[split])), _iso(float(t[-1]) + TICK_S)],
        "groups": 1 if v.ndim == 1 else int(v.shape[0]),
        "recommended": None,
        "train": None,
        "holdout": None,
        "readiness": None,
        "current": None,
        "curve_scope": "train",
        "curve": [curve_points(c) for c in curves.values()],
    }
    if current is not None:
        cthr, cdur = float(current[0]), int(current[1])
        if cdur < 0 or cdur % TICK_S:
            raise SweepInputError(f"current duration: {cdur} s is not a multiple of 60")
        figs = evaluate_setting(v, t, windows, cond, cthr, cdur, split)
        doc["current"] = {"threshold": cthr, "duration_s": cdur, **figs}
    holdout_q = None
    held_out_false_rate = None
    if problems:
        doc["recommended"] = {
            "threshold": None,
            "duration_s": None,
            "reason": "insufficient evidence: " + "; ".join(problems),
        }
    else:
        thr, dur, reason = choose(curves, params, cond.comparison)
        if reason is not None:
            doc["recommended"] = {"threshold": None, "duration_s": None, "reason": reason}
        else:
            figs = evaluate_setting(v, t, windows, cond, thr, dur, split)
            if params.max_detection_s is not None:  # P0: the slowest held-out detection too
                figs["holdout"]["worst_detection_s"] = worst_detection_s(
                    v, t, windows, cond, thr, dur, float(t[split])
                )
            cur_h = doc["current"]["holdout"] if doc["current"] else None
            failed = holdout_problems(figs["holdout"], cur_h, params)
            held_out_false_rate = figs["holdout"]["false_alerts_per_day"]
            if failed:
                # tuned on the training part, refuted by the held-out part: not a recommendation
                doc["recommended"] = {
                    "threshold": None,
                    "duration_s": None,
                    "reason": "not proven on held-out data: " + "; ".join(failed),
                }
                doc["rejected"] = {"threshold": thr, "duration_s": dur, **figs, "reasons": failed}
            else:
                holdout_q = figs["holdout"]
                doc["recommended"] = {"threshold": thr, "duration_s": dur, "reason": None}
                doc["train"], doc["holdout"] = figs["train"], figs["holdout"]
    doc["readiness"] = readiness(holdout_q, params, problems)
    if doc["recommended"]["threshold"] is None and not problems and holdout_q is None:
        doc["readiness"] = {
            "verdict": NOT_READY,
            "reasons": ["no recommendation: " + doc["recommended"]["reason"]],
        }
    if doc["readiness"]["verdict"] != READY:
        days_all = t.size * TICK_S / 86400.0
        labelled = sum(1 for a, b in windows if b >= t[0] and a <= t[-1] + TICK_S)
        doc["more_history"] = more_history(days_all, labelled, params, held_out_false_rate)
    return doc


def incidents_for_setting(
    values: np.ndarray,
    ticks: np.ndarray,
    cond: Condition1D,
    threshold: float,
    duration_s: int,
) -> list[tuple[float, float | None]]:
    """(open, close) of the incidents one setting opens, from the shadow evaluator itself
    (for timelines; the sweep gives the same counts, see the agreement tests)."""
    from ctscan_ops.alerting.engine.evaluator import incidents_from_values

    _, incs = incidents_from_values(
        np.asarray(values, dtype=float),
        np.asarray(ticks, dtype=float),
        cond.comparison,
        float(threshold),
        int(duration_s),
        cond.missing_data,
        cond.auto_close_s,
    )
    return [(i.open, i.close) for i in incs]


def _fmt(x: float | int | None, spec: str = ".3g") -> str:
    if x is None:
        return "-"
    return format(x, spec)


def report_markdown(environment: str, docs: dict[str, dict]) -> str:
    """Markdown summary of several policies' tuning documents (for asset metadata): current vs
    recommended setting, held-out figures and the readiness verdict, one row per policy."""
    lines = [
        f"### Threshold tuning, `{environment}`",
        "",
        "| policy | current | recommended | holdout FDR | holdout recall | holdout false/day "
        "| holdout days | FDR 95 % CI | false/week 95 % bound (budget) | days to firm | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for name in sorted(docs):
        d = docs[name]
        cur = d.get("current")
        cur_s = "-" if not cur else f"{cur['threshold']:g} for {cur['duration_s']} s"
        rec = d.get("recommended") or {}
        rejected = d.get("rejected")
        p0 = d.get("severity") == "P0"
        if rec.get("threshold") is None:
            rec_s = "none"
            if rejected:
                rec_s = f"none ({rejected['threshold']:g} for {rejected['duration_s']} s refuted)"
            notes.append(f"- `{name}`: {rec.get('reason')}")
        else:
            rec_s = f"**{rec['threshold']:g} for {rec['duration_s']} s**"
            if p0:
                rec_s += " (P0: for a human to decide)"
        # held-out figures of what was recommended, or of the refuted candidate
        h = d.get("holdout") or (rejected or {}).get("holdout") or {}
        verdict = d.get("readiness") or {}
        v = verdict.get("verdict", "-")
        if verdict.get("reasons") and v != READY:
            reasons = verdict["reasons"]
            if rec.get("reason") and reasons == [f"no recommendation: {rec['reason']}"]:
                reasons = []  # already said above
            if reasons:
                notes.append(f"- `{name}` {v}: " + "; ".join(reasons))
        elif v == READY and (verdict.get("evidence") or {}).get("note"):
            notes.append(f"- `{name}` ready, but: {verdict['evidence']['note']}")
        more = d.get("more_history") or {}
        if more.get("summary"):
            notes.append(f"- `{name}` more labelled history: {more['summary']}")
        ev = verdict.get("evidence") or {}
        ci = ev.get("fdr_interval")
        ci_s = "-" if not ci else f"{ci[0]:.1%}-{ci[1]:.1%}"
        wk = ev.get("false_alerts_per_week_upper")
        wk_s = "-" if wk is None else f"{wk:.2f} ({ev.get('false_page_budget_per_week'):g})"
        lines.append(
            f"| `{name}` | {cur_s} | {rec_s} | {_fmt(h.get('false_discovery_rate'))} "
            f"| {_fmt(h.get('recall'))} | {_fmt(h.get('false_alerts_per_day'))} "
            f"| {_fmt(h.get('days'), '.1f')} | {ci_s} | {wk_s} "
            f"| {_fmt(ev.get('days_to_firm_verdict'), 'd')} | {v} |"
        )
    if notes:
        lines += ["", *notes]
    lines += [
        "",
        "FDR = false discovery rate (false incidents / incidents, what ops teams call the alert's "
        "false positive rate); holdout = the later part of the window, not used for tuning. "
        "A setting whose held-out figures miss the target is not recommended. P0 "
        "recommendations are evidence for a human to decide: never applied automatically.",
    ]
    return "\n".join(lines) + "\n"


def material_change(
    previous: dict | None,
    current: dict | None,
    *,
    fdr_abs: float = 0.01,
    recall_abs: float = 0.1,
    alerts_per_day_rel: float = 0.25,
) -> list[str]:
    """Why a policy's quality changed enough since the last report to tune again (empty: not).

    Inputs are quality dicts (backtest's ``quality`` keys). Material means: the false discovery
    rate moved by more than ``fdr_abs`` (or crossed between defined and undefined), recall by
    more than ``recall_abs``, false alerts per day by more than ``alerts_per_day_rel`` relative
    (at least one alert per week absolute, so tiny rates do not trigger), or a labelled incident
    was added. For the report sensor, which should not re-run on noise.
    """
    if previous is None or current is None:
        return [] if previous is current else ["no previous report"]
    out = []
    a, b = previous.get("false_discovery_rate"), current.get("false_discovery_rate")
    if (a is None) != (b is None) or (a is not None and abs(b - a) > fdr_abs):
        out.append(f"false discovery rate {_fmt(a)} -> {_fmt(b)}")
    a, b = previous.get("recall"), current.get("recall")
    if (a is None) != (b is None) or (a is not None and abs(b - a) > recall_abs):
        out.append(f"recall {_fmt(a)} -> {_fmt(b)}")
    a, b = previous.get("false_alerts_per_day") or 0.0, current.get("false_alerts_per_day") or 0.0
    if abs(b - a) > max(alerts_per_day_rel * max(a, b), 1.0 / 7.0):
        out.append(f"false alerts/day {a:.2f} -> {b:.2f}")
    a, b = previous.get("labelled_incidents") or 0, current.get("labelled_incidents") or 0
    if b > a:
        out.append(f"labelled incidents {a} -> {b}")
    return out
