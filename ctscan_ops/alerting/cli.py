"""``ctscan-ops alerts ...``: backtest an alert condition on your own exported series.

``ctscan-ops alerts backtest --series FILE [--labels JSON] [--from TS --to TS] [--ticks]``
with the condition either from the catalog (``--policy NAME``, resolved for ``--env``), from a
policy file (``--policy FILE`` or ``FILE#NAME``), or ad hoc (``--aligner ALIGN_MEAN
--alignment-period 300 --comparison GT --threshold X --duration 600 [--missing-data
inactive|active|no-op] [--auto-close S]``). With ``--policy``, ``--threshold``/``--duration``/
``--missing-data``/``--auto-close`` override the policy for a quick what-if.

Prints one JSON document on stdout; errors go to stderr with exit code 2 (bad input) and
nothing on stdout. Times are ISO 8601 UTC (``2026-01-01T00:05:00Z``)::

    {
      "policy": {"name", "environment", "severity", "content_hash",
                 "conditions": [<condition in catalog spelling>], "auto_close": "1800s"|null},
      "filter_applied": true|false,      # false: CSV without metric_type, filter bypassed
      "from": ISO, "to": ISO,            # first and last evaluation tick (60 s grid)
      "ticks_evaluated": N, "series": N,
      "groups": [{"condition": i, "labels": {...}}],   # output series of each condition
      "incidents": [{"open": ISO, "close": ISO|null, "peak": x|null, "id": "...",
                     "condition": i, "labels": {...}, "close_reason": "cleared"|"auto_close"|null}],
      "data_issues": {"<series>": {"out_of_order", "duplicates", "non_finite", ...}},
      "quality": {                       # only with --labels
        "incidents", "true_incidents", "false_incidents",
        "precision", "false_discovery_rate",   # FDR = 1 - precision = ops' "false positive rate"
        "fpr_per_tick",                        # alerting ticks outside labels / ticks outside
        "recall", "false_alerts_per_day", "median_detection_s", "mean_detection_s",
        "median_reset_s", "labelled_incidents", "detected_incidents", "missed_incidents", "days"
      },                                 # ratios are null when undefined (e.g. no incidents)
      "ticks": [{"t": ISO, "met": bool, "values": [x|null per group]}]   # only with --ticks
    }

CSV series carry no metric identity unless they have a ``metric_type`` column: then the
condition's filter is not applied and every series in the file is taken as selected (the
output says ``"filter_applied": false``). Ratio conditions need both sides, so they need
TimeSeries JSON or a ``metric_type`` column.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import math
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ctscan_ops import cli_contract as cc
from ctscan_ops.alerting.catalog import (
    ALIGNERS,
    REDUCERS,
    CatalogError,
    Condition,
    Policy,
    format_duration,
    load_catalog,
    normalize_comparison,
    normalize_missing_data,
    parse_catalog,
    parse_condition,
    resolve_policy,
)
from ctscan_ops.alerting.engine.evaluator import EvaluationError, EvaluationResult, evaluate, iso
from ctscan_ops.alerting.engine.filters import FilterError
from ctscan_ops.alerting.engine.io import (
    InputError,
    api_policy_to_catalog,
    is_api_policy,
    parse_time,
    read_labels,
    read_series,
)
from ctscan_ops.alerting.engine.series import SeriesError, TimeSeries
from ctscan_ops.alerting.shadow.quality import score

__all__ = ["backtest", "build_parser", "main", "register"]

CSV_METRIC = "custom.googleapis.com/backtest/value"
# Optional sub-command providers: (module, function(alerts_subparsers)).
_EXTENSIONS = (
    ("ctscan_ops.alerting.tuning_cli", "add_tune_parser"),
    ("ctscan_ops.alerting.label_cli", "add_label_parser"),
    ("ctscan_ops.alerting.shadow_cli", "add_shadow_parsers"),
    ("ctscan_ops.alerting.propose_cli", "add_propose_parser"),
)


class UsageError(ValueError):
    """Inconsistent command-line options."""


def _num(x: float | None) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None  # JSON has no NaN/inf (e.g. a sum of 1e308s)


def _policy_from_file(spec: str) -> Policy:
    path_text, _, name = spec.partition("#")
    path = Path(path_text)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}:" if mark is not None else ""
        raise InputError(f"{path}:{line} invalid YAML/JSON: {exc}") from None
    except RecursionError:
        raise InputError(cc.nesting_message(str(path))) from None
    if isinstance(doc, dict) and "policies" in doc:
        doc.setdefault("catalog_version", 0)
        catalog = parse_catalog(doc, str(path))
        if name:
            return catalog.policy(name)
        if len(catalog.policies) != 1:
            raise UsageError(
                f"{path}: holds {len(catalog.policies)} policies; pick one with FILE#NAME "
                f"({', '.join(catalog.policies)})"
            )
        return next(iter(catalog.policies.values()))
    if isinstance(doc, dict) and is_api_policy(doc):  # the API's AlertPolicy JSON
        doc = api_policy_to_catalog(doc, str(path))
    if isinstance(doc, dict) and ("condition" in doc or "conditions" in doc):
        wrapped = {"catalog_version": 0, "policies": {name or _snake(path.stem): doc}}
        return next(iter(parse_catalog(wrapped, str(path)).policies.values()))
    raise InputError(
        f"{path}: expected a policy (with 'condition', 'conditions' or the API's "
        "conditions[].conditionThreshold) or a catalog ('policies')"
    )


def _snake(text: str) -> str:
    out = "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")
    return out if out and out[0].isalpha() else f"p_{out}"


def _adhoc_condition(args: argparse.Namespace) -> Condition:
    if args.comparison is None or args.threshold is None:
        raise UsageError("ad hoc condition: --comparison and --threshold are required")
    raw = {
        "filter": f'metric.type="{CSV_METRIC}" AND resource.type="global"',
        "aggregations": [
            {
                "alignment_period": f"{args.alignment_period}s",
                "per_series_aligner": args.aligner,
                "cross_series_reducer": args.reducer,
                "group_by_fields": list(args.group_by or []),
            }
        ],
        "comparison": args.comparison,
        "threshold_value": args.threshold,
        "duration": f"{args.duration or 0}s",
        "evaluation_missing_data": normalize_missing_data(args.missing_data or "inactive"),
    }
    if args.trigger_percent is not None:
        raw["trigger"] = {"percent": args.trigger_percent}
    elif args.trigger_count is not None:
        raw["trigger"] = {"count": args.trigger_count}
    return parse_condition(raw, "ad hoc condition")


def resolve_target(args: argparse.Namespace) -> Policy:
    """The policy to evaluate (ad hoc conditions become a one-condition policy)."""
    if args.policy:
        spec = args.policy
        looks_like_file = (
            "#" in spec or Path(spec).suffix.lower() in (".yaml", ".yml", ".json")
        ) or Path(spec).exists()
        if looks_like_file:
            policy = _policy_from_file(spec)
        else:
            policy = load_catalog(args.catalog).policy(spec)
        policy = resolve_policy(policy, args.env, service_name=args.service_name)
        cond = policy.condition
        if args.threshold is not None:
            cond = replace(cond, threshold_value=float(args.threshold))
        if args.duration is not None:
            if args.duration < 0 or args.duration % 60:
                raise UsageError(f"--duration: {args.duration} s is not a multiple of 60 s")
            cond = replace(cond, duration_s=int(args.duration))
        if args.missing_data is not None:
            cond = replace(cond, evaluation_missing_data=normalize_missing_data(args.missing_data))
        if args.comparison is not None:
            cond = replace(cond, comparison=normalize_comparison(args.comparison))
        policy = replace(policy, conditions=(cond, *policy.conditions[1:]))
        if args.auto_close is not None:
            policy = replace(policy, auto_close_s=int(args.auto_close))
        return policy
    cond = _adhoc_condition(args)
    return Policy(
        name="adhoc",
        display_name="ad hoc condition",
        severity="P2",
        conditions=(cond,),
        auto_close_s=args.auto_close,
    )


def _csv_kind(policy: Policy, override: str | None) -> str:
    if override:
        return override
    aligner = policy.condition.aggregations[0].per_series_aligner
    return "DELTA" if aligner in ("ALIGN_RATE", "ALIGN_DELTA") else "GAUGE"


def _unfiltered(policy: Policy) -> Policy:
    """Point every condition at the CSV's series (which carry no metric identity)."""
    conds = []
    for c in policy.conditions:
        if c.is_ratio:
            raise UsageError(
                "a ratio condition needs numerator and denominator series: give TimeSeries "
                "JSON or a CSV with a metric_type column (plus the filter's label columns)"
            )
        conds.append(replace(c, filter=f'metric.type="{CSV_METRIC}" AND resource.type="global"'))
    return replace(policy, conditions=tuple(conds))


