"""Fixtures for the threshold-tuning tests: a deliberately simple brute-force evaluator.

The reference walks the ticks one by one with the plain rules (retest window of D/60 + 1 ticks,
missing-data modes, auto_close) and scores incidents with plain loops. It shares no code with
``ctscan_ops.alerting.tuning.sweep``, so agreement is evidence, not tautology.
"""

from __future__ import annotations

import math
import statistics
from types import SimpleNamespace

import pytest


def ref_met(values, comparison, threshold, duration_s, missing_data, auto_close_s=None):
    """Per-tick condition state, one tick at a time."""
    k = duration_s // 60 + 1
    gt = comparison.upper().endswith("GT")
    mode = missing_data.upper()
    out = []
    state = False
    last_data = None
    for t, v in enumerate(values):
        has = not math.isnan(v)
        if has:
            last_data = t
        if (
            not has
            and auto_close_s
            and last_data is not None
            and (t - last_data) * 60 >= auto_close_s
        ):
            met = False
        elif not has and mode.endswith("NO_OP"):
            met = state
        elif t < k - 1:
            met = False
        else:
            met = True
            for x in values[t - k + 1 : t + 1]:
                if math.isnan(x):
                    viol = not mode.endswith("INACTIVE")
                else:
                    viol = x > threshold if gt else x < threshold
                if not viol:
                    met = False
        out.append(met)
        state = met
    return out


def ref_incidents(met, ticks):
    """(open, close) pairs; close None while still open at the end."""
    incs = []
    open_t = None
    for t, m in enumerate(met):
        if m and open_t is None:
            open_t = ticks[t]
        if not m and open_t is not None:
            incs.append((open_t, ticks[t]))
            open_t = None
    if open_t is not None:
        incs.append((open_t, None))
    return incs


def ref_quality(met, incidents, ticks, windows):
    """Quality figures with plain loops (definitions as in the sweep's docstring)."""
    first, last = ticks[0], ticks[-1] + 60
    wins = [(s, e) for s, e in windows if s < last and e >= first]

    def overlaps(inc, w):
        o, c = inc
        return o <= w[1] and (c is None or c > w[0])

    true_inc = sum(1 for inc in incidents if any(overlaps(inc, w) for w in wins))
    n_inc = len(incidents)
    unl = [t for t in range(len(ticks)) if not any(s <= ticks[t] <= e for s, e in wins)]
    met_unl = sum(1 for t in unl if met[t])
    detected, dets, rsts = 0, [], []
    for w in wins:
        hits = [inc for inc in incidents if overlaps(inc, w)]
        if not hits:
            continue
        detected += 1
        # detection: the earliest open; reset: when the last overlapping incident closed
        # (undefined while any of them is still open)
        dets.append(max(0.0, min(o for o, _ in hits) - w[0]))
        if all(c is not None for _, c in hits):
            rsts.append(max(0.0, max(c for _, c in hits) - w[1]))
    days = len(ticks) * 60 / 86400
    return {
        "incidents": n_inc,
        "true_incidents": true_inc,
        "false_incidents": n_inc - true_inc,
        "precision": true_inc / n_inc if n_inc else None,
        "false_discovery_rate": (n_inc - true_inc) / n_inc if n_inc else None,
        "fpr_per_tick": met_unl / len(unl) if unl else None,
        "recall": detected / len(wins) if wins else None,
        "false_alerts_per_day": (n_inc - true_inc) / days,
        "median_detection_s": statistics.median(dets) if dets else None,
        "mean_detection_s": statistics.fmean(dets) if dets else None,
        "detected_incidents": detected,
        "missed_incidents": len(wins) - detected,
        "median_reset_s": statistics.median(rsts) if rsts else None,
        "labelled_incidents": len(wins),
        "days": days,
    }


def ref_evaluate(
    values, ticks, windows, comparison, threshold, duration_s, missing_data, auto_close_s=None
):
    met = ref_met(values, comparison, threshold, duration_s, missing_data, auto_close_s)
    incs = ref_incidents(met, ticks)
    return incs, ref_quality(met, incs, ticks, windows)


def ref_evaluate_groups(
    rows, ticks, windows, comparison, threshold, duration_s, missing_data, auto_close_s=None
):
    """Several groups (trigger count 1): incidents of every group, alert state = any group."""
    mets = [ref_met(r, comparison, threshold, duration_s, missing_data, auto_close_s) for r in rows]
    incs = sorted((i for m in mets for i in ref_incidents(m, ticks)), key=lambda i: i[0])
    met_any = [any(col) for col in zip(*mets, strict=True)]
    return incs, ref_quality(met_any, incs, ticks, windows)


@pytest.fixture(scope="session")
def brute():
    return SimpleNamespace(
        met=ref_met,
        incidents=ref_incidents,
        quality=ref_quality,
        evaluate=ref_evaluate,
        evaluate_groups=ref_evaluate_groups,
    )
