"""``ctscan-ops alerts tune``: recommend a threshold and duration from exported series and labels.

``ctscan-ops alerts tune --series FILE --labels JSON [--target-fdr 0.02]
[--max-alerts-per-day N] [--max-fpr-per-tick 0.01] [--holdout 0.3]
[--durations 0,60,300 | --max-duration S] [--plots DIR]`` with the policy given as in
``alerts backtest`` (``--policy NAME|FILE[#NAME]`` with ``--env``, or ad hoc ``--aligner
--alignment-period --comparison [--missing-data] [--auto-close]``). Threshold and duration are
what is tuned: with ``--policy`` the catalog's values (or ``--threshold``/``--duration``) are the
*current* setting, reported side by side; ad hoc, ``--threshold``/``--duration`` are optional.

Prints one JSON document (README, "alerts tune"):

* ``recommended``: ``{"threshold", "duration_s", "reason"}`` (threshold/duration null and
  ``reason`` set when there is no recommendation, e.g. insufficient evidence, or ``not proven
  on held-out data: ...`` when the setting chosen on the training part misses the target on
  the held-out part: FDR over target, a labelled held-out incident lost that the current
  setting detects, none detected, false alerts over budget, or for a P0 detection slower than
  300 s);
* ``rejected``: the refuted candidate with its ``train`` / ``holdout`` figures and ``reasons``
  (only when a candidate was refuted);
* ``more_history``: when not ready, how much more labelled history a firm held-out verdict
  needs at the observed incident rate (``more_days_for_verdict``,
  ``more_days_to_show_target_fdr``, ``more_days_to_bound_false_alerts``, ``summary``);
* ``train`` / ``holdout``: quality of the recommendation on the earlier and the held-out later
  part (same keys as backtest's ``quality``), null without a recommendation;
* ``current``: ``{"threshold", "duration_s", "train", "holdout"}`` or null;
* ``readiness``: ``{"verdict": "ready"|"provisional"|"not_ready"|"not_enough_data",
  "reasons": [...], "evidence": {...}}`` (evidence: the held-out FDR's Wilson interval, the
  false alerts' Garwood interval and the days to a firm verdict, see
  :func:`ctscan_ops.alerting.shadow.readiness.assess`);
* ``curve``: per duration, columnar ``threshold`` / ``threshold_lo`` / ``threshold_hi`` /
  ``false_discovery_rate`` / ``recall`` / ``false_alerts_per_day`` / ``incidents`` over every
  threshold class of the training part (adjacent classes with identical figures merged);
* context: ``policy``, ``from``/``to``, ``split_time``, ``train_window``/``holdout_window``,
  targets, ``groups``, ``notes``.

Bad input: a clear error on stderr, nothing on stdout, exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ctscan_ops import cli_contract as cc
from ctscan_ops.alerting.catalog import CatalogError, format_duration
from ctscan_ops.alerting.engine.evaluator import (
    EvaluationError,
    aligned_condition_values,
    iso,
    make_ticks,
)
from ctscan_ops.alerting.engine.filters import FilterError
from ctscan_ops.alerting.engine.io import InputError, parse_time, read_labels
from ctscan_ops.alerting.engine.series import SeriesError
from ctscan_ops.alerting.tuning.recommend import (
    DEFAULT_DURATIONS_S,
    DEFAULT_HOLDOUT,
    DEFAULT_MAX_FPR_PER_TICK,
    DEFAULT_TARGET_FDR,
    P0_MTTD_TARGET_S,
    Condition1D,
    TuningParams,
    incidents_for_setting,
    tune,
)
from ctscan_ops.alerting.tuning.sweep import SweepInputError, candidate_durations

__all__ = ["add_tune_parser", "cmd_tune", "run_tune"]

_PLACEHOLDER_THRESHOLD = 0.0  # ad hoc conditions need a threshold to parse; it is not used


class TuneUsageError(ValueError):
    """Inconsistent options for ``alerts tune``."""


def _durations(args: argparse.Namespace) -> tuple[int, ...]:
    if args.durations and args.max_duration is not None:
        raise TuneUsageError("give either --durations or --max-duration, not both")
    if args.max_duration is not None:
        return tuple(candidate_durations(args.max_duration, count=10))
    if args.durations:
        return tuple(args.durations)  # checked by the argument type (multiples of 60, in range)
    return DEFAULT_DURATIONS_S


def _target(args: argparse.Namespace) -> tuple[Any, tuple[float, int] | None]:
    """The policy (via backtest's resolution) and the current setting, if any."""
    from ctscan_ops.alerting import cli as backtest_cli

    given_threshold = args.threshold
    if not args.policy and args.threshold is None:
        args = argparse.Namespace(**{**vars(args), "threshold": _PLACEHOLDER_THRESHOLD})
    policy = backtest_cli.resolve_target(args)
    cond = policy.condition
    trig = cond.trigger
    if trig.percent is not None or (trig.count or 1) != 1:
        raise TuneUsageError(
            f"policy {policy.name!r}: tuning supports trigger count 1 (any series), "
            f"got {trig.to_dict()}"
        )
    if args.policy or given_threshold is not None:
        current = (float(cond.threshold_value), int(cond.duration_s))
    else:
        current = None
    return policy, current


def run_tune(args: argparse.Namespace) -> dict[str, Any]:
    """Build the ``alerts tune`` document (raises on bad input)."""
    from ctscan_ops.alerting import cli as backtest_cli
    from ctscan_ops.alerting.tuning.guard import gate_primary_values

    params = TuningParams(
        target_fdr=args.target_fdr,
        max_alerts_per_day=args.max_alerts_per_day,
        holdout=args.holdout,
        max_fpr_per_tick=args.max_fpr_per_tick,
        durations_s=_durations(args),
    )
    params.validate()
    policy, current = _target(args)
    if policy.severity == "P0":
        # a P0 is never loosened beyond its detection-time promise (MTTD <= 5 min)
        params = replace(params, max_detection_s=P0_MTTD_TARGET_S)
    series, policy, filter_applied = backtest_cli.read_input(args, policy)
    lo, hi = backtest_cli.data_range(series)
    start = parse_time(args.start) if args.start else lo
    end = parse_time(args.end) if args.end else hi
    if end < start:
        raise TuneUsageError(f"--to ({iso(end)}) is before --from ({iso(start)})")
    ticks = make_ticks(start, end)
    if ticks.size < 2:
        raise TuneUsageError("the period holds fewer than two 60 s ticks; widen --from/--to")
    cond = policy.condition
    groups = aligned_condition_values(cond, series, ticks)
    if not groups:
        raise TuneUsageError(f"policy {policy.name!r}: the condition selects no series")
    values = np.vstack([g.values for g in groups])
    if values.shape[0] == 1:
        values = values[0]
    if np.isinf(values).any():
        raise InputError(
            f"{args.series}: aligned values overflow to infinity (e.g. "
            f"{cond.aggregations[0].per_series_aligner}"
            " of numbers near 1e308); scale the series down"
        )
    windows, verdicts = read_labels(args.labels)
    pairs = [(w.start, w.end) for w in windows]
    values, gate_note = gate_primary_values(policy, series, ticks, values)
    c1 = Condition1D(cond.comparison, cond.evaluation_missing_data, policy.auto_close_s)
    doc = tune(values, ticks, pairs, c1, params, current=current)
    notes = []
    if verdicts:
        notes.append(
            f"{len(verdicts)} operator verdict(s) ignored: the sweep scores by label windows only"
        )
    if len(policy.conditions) > 1:
        notes.append(
            f"only condition[0] is tuned; {len(policy.conditions) - 1} more condition(s) stay "
            f"fixed at their catalog values (combiner {policy.combiner})"
        )
    if gate_note:
        notes.append(gate_note)
    head = {
        "policy": {
            "name": policy.name,
            "environment": policy.environment,
            "severity": policy.severity,
            "condition": cond.to_dict(),
            "combiner": policy.combiner,
            "fixed_conditions": [c.to_dict() for c in policy.conditions[1:]],
            "auto_close": None
            if policy.auto_close_s is None
            else format_duration(policy.auto_close_s),
        },
        "filter_applied": filter_applied,
        "from": iso(float(ticks[0])),
        "to": iso(float(ticks[-1])),
        "ticks_evaluated": int(ticks.size),
        "group_labels": [g.labels for g in groups],
        "notes": notes,
    }
    doc = {**head, **doc}
    if args.plots:
        doc["plots"] = _write_plots(Path(args.plots), doc, values, ticks, pairs, c1)
    return doc


def _write_plots(
    out_dir: Path,
    doc: dict[str, Any],
    values: np.ndarray,
    ticks: np.ndarray,
    windows: list[tuple[float, float]],
    cond: Condition1D,
) -> dict[str, str]:
    from ctscan_ops.alerting.tuning.plots import curve_png, timeline_png

    out_dir.mkdir(parents=True, exist_ok=True)
    name = doc["policy"]["name"]
    paths = {}
    curve = curve_png(
        doc["curve"], current=doc["current"], recommended=doc["recommended"], title=name
    )
    settings: dict[str, tuple[float, list]] = {}
    for key in ("current", "recommended"):
        s = doc[key]
        if s and s.get("threshold") is not None:
            incs = []
            for row in np.atleast_2d(values):
                incs += incidents_for_setting(row, ticks, cond, s["threshold"], s["duration_s"])
            settings[f"{key} ({s['threshold']:g}, {s['duration_s']} s)"] = (s["threshold"], incs)
    split = parse_time(doc["split_time"])
    timeline = timeline_png(ticks, values, windows, settings, split_time=split, title=name)
    for fname, data in (("tuning_curve.png", curve), ("tuning_timeline.png", timeline)):
        p = out_dir / f"{name}_{fname}"
        p.write_bytes(data)
        paths[fname.removesuffix(".png")] = str(p)
    return paths


def cmd_tune(args: argparse.Namespace) -> int:
    """Handler: print the JSON document, or an error on stderr with exit code 2."""
    from ctscan_ops.alerting import cli as backtest_cli

    try:
        doc = run_tune(args)
    except (
        InputError,
        CatalogError,
        FilterError,
        EvaluationError,
        SeriesError,
        SweepInputError,
        TuneUsageError,
        backtest_cli.UsageError,
    ) as exc:
        print(f"ctscan-ops alerts tune: error: {exc}", file=sys.stderr)
        return 2
    cc.emit_json(doc)
    return 0


def add_tune_parser(alerts_subparsers: Any) -> None:
    """Add ``alerts tune`` (called by :func:`ctscan_ops.alerting.cli.register`)."""
    p = alerts_subparsers.add_parser(
        "tune",
        help="recommend threshold/duration: exact sweep, walk-forward holdout, readiness",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from ctscan_ops.alerting.cli import add_condition_args

    add_condition_args(p)
    p.add_argument(
        "--labels",
        required=True,
        type=cc.existing_file(),
        help='JSON list of {"start", "end"} windows',
    )
    t = p.add_argument_group("targets")
    t.add_argument("--target-fdr", type=cc.finite_float(0, 1), default=DEFAULT_TARGET_FDR)
    t.add_argument(
        "--max-alerts-per-day",
        type=cc.finite_float(0, 1e6, lo_open=True),
        default=None,
        metavar="N",
    )
    t.add_argument(
        "--max-fpr-per-tick", type=cc.finite_float(0, 1), default=DEFAULT_MAX_FPR_PER_TICK
    )
    t.add_argument(
        "--holdout",
        type=cc.finite_float(0, 1, lo_open=True, hi_open=True),
        default=DEFAULT_HOLDOUT,
        help="later fraction held out, in (0, 1)",
    )
    t.add_argument(
        "--durations",
        type=cc.duration_list(),
        help="candidate durations, e.g. 0,60,300 (multiples of 60, at most 86400)",
    )
    t.add_argument("--max-duration", type=cc.duration(60), metavar="S", help="10 durations in 0..S")
    p.add_argument(
        "--plots",
        metavar="DIR",
        type=cc.output_dir(),
        help="also write the curve and timeline PNGs here",
    )
    p.set_defaults(func=cmd_tune)