def read_input(args: argparse.Namespace, policy: Policy) -> tuple[list[TimeSeries], Policy, bool]:
    series = read_series(
        args.series,
        args.format,
        metric_type=CSV_METRIC,
        metric_kind=_csv_kind(policy, args.metric_kind),
        value_type=args.value_type,
    )
    filter_applied = True
    if all(s.metric_type == CSV_METRIC for s in series):
        policy = _unfiltered(policy)
        filter_applied = False
    return series, policy, filter_applied


def data_range(series: list[TimeSeries]) -> tuple[float, float]:
    times = [s.times[np.isfinite(s.times)] for s in series]
    times = [t for t in times if t.size]
    if not times:
        raise InputError("series: no points with a valid timestamp")
    return float(min(t.min() for t in times)), float(max(t.max() for t in times))


def backtest(args: argparse.Namespace) -> dict[str, Any]:
    """Run a backtest and return the output document (raises on bad input)."""
    policy = resolve_target(args)
    series, policy, filter_applied = read_input(args, policy)
    lo, hi = data_range(series)
    start = parse_time(args.start) if args.start else lo
    end = parse_time(args.end) if args.end else hi
    if end < start:
        raise UsageError(f"--to ({iso(end)}) is before --from ({iso(start)})")
    result = evaluate(policy, series, start, end)
    if result.ticks.size == 0:
        raise UsageError("the period holds no 60 s evaluation tick; widen --from/--to")
    doc: dict[str, Any] = {
        "policy": {
            "name": policy.name,
            "environment": policy.environment,
            "severity": policy.severity,
            "combiner": policy.combiner,
            "content_hash": policy.content_hash,
            "conditions": [c.to_dict() for c in policy.conditions],
            "auto_close": None
            if policy.auto_close_s is None
            else format_duration(policy.auto_close_s),
        },
        "filter_applied": filter_applied,
        "from": iso(float(result.ticks[0])),
        "to": iso(float(result.ticks[-1])),
        "ticks_evaluated": int(result.ticks.size),
        "series": len(series),
        "groups": [
            {"condition": c.index, "labels": labels}
            for c in result.conditions
            for labels in c.groups
        ],
        "incidents": [_incident_json(i) for i in result.incidents],
        "data_issues": result.issues,
    }
    if args.labels:
        windows, verdicts = read_labels(args.labels)
        q = score(result.incidents, windows, result.ticks, met=result.met, verdicts=verdicts)
        doc["quality"] = q.as_dict()
    if args.ticks:
        doc["ticks"] = _ticks_json(result)
    return doc


