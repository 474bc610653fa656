"""Brute-force reference evaluator: a deliberately naive per-tick loop in plain Python.

It re-implements the semantics documented in :mod:`ctscan_ops.alerting.engine.evaluator` as
literally as possible (scan every point for every tick, reduce with Python lists, walk the ticks
with an explicit state machine), sharing no numeric code with it, so property tests comparing the
two catch vectorisation mistakes. Only for tests and benchmarks: it is O(ticks x points).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ctscan_ops.alerting.catalog import Aggregation, Condition, Trigger
from ctscan_ops.alerting.engine.filters import parse_filter
from ctscan_ops.alerting.engine.series import TimeSeries

__all__ = [
    "RefIncident",
    "reference_evaluate",
    "reference_incidents",
    "reference_policy",
    "reference_values",
]

_Q = {"99": 99.0, "95": 95.0, "50": 50.0, "05": 5.0}


def _q(name: str) -> float:
    return _Q[name.rsplit("_", 1)[1]]


@dataclass
class _Point:
    t: float
    value: float | None  # scalar
    counts: list[float] | None  # distribution
    dsum: float | None


def _clean(ts: TimeSeries) -> tuple[list[_Point], str]:
    """Sorted, last-write-wins, finite points; CUMULATIVE -> deltas (first point is baseline)."""
    raw: list[tuple[float, int, _Point, float | None]] = []
    for i in range(len(ts.times)):
        t = float(ts.times[i])
        start = None if ts.start_times is None else float(ts.start_times[i])
        if not math.isfinite(t):
            continue
        if ts.value_type == "DISTRIBUTION":
            counts = [float(c) for c in ts.bucket_counts[i]]
            if any((not math.isfinite(c)) or c < 0 for c in counts):
                continue
            if ts.dist_sums is not None:
                dsum = float(ts.dist_sums[i])
            else:
                b = [float(x) for x in ts.bucket_bounds]
                mids = [b[0]] + [(b[j] + b[j + 1]) / 2 for j in range(len(b) - 1)] + [b[-1]]
                if len(b) == 1:
                    mids = [b[0], b[0]]
                dsum = sum(c * m for c, m in zip(counts, mids, strict=True))
            if not math.isfinite(dsum):
                continue
            raw.append((t, i, _Point(t, None, counts, dsum), start))
        else:
            v = float(ts.values[i])
            if not math.isfinite(v):
                continue
            raw.append((t, i, _Point(t, v, None, None), start))
    raw.sort(key=lambda r: (r[0], r[1]))
    dedup: list[tuple[float, int, _Point, float | None]] = []
    for r in raw:
        if dedup and dedup[-1][0] == r[0]:
            dedup[-1] = r
        else:
            dedup.append(r)
    kind = ts.metric_kind
    if kind != "CUMULATIVE":
        return [r[2] for r in dedup], kind
    out: list[_Point] = []
    for j in range(1, len(dedup)):
        prev, cur = dedup[j - 1], dedup[j]
        start_changed = cur[3] is not None and prev[3] is not None and cur[3] != prev[3]
        if cur[2].counts is not None:
            pc, cc = prev[2].counts, cur[2].counts
            reset = start_changed or any(cc[b] < pc[b] for b in range(len(cc)))
            if reset:
                out.append(_Point(cur[0], None, list(cc), cur[2].dsum))
            else:
                out.append(
                    _Point(
                        cur[0],
                        None,
                        [cc[b] - pc[b] for b in range(len(cc))],
                        cur[2].dsum - prev[2].dsum,
                    )
                )
        else:
            reset = start_changed or cur[2].value < prev[2].value
            d = cur[2].value if reset else cur[2].value - prev[2].value
            out.append(_Point(cur[0], d, None, None))
    return out, "DELTA"


def _lin_percentile(vals: list[float], q: float) -> float | None:
    if not vals:
        return None
    s = sorted(vals)
    n = len(s)
    rank = q / 100.0 * (n - 1)
    f = math.floor(rank)
    c = min(f + 1, n - 1)
    return s[f] + (s[c] - s[f]) * (rank - f)


def _bucket_percentile(counts: list[float], bounds: list[float], q: float) -> float | None:
    total = sum(counts)
    if total <= 0:
        return None
    r = q / 100.0 * total
    below = 0.0
    for i, c in enumerate(counts):
        if below + c >= r or i == len(counts) - 1:
            if i == 0:
                return bounds[0]
            if i == len(counts) - 1:
                return bounds[-1]
            lower, upper = bounds[i - 1], bounds[i]
            return lower + (upper - lower) * ((r - below) / c if c > 0 else 0.0)
        below += c
    return None  # pragma: no cover


@dataclass
class _Val:
    """A value at one tick: scalar, distribution (counts, sum) or None (no data)."""

    scalar: float | None = None
    counts: list[float] | None = None
    dsum: float = 0.0

    @property
    def present(self) -> bool:
        return self.scalar is not None or self.counts is not None


def _align_tick(
    pts: list[_Point], is_dist: bool, bounds: list[float] | None, agg: Aggregation, t: float
) -> _Val:
    period = float(agg.alignment_period_s or 60)
    window = [p for p in pts if t - period < p.t <= t]
    if not window:
        return _Val()
    a = agg.per_series_aligner
    if is_dist:
        merged = [0.0] * len(window[0].counts)
        dsum = 0.0
        for p in window:
            for b in range(len(merged)):
                merged[b] += p.counts[b]
            dsum += p.dsum
        if a in ("ALIGN_DELTA", "ALIGN_SUM"):
            return _Val(counts=merged, dsum=dsum)
        total = sum(merged)
        if a == "ALIGN_MEAN":
            return _Val(scalar=dsum / total if total > 0 else None)
        return _Val(scalar=_bucket_percentile(merged, bounds, _q(a)))
    vals = [p.value for p in window]
    if a in ("ALIGN_SUM", "ALIGN_DELTA"):
        return _Val(scalar=sum(vals))
    if a == "ALIGN_RATE":
        return _Val(scalar=sum(vals) / period)
    if a == "ALIGN_MEAN":
        return _Val(scalar=sum(vals) / len(vals))
    if a == "ALIGN_COUNT":
        return _Val(scalar=float(len(vals)))
    if a == "ALIGN_MAX":
        return _Val(scalar=max(vals))
    if a == "ALIGN_MIN":
        return _Val(scalar=min(vals))
    if a == "ALIGN_NEXT_OLDER":
        return _Val(scalar=window[-1].value)
    return _Val(scalar=_lin_percentile(vals, _q(a)))


def _reduce_tick(vals: list[_Val], reducer: str, bounds: list[float] | None) -> _Val:
    present = [v for v in vals if v.present]
    if not present:
        return _Val()
    if present[0].counts is not None:
        merged = [0.0] * len(present[0].counts)
        dsum = 0.0
        for v in present:
            for b in range(len(merged)):
                merged[b] += v.counts[b]
            dsum += v.dsum
        if reducer == "REDUCE_SUM":
            return _Val(counts=merged, dsum=dsum)
        total = sum(merged)
        if reducer == "REDUCE_MEAN":
            return _Val(scalar=dsum / total if total > 0 else None)
        if reducer == "REDUCE_COUNT":
            return _Val(scalar=float(len(present)))
        return _Val(scalar=_bucket_percentile(merged, bounds, _q(reducer)))
    xs = [v.scalar for v in present]
    if reducer == "REDUCE_SUM":
        return _Val(scalar=sum(xs))
    if reducer == "REDUCE_MEAN":
        return _Val(scalar=sum(xs) / len(xs))
    if reducer == "REDUCE_MAX":
        return _Val(scalar=max(xs))
    if reducer == "REDUCE_MIN":
        return _Val(scalar=min(xs))
    if reducer == "REDUCE_COUNT":
        return _Val(scalar=float(len(xs)))
    if reducer == "REDUCE_STDDEV":
        m = sum(xs) / len(xs)
        return _Val(scalar=math.sqrt(sum((x - m) ** 2 for x in xs) / len(xs)))
    return _Val(scalar=_lin_percentile(xs, _q(reducer)))


def _side(
    filter_text: str,
    aggs: Sequence[Aggregation],
    series: Sequence[TimeSeries],
    ticks: Sequence[float],
) -> list[tuple[dict[str, str], list[_Val]]]:
    flt = parse_filter(filter_text)
    rows: list[tuple[dict[str, str], list[_Val], list[float] | None]] = []
    for ts in series:
        if not flt.matches(ts.metric_type, ts.metric_labels, ts.resource_type, ts.resource_labels):
            continue
        pts, _ = _clean(ts)
        is_dist = ts.value_type == "DISTRIBUTION"
        bounds = None if ts.bucket_bounds is None else [float(b) for b in ts.bucket_bounds]
        labels = {f"metric.labels.{k}": str(v) for k, v in ts.metric_labels.items()}
        labels.update({f"resource.labels.{k}": str(v) for k, v in ts.resource_labels.items()})
        rows.append(
            (labels, [_align_tick(pts, is_dist, bounds, aggs[0], t) for t in ticks], bounds)
        )
    for agg in aggs:
        if agg.cross_series_reducer == "REDUCE_NONE":
            continue
        groups: dict[tuple[str, ...], list[tuple[dict[str, str], list[_Val], Any]]] = {}
        for row in rows:
            key = tuple(row[0].get(f, "") for f in agg.group_by_fields)
            groups.setdefault(key, []).append(row)
        new_rows = []
        for key in sorted(groups):
            members = groups[key]
            bounds = members[0][2]
            vals = [
                _reduce_tick([m[1][i] for m in members], agg.cross_series_reducer, bounds)
                for i in range(len(ticks))
            ]
            new_rows.append((dict(zip(agg.group_by_fields, key, strict=True)), vals, bounds))
        rows = new_rows
    return [(r[0], r[1]) for r in rows]


def reference_values(
    condition: Condition, series: Sequence[TimeSeries], ticks: Sequence[float]
) -> list[tuple[dict[str, str], list[float | None]]]:
    """Per-group per-tick values (None = no data), brute force."""
    ticks = [float(t) for t in ticks]
    num = _side(condition.filter, condition.aggregations, series, ticks)
    num_s = [(lab, [v.scalar for v in vals]) for lab, vals in num]
    if condition.denominator_filter is None:
        return num_s
    den = _side(condition.denominator_filter, condition.denominator_aggregations, series, ticks)
    out = []
    for lab, vals in num_s:
        match = None
        for dlab, dvals in den:
            if all(lab.get(k) == v for k, v in dlab.items()):
                match = dvals
        ratio: list[float | None] = []
        for i, x in enumerate(vals):
            d = None if match is None else match[i].scalar
            ratio.append(None if x is None or d is None or d == 0 else x / d)
        out.append((lab, ratio))
    return out


@dataclass
class RefIncident:
    group: int
    open: float
    close: float | None
    peak: float | None
    close_reason: str | None


def reference_incidents(
    values: Sequence[Sequence[float | None]],
    ticks: Sequence[float],
    comparison: str,
    threshold: float,
    duration_s: int,
    missing_data: str,
    auto_close_s: int | None,
    trigger: Trigger | None = None,
) -> tuple[list[list[bool]], list[RefIncident]]:
    """Per-tick open state and incidents by walking the ticks one at a time."""
    k = duration_s // 60 + 1
    gt = comparison.upper().endswith("GT")
    mode = missing_data.upper()
    n_t = len(ticks)
    n_g = len(values)
    # 1. condition met per group, tick by tick
    cond = [[False] * n_t for _ in range(n_g)]
    closed = [[False] * n_t for _ in range(n_g)]
    for g in range(n_g):
        last_data = None
        last_met = False
        for i in range(n_t):
            x = values[g][i]
            if x is not None:
                last_data = i
            # retest window
            met = i >= k - 1
            if met:
                for j in range(i - k + 1, i + 1):
                    y = values[g][j]
                    if y is None:
                        ok = mode.endswith("ACTIVE") and not mode.endswith("INACTIVE")
                        ok = ok or mode.endswith("NO_OP")
                    else:
                        ok = y > threshold if gt else y < threshold
                    if not ok:
                        met = False
                        break
            if mode.endswith("NO_OP") and x is None:
                met = last_met if last_data is not None else False
            if x is not None:
                last_met = met
            if (
                auto_close_s
                and x is None
                and last_data is not None
                and (i - last_data) * 60 >= auto_close_s
            ):
                closed[g][i] = True
                met = False
            cond[g][i] = met
    # 2. trigger
    for i in range(n_t):
        n_met = sum(1 for g in range(n_g) if cond[g][i])
        if trigger is not None and trigger.percent is not None:
            fire = n_g > 0 and n_met * 100.0 >= trigger.percent * n_g
        else:
            need = 1 if trigger is None or trigger.count is None else trigger.count
            fire = n_met >= need
        if not fire:
            for g in range(n_g):
                cond[g][i] = False
    # 3. incidents
    incidents: list[RefIncident] = []
    for g in range(n_g):
        current: RefIncident | None = None
        for i in range(n_t):
            x = values[g][i]
            if cond[g][i]:
                if current is None:
                    current = RefIncident(g, float(ticks[i]), None, None, None)
                    incidents.append(current)
                better = x is not None and (
                    current.peak is None or (x > current.peak if gt else x < current.peak)
                )
                if better:
                    current.peak = x
            elif current is not None:
                current.close = float(ticks[i])
                current.close_reason = "auto_close" if closed[g][i] else "cleared"
                current = None
    incidents.sort(key=lambda r: (r.open, r.group))
    return cond, incidents


def reference_evaluate(
    condition: Condition,
    series: Sequence[TimeSeries],
    ticks: Sequence[float],
    auto_close_s: int | None = None,
) -> dict[str, Any]:
    """Values, per-tick state and incidents of one condition, brute force."""
    vals = reference_values(condition, series, ticks)
    state, incidents = reference_incidents(
        [v for _, v in vals],
        ticks,
        condition.comparison,
        condition.threshold_value,
        condition.duration_s,
        condition.evaluation_missing_data,
        auto_close_s,
        condition.trigger,
    )
    return {
        "labels": [lab for lab, _ in vals],
        "values": [v for _, v in vals],
        "met": state,
        "incidents": incidents,
    }


def _same_resource(a: dict[str, str], b: dict[str, str]) -> bool:
    for key, value in a.items():
        if key.startswith("resource.labels.") and key in b and b[key] != value:
            return False
    return True


def _no_data_for(values: Sequence[float | None], i: int, auto_close_s: int | None) -> bool:
    """At tick i: no data for auto_close seconds, after having had data (walked literally)."""
    if not auto_close_s:
        return False
    last = None
    for j in range(i + 1):
        if values[j] is not None:
            last = j
    return last is not None and (i - last) * 60 >= auto_close_s


def reference_policy(
    policy: Any,
    series: Sequence[TimeSeries],
    ticks: Sequence[float],
    auto_close_s: int | None = None,
) -> dict[str, Any]:
    """A whole policy with its combiner, brute force, tick by tick.

    Each condition goes through :func:`reference_evaluate` on its own; then, for every tick,
    AND asks "does every condition have an open group?" and AND_WITH_MATCHING_RESOURCE asks,
    for every group of the first condition, "is it open, and does every other condition have
    an open group on the same resource (equal on the resource labels both carry)?". OR returns
    the conditions' incidents as they are. See :mod:`ctscan_ops.alerting.engine.combine`.
    """
    ac = policy.auto_close_s if auto_close_s is None else auto_close_s
    per = [reference_evaluate(c, series, ticks, ac) for c in policy.conditions]
    if policy.combiner == "OR" or len(per) < 2:
        return {"combiner": "OR", "per_condition": per, "groups": None, "incidents": None}
    gt = policy.conditions[0].comparison.upper().endswith("GT")
    n_t = len(ticks)
    p0 = per[0]
    # the combined groups: (labels, [for each condition: indices of its groups involved])
    if policy.combiner == "AND":
        units = [({}, [list(range(len(r["labels"]))) for r in per])]
    else:
        units = []
        for g, lab in enumerate(p0["labels"]):
            involved = [[g]]
            for r in per[1:]:
                involved.append(
                    [h for h, other in enumerate(r["labels"]) if _same_resource(lab, other)]
                )
            units.append((dict(lab), involved))
    out_groups = []
    incidents: list[RefIncident] = []
    for u, (lab, involved) in enumerate(units):
        state = []
        for i in range(n_t):
            ok = True
            for c, r in enumerate(per):
                if not any(r["met"][h][i] for h in involved[c]):
                    ok = False
            state.append(ok)
        out_groups.append(lab)
        current = None
        for i in range(n_t):
            if state[i]:
                if current is None:
                    current = RefIncident(u, float(ticks[i]), None, None, None)
                    incidents.append(current)
                for h in involved[0]:
                    x = p0["values"][h][i]
                    if policy.combiner == "AND" and not p0["met"][h][i]:
                        continue
                    if x is not None and (
                        current.peak is None or (x > current.peak if gt else x < current.peak)
                    ):
                        current.peak = x
            elif current is not None:
                current.close = float(ticks[i])
                held = False
                for c, r in enumerate(per):
                    idx = involved[c]
                    if not idx:
                        continue
                    flags = [_no_data_for(r["values"][h], i, ac) for h in idx]
                    if policy.combiner != "AND" and c == 0:
                        held = held or any(flags)
                    else:
                        held = held or all(flags)
                current.close_reason = "auto_close" if held else "cleared"
                current = None
    incidents.sort(key=lambda r: (r.open, r.group))
    return {
        "combiner": policy.combiner,
        "per_condition": per,
        "groups": out_groups,
        "incidents": incidents,
    }