def _incident_json(inc: Any) -> dict[str, Any]:
    d = inc.to_json()
    return {
        "open": d["open"],
        "close": d["close"],
        "peak": _num(d["peak"]),
        "id": d["id"],
        "condition": d["condition"],
        "labels": d["labels"],
        "close_reason": d["close_reason"],
    }


def _ticks_json(result: EvaluationResult) -> list[dict[str, Any]]:
    values = [row for c in result.conditions for row in c.values]
    met = result.met
    out = []
    for i, t in enumerate(result.ticks):
        out.append(
            {
                "t": iso(float(t)),
                "met": bool(met[i]),
                "values": [_num(row[i]) for row in values],
            }
        )
    return out


def cmd_backtest(args: argparse.Namespace) -> int:
    """Handler: print the JSON document, or an error on stderr with exit code 2."""
    try:
        doc = backtest(args)
    except (
        InputError,
        CatalogError,
        FilterError,
        EvaluationError,
        SeriesError,
        UsageError,
    ) as exc:
        print(f"ctscan-ops alerts backtest: error: {exc}", file=sys.stderr)
        return 2
    cc.emit_json(doc)
    return 0


def add_condition_args(p: argparse.ArgumentParser) -> None:
    """Input and condition flags shared by ``alerts backtest`` and ``alerts tune``."""
    p.add_argument(
        "--series",
        required=True,
        type=cc.existing_file(),
        help="CSV (timestamp,value[,labels]) or TimeSeries JSON",
    )
    p.add_argument("--format", choices=("auto", "csv", "json"), default="auto")
    p.add_argument(
        "--from",
        dest="start",
        type=cc.timestamp(),
        help="first tick (ISO 8601 or epoch s; default: data start)",
    )
    p.add_argument("--to", dest="end", type=cc.timestamp(), help="last tick (default: data end)")
    g = p.add_argument_group("catalog policy")
    g.add_argument("--policy", help="catalog policy NAME, or a policy FILE (YAML/JSON) / FILE#NAME")
    g.add_argument("--env", choices=("dev", "staging", "prod"), default="prod")
    g.add_argument("--service-name", help="override ${service_name} (default per environment)")
    g.add_argument(
        "--catalog",
        type=cc.existing_file(),
        help="catalog YAML (default: terraform/alert_policies.yaml)",
    )
    a = p.add_argument_group("ad hoc condition (or overrides of --policy)")
    a.add_argument(
        "--aligner", choices=[x for x in ALIGNERS if x != "ALIGN_NONE"], default="ALIGN_MEAN"
    )
    a.add_argument(
        "--alignment-period",
        type=cc.alignment_period(),
        default=60,
        metavar="S",
        help="60 .. 90000 s",
    )
    a.add_argument("--reducer", choices=REDUCERS, default="REDUCE_NONE")
    a.add_argument("--group-by", action="append", metavar="FIELD", help="e.g. metric.labels.route")
    a.add_argument(
        "--comparison", type=str.upper, choices=("GT", "LT", "COMPARISON_GT", "COMPARISON_LT")
    )
    a.add_argument("--threshold", type=cc.finite_float(), help="(tune: the current threshold)")
    a.add_argument(
        "--duration",
        type=cc.duration(),
        metavar="S",
        help="retest window, multiple of 60 up to 86400 (tune: current)",
    )
    a.add_argument("--missing-data", choices=("inactive", "active", "no-op"))
    a.add_argument("--auto-close", type=cc.auto_close(), metavar="S", help="1800 .. 604800 s")
    a.add_argument("--trigger-count", type=cc.bounded_int(1, 1_000_000))
    a.add_argument("--trigger-percent", type=cc.finite_float(0, 100, lo_open=True))
    c = p.add_argument_group("CSV interpretation")
    c.add_argument(
        "--metric-kind",
        choices=("GAUGE", "DELTA", "CUMULATIVE"),
        help="default: DELTA for ALIGN_RATE/ALIGN_DELTA, else GAUGE",
    )
    c.add_argument("--value-type", choices=("DOUBLE", "INT64"), default="DOUBLE")


def _add_backtest(alerts_sub: Any) -> None:
    p = alerts_sub.add_parser(
        "backtest",
        help="replay an alert condition over exported series and score it against labels",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_condition_args(p)
    p.add_argument(
        "--labels",
        type=cc.existing_file(),
        help='JSON list of {"start": ts, "end": ts} incident windows',
    )
    p.add_argument("--ticks", action="store_true", help="add the per-tick condition state")
    p.set_defaults(func=cmd_backtest)


def register(subparsers: Any) -> None:
    """Add ``alerts`` with ``backtest`` (and optional extensions such as ``tune``)."""
    alerts = subparsers.add_parser("alerts", help="alert policies: backtest, tuning, shadow mode")
    alerts_sub = alerts.add_subparsers(dest="alerts_command", required=True)
    _add_backtest(alerts_sub)
    for module_name, func_name in _EXTENSIONS:
        if importlib.util.find_spec(module_name) is None:
            continue
        module = importlib.import_module(module_name)
        getattr(module, func_name)(alerts_sub)


def build_parser() -> argparse.ArgumentParser:
    parser = cc.ContractParser(prog="ctscan-ops")
    register(parser.add_subparsers(dest="command", required=True))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m ctscan_ops.alerting.cli alerts backtest ...``)."""
    return cc.run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
