"""Alert policy catalog (``terraform/alert_policies.yaml``): load, validate, resolve per env.

The YAML is the single source of truth for Terraform and for shadow evaluation, so it is
validated here the way the Monitoring API would validate the deployed policy: a catalog that
loads here is one Terraform can apply. Every error names the policy and the field.

Resolution for an environment applies, in order: the catalog's condition, the condition's own
``environments.<env>`` (threshold_value / duration of any condition, e.g. a guard's floor), the
policy's ``environments.<env>`` overrides, then ``alert_overrides[<policy>]`` (tuning output, the
Terraform variable of the same name) -- the last two change only the primary condition
(``conditions[0]``) -- and substitutes ``${service_name}`` / ``${environment}`` in the filters.

A policy has one ``condition:`` or a list ``conditions: [...]`` (plus the older
``additional_conditions``), at most 6, combined by ``combiner`` OR | AND |
AND_WITH_MATCHING_RESOURCE like the API's ``AlertPolicy.combiner``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from ctscan_ops.alerting.engine.filters import FilterError, parse_filter

__all__ = [
    "ALIGNERS",
    "COMBINERS",
    "COMPARISONS",
    "ENVIRONMENTS",
    "MISSING_DATA_MODES",
    "REDUCERS",
    "SERVICE_NAMES",
    "Aggregation",
    "Catalog",
    "CatalogError",
    "Condition",
    "Policy",
    "Trigger",
    "default_catalog_path",
    "format_duration",
    "load_alert_overrides",
    "load_catalog",
    "parse_catalog",
    "parse_condition",
    "parse_duration",
    "resolve_policy",
]

ENVIRONMENTS = ("dev", "staging", "prod")
SERVICE_NAMES = {"prod": "ct-scan-api", "staging": "ct-scan-api-staging", "dev": "ct-scan-api-dev"}
SEVERITIES = ("P0", "P1", "P2")
DEFAULT_FALSE_PAGE_BUDGET_PER_WEEK = 1.0
COMPARISONS = ("COMPARISON_GT", "COMPARISON_LT")
ALIGNERS = (
    "ALIGN_NONE",
    "ALIGN_MEAN",
    "ALIGN_MAX",
    "ALIGN_MIN",
    "ALIGN_SUM",
    "ALIGN_COUNT",
    "ALIGN_RATE",
    "ALIGN_DELTA",
    "ALIGN_PERCENTILE_99",
    "ALIGN_PERCENTILE_95",
    "ALIGN_PERCENTILE_50",
    "ALIGN_PERCENTILE_05",
    "ALIGN_NEXT_OLDER",
)
REDUCERS = (
    "REDUCE_NONE",
    "REDUCE_MEAN",
    "REDUCE_MIN",
    "REDUCE_MAX",
    "REDUCE_SUM",
    "REDUCE_STDDEV",
    "REDUCE_COUNT",
    "REDUCE_PERCENTILE_99",
    "REDUCE_PERCENTILE_95",
    "REDUCE_PERCENTILE_50",
    "REDUCE_PERCENTILE_05",
)
MISSING_DATA_MODES = (
    "EVALUATION_MISSING_DATA_INACTIVE",
    "EVALUATION_MISSING_DATA_ACTIVE",
    "EVALUATION_MISSING_DATA_NO_OP",
)
_MISSING_ALIASES = {
    "EVALUATION_MISSING_DATA_UNSPECIFIED": "EVALUATION_MISSING_DATA_NO_OP",
    "INACTIVE": "EVALUATION_MISSING_DATA_INACTIVE",
    "ACTIVE": "EVALUATION_MISSING_DATA_ACTIVE",
    "NO-OP": "EVALUATION_MISSING_DATA_NO_OP",
    "NO_OP": "EVALUATION_MISSING_DATA_NO_OP",
    "NOOP": "EVALUATION_MISSING_DATA_NO_OP",
}
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")
_CONDITION_KEYS = {
    "display_name",
    "filter",
    "aggregations",
    "denominator_filter",
    "denominator_aggregations",
    "comparison",
    "threshold_value",
    "duration",
    "trigger",
    "evaluation_missing_data",
    "environments",
}
COMBINERS = ("OR", "AND", "AND_WITH_MATCHING_RESOURCE")
_POLICY_KEYS = {
    "display_name",
    "severity",
    "runbook",
    "notify",
    "condition",
    "conditions",
    "additional_conditions",
    "combiner",
    "auto_close",
    "environments",
    "enabled",
}
_OVERRIDE_KEYS = {"threshold_value", "duration", "enabled"}
_CONDITION_OVERRIDE_KEYS = {"threshold_value", "duration"}


class CatalogError(ValueError):
    """Invalid catalog content; the message names the policy and the field."""


def parse_duration(value: Any, where: str) -> int:
    """``"300s"`` (or a plain integer number of seconds) -> 300; errors name ``where``."""
    if isinstance(value, bool):
        raise CatalogError(f"{where}: {value!r} is not a duration like '300s'")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str) and re.fullmatch(r"\d+(\.0+)?s", value.strip()):
        seconds = int(float(value.strip()[:-1]))
    else:
        raise CatalogError(f"{where}: {value!r} is not a duration like '300s'")
    if seconds < 0:
        raise CatalogError(f"{where}: duration must not be negative, got {value!r}")
    return seconds


def format_duration(seconds: int) -> str:
    """300 -> ``"300s"``, the spelling of the API and Terraform."""
    return f"{int(seconds)}s"


@dataclass(frozen=True)
class Aggregation:
    """One entry of ``aggregations``: alignment then cross-series reduction."""

    alignment_period_s: int | None
    per_series_aligner: str = "ALIGN_NONE"
    cross_series_reducer: str = "REDUCE_NONE"
    group_by_fields: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "alignment_period": (
                None
                if self.alignment_period_s is None
                else format_duration(self.alignment_period_s)
            ),
            "per_series_aligner": self.per_series_aligner,
            "cross_series_reducer": self.cross_series_reducer,
            "group_by_fields": list(self.group_by_fields),
        }


@dataclass(frozen=True)
class Trigger:
    """How many series must meet the condition: ``count`` or ``percent`` (exactly one)."""

    count: int | None = 1
    percent: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count} if self.percent is None else {"percent": self.percent}


@dataclass(frozen=True)
class Condition:
    """A ``MetricThreshold`` condition, validated."""

    filter: str
    aggregations: tuple[Aggregation, ...]
    comparison: str
    threshold_value: float
    duration_s: int
    trigger: Trigger = field(default_factory=Trigger)
    evaluation_missing_data: str = "EVALUATION_MISSING_DATA_INACTIVE"
    denominator_filter: str | None = None
    denominator_aggregations: tuple[Aggregation, ...] = ()
    display_name: str = ""

    @property
    def is_ratio(self) -> bool:
        return self.denominator_filter is not None

    @property
    def alignment_period_s(self) -> int:
        """The evaluation window of the condition (first aggregation's alignment period)."""
        if self.aggregations and self.aggregations[0].alignment_period_s:
            return self.aggregations[0].alignment_period_s
        return 60

    def to_dict(self) -> dict[str, Any]:
        """The catalog/API spelling (durations as ``"Ns"``)."""
        d: dict[str, Any] = {
            "filter": self.filter,
            "aggregations": [a.to_dict() for a in self.aggregations],
            "denominator_filter": self.denominator_filter,
            "denominator_aggregations": [a.to_dict() for a in self.denominator_aggregations],
            "comparison": self.comparison,
            "threshold_value": self.threshold_value,
            "duration": format_duration(self.duration_s),
            "trigger": self.trigger.to_dict(),
            "evaluation_missing_data": self.evaluation_missing_data,
        }
        if self.display_name:
            d["display_name"] = self.display_name
        return d


@dataclass(frozen=True)
class Policy:
    """One alert policy; ``conditions[0]`` is the primary condition (the catalog's
    ``condition``, or the first of ``conditions``): the one environment overrides, tuning and
    ``alert_overrides`` change. ``combiner`` is the API's: OR, AND, AND_WITH_MATCHING_RESOURCE
    (semantics in :mod:`ctscan_ops.alerting.engine.combine`)."""

    name: str
    display_name: str
    severity: str
    conditions: tuple[Condition, ...]
    auto_close_s: int | None
    combiner: str = "OR"
    runbook: str | None = None
    notify: tuple[str, ...] = ()
    environments: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    enabled: bool | None = None  # None: P0 enabled, P1/P2 shadow (disabled)
    environment: str | None = None  # set once resolved for an environment
    # per condition (same order as ``conditions``): its own ``environments`` overrides of
    # threshold_value / duration (e.g. the per-environment floor of a minimum-traffic guard)
    condition_environments: tuple[Mapping[str, Mapping[str, Any]], ...] = ()

    @property
    def condition(self) -> Condition:
        return self.conditions[0]

    @property
    def is_enabled(self) -> bool:
        return self.enabled if self.enabled is not None else self.severity == "P0"

    @property
    def content_hash(self) -> str:
        """Hash of everything that changes what the policy would do (for lineage/run keys)."""
        doc = {
            "name": self.name,
            "conditions": [c.to_dict() for c in self.conditions],
            "combiner": self.combiner,
            "auto_close_s": self.auto_close_s,
            "environment": self.environment,
        }
        raw = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class Catalog:
    """The parsed catalog."""

    catalog_version: int
    policies: Mapping[str, Policy]
    content_hash: str
    source: str = ""
    log_based_metrics: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # false pages a week a policy may cost before it is enabled (readiness), per severity
    false_page_budget_per_week: Mapping[str, float] = field(
        default_factory=lambda: dict.fromkeys(SEVERITIES, DEFAULT_FALSE_PAGE_BUDGET_PER_WEEK)
    )

    def false_page_budget(self, severity: str) -> float:
        """The false-page budget per week of a severity (default: one a week)."""
        return float(
            self.false_page_budget_per_week.get(severity, DEFAULT_FALSE_PAGE_BUDGET_PER_WEEK)
        )

    def policy(self, name: str) -> Policy:
        try:
            return self.policies[name]
        except KeyError:
            known = ", ".join(sorted(self.policies))
            raise CatalogError(f"unknown policy {name!r} (known: {known})") from None

    def resolve(
        self,
        name: str,
        environment: str,
        *,
        service_name: str | None = None,
        alert_overrides: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Policy:
        return resolve_policy(
            self.policy(name),
            environment,
            service_name=service_name,
            alert_overrides=alert_overrides,
        )

    def resolve_all(
        self,
        environment: str,
        *,
        service_name: str | None = None,
        alert_overrides: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> dict[str, Policy]:
        return {
            n: self.resolve(
                n, environment, service_name=service_name, alert_overrides=alert_overrides
            )
            for n in self.policies
        }


def _check_filter(text: Any, where: str, *, require_types: bool = True) -> str:
    if not isinstance(text, str) or not text.strip():
        raise CatalogError(f"{where}: must be a non-empty filter string")
    if len(text) > 2048:
        raise CatalogError(f"{where}: longer than the API limit of 2048 characters")
    try:
        flt = parse_filter(text)
    except FilterError as exc:
        raise CatalogError(f"{where}: {exc}") from None
    if require_types and (flt.metric_type is None or flt.resource_type is None):
        raise CatalogError(f'{where}: must name metric.type="..." and resource.type="..."')
    return text


def _parse_aggregations(raw: Any, where: str) -> tuple[Aggregation, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise CatalogError(f"{where}: must be a list of aggregations")
    out: list[Aggregation] = []
    for i, item in enumerate(raw):
        w = f"{where}[{i}]"
        if not isinstance(item, Mapping):
            raise CatalogError(f"{w}: must be a mapping")
        unknown = set(item) - {
            "alignment_period",
            "per_series_aligner",
            "cross_series_reducer",
            "group_by_fields",
        }
        if unknown:
            raise CatalogError(f"{w}: unknown field(s) {sorted(unknown)}")
        period = item.get("alignment_period")
        period_s = None if period is None else parse_duration(period, f"{w}.alignment_period")
        aligner = str(item.get("per_series_aligner") or "ALIGN_NONE")
        reducer = str(item.get("cross_series_reducer") or "REDUCE_NONE")
        if aligner not in ALIGNERS:
            raise CatalogError(
                f"{w}.per_series_aligner: unknown or unsupported aligner {aligner!r} "
                f"(supported: {', '.join(ALIGNERS)})"
            )
        if reducer not in REDUCERS:
            raise CatalogError(
                f"{w}.cross_series_reducer: unknown or unsupported reducer {reducer!r} "
                f"(supported: {', '.join(REDUCERS)})"
            )
        if i == 0:
            if aligner == "ALIGN_NONE":
                raise CatalogError(
                    f"{w}.per_series_aligner: alert conditions need an aligner (not ALIGN_NONE)"
                )
            if period_s is None:
                raise CatalogError(f"{w}.alignment_period: required with an aligner")
            if period_s < 60:
                raise CatalogError(
                    f"{w}.alignment_period: {period_s} s is below the 60 s minimum for alerting"
                )
        else:
            if aligner != "ALIGN_NONE":
                raise CatalogError(
                    f"{w}.per_series_aligner: only the first aggregation may align "
                    f"(got {aligner}); later aggregations only reduce"
                )
        groups = item.get("group_by_fields") or []
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise CatalogError(f"{w}.group_by_fields: must be a list of field names")
        for g in groups:
            if not re.fullmatch(r"(metric|resource)\.labels?\.[A-Za-z0-9_.\-]+", g):
                raise CatalogError(
                    f"{w}.group_by_fields: {g!r} is not metric.labels.KEY or resource.labels.KEY"
                )
        if groups and reducer == "REDUCE_NONE":
            raise CatalogError(f"{w}.group_by_fields: need a cross_series_reducer to group by")
        out.append(
            Aggregation(
                alignment_period_s=period_s,
                per_series_aligner=aligner,
                cross_series_reducer=reducer,
                group_by_fields=tuple(_canonical_group_field(g) for g in groups),
            )
        )
    return tuple(out)


def _canonical_group_field(g: str) -> str:
    """``metric.label.x`` and ``metric.labels.x`` name the same label."""
    kind, _, rest = g.partition(".")
    return f"{kind}.labels.{rest.split('.', 1)[1]}"


def _parse_trigger(raw: Any, where: str) -> Trigger:
    if raw is None:
        return Trigger()
    if not isinstance(raw, Mapping) or set(raw) - {"count", "percent"} or len(raw) != 1:
        raise CatalogError(f"{where}: must be {{count: N}} or {{percent: P}}")
    if "count" in raw:
        c = raw["count"]
        if isinstance(c, bool) or not isinstance(c, int) or c < 1:
            raise CatalogError(f"{where}.count: must be an integer >= 1, got {c!r}")
        return Trigger(count=c, percent=None)
    p = raw["percent"]
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0 < p <= 100:
        raise CatalogError(f"{where}.percent: must be in (0, 100], got {p!r}")
    return Trigger(count=None, percent=float(p))


def normalize_missing_data(mode: Any, where: str = "evaluation_missing_data") -> str:
    """API enum name for a missing-data mode (accepts CLI spellings inactive|active|no-op)."""
    if mode is None:
        return "EVALUATION_MISSING_DATA_NO_OP"
    m = str(mode).upper()
    if m in MISSING_DATA_MODES:
        return m
    if m in _MISSING_ALIASES:
        return _MISSING_ALIASES[m]
    raise CatalogError(
        f"{where}: unknown mode {mode!r} (supported: {', '.join(MISSING_DATA_MODES)})"
    )


def normalize_comparison(comparison: Any, where: str = "comparison") -> str:
    """``GT``/``COMPARISON_GT`` -> ``COMPARISON_GT``; anything else is rejected like the API."""
    c = str(comparison).upper()
    if not c.startswith("COMPARISON_"):
        c = "COMPARISON_" + c
    if c not in COMPARISONS:
        raise CatalogError(
            f"{where}: unsupported comparison {comparison!r} (Cloud Monitoring supports only "
            "COMPARISON_GT and COMPARISON_LT for metric thresholds)"
        )
    return c


def parse_condition(raw: Any, where: str = "condition") -> Condition:
    """Validate one condition mapping (catalog spelling) into a :class:`Condition`."""
    if not isinstance(raw, Mapping):
        raise CatalogError(f"{where}: must be a mapping")
    unknown = set(raw) - _CONDITION_KEYS
    if unknown:
        raise CatalogError(f"{where}: unknown field(s) {sorted(unknown)}")
    flt = _check_filter(raw.get("filter"), f"{where}.filter")
    aggs = _parse_aggregations(raw.get("aggregations"), f"{where}.aggregations")
    if not aggs:
        raise CatalogError(f"{where}.aggregations: at least one aggregation is required")
    den_filter = raw.get("denominator_filter")
    den_aggs = _parse_aggregations(
        raw.get("denominator_aggregations"), f"{where}.denominator_aggregations"
    )
    if den_filter is not None:
        _check_filter(den_filter, f"{where}.denominator_filter")
        if not den_aggs:
            raise CatalogError(f"{where}.denominator_aggregations: required for a ratio condition")
        p_num = aggs[0].alignment_period_s
        p_den = den_aggs[0].alignment_period_s
        if p_num != p_den:
            raise CatalogError(
                f"{where}.denominator_aggregations[0].alignment_period: ratio with mismatched "
                f"alignment periods ({p_num} s numerator vs {p_den} s denominator)"
            )
        num_groups = set(aggs[-1].group_by_fields)
        den_groups = set(den_aggs[-1].group_by_fields)
        if not den_groups <= num_groups:
            raise CatalogError(
                f"{where}.denominator_aggregations: group_by_fields {sorted(den_groups)} are not "
                f"a subset of the numerator's {sorted(num_groups)}; the series cannot be matched"
            )
    elif den_aggs:
        raise CatalogError(f"{where}.denominator_aggregations: given without a denominator_filter")
    comparison = normalize_comparison(raw.get("comparison"), f"{where}.comparison")
    thr = raw.get("threshold_value")
    if isinstance(thr, bool) or not isinstance(thr, int | float):
        raise CatalogError(f"{where}.threshold_value: must be a number, got {thr!r}")
    duration_s = parse_duration(raw.get("duration", "0s"), f"{where}.duration")
    if duration_s % 60:
        raise CatalogError(
            f"{where}.duration: {duration_s} s is not a multiple of 60 s (the API rejects it)"
        )
    return Condition(
        filter=flt,
        aggregations=aggs,
        comparison=comparison,
        threshold_value=float(thr),
        duration_s=duration_s,
        trigger=_parse_trigger(raw.get("trigger"), f"{where}.trigger"),
        evaluation_missing_data=normalize_missing_data(
            raw.get("evaluation_missing_data"), f"{where}.evaluation_missing_data"
        ),
        denominator_filter=den_filter,
        denominator_aggregations=den_aggs,
        display_name=str(raw.get("display_name") or ""),
    )


def _parse_overrides(raw: Any, where: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise CatalogError(f"{where}: must be a mapping")
    unknown = set(raw) - _OVERRIDE_KEYS
    if unknown:
        raise CatalogError(
            f"{where}: unknown override(s) {sorted(unknown)} (allowed: {sorted(_OVERRIDE_KEYS)})"
        )
    out: dict[str, Any] = {}
    if "threshold_value" in raw:
        thr = raw["threshold_value"]
        if isinstance(thr, bool) or not isinstance(thr, int | float):
            raise CatalogError(f"{where}.threshold_value: must be a number, got {thr!r}")
        out["threshold_value"] = float(thr)
    if "duration" in raw:
        d = parse_duration(raw["duration"], f"{where}.duration")
        if d % 60:
            raise CatalogError(f"{where}.duration: {d} s is not a multiple of 60 s")
        out["duration_s"] = d
    if "enabled" in raw:
        if not isinstance(raw["enabled"], bool):
            raise CatalogError(f"{where}.enabled: must be true or false")
        out["enabled"] = raw["enabled"]
    return out


def _parse_policy(name: str, raw: Any) -> Policy:
    where = f"policy {name!r}"
    if not isinstance(raw, Mapping):
        raise CatalogError(f"{where}: must be a mapping")
    unknown = set(raw) - _POLICY_KEYS
    if unknown:
        raise CatalogError(f"{where}: unknown field(s) {sorted(unknown)}")
    severity = raw.get("severity")
    if severity not in SEVERITIES:
        raise CatalogError(f"{where}: severity must be one of {SEVERITIES}, got {severity!r}")
    raw_conditions: list[tuple[Any, str]] = []
    if "condition" in raw and "conditions" in raw:
        raise CatalogError(f"{where}: give either condition or conditions, not both")
    if "condition" in raw:
        raw_conditions.append((raw["condition"], f"{where}: condition"))
    elif "conditions" in raw:
        listed = raw["conditions"]
        if not isinstance(listed, list) or not listed:
            raise CatalogError(f"{where}: conditions must be a non-empty list")
        raw_conditions += [(c, f"{where}: conditions[{i}]") for i, c in enumerate(listed)]
    else:
        raise CatalogError(f"{where}: condition (or conditions) is required")
    extra = raw.get("additional_conditions") or []
    if not isinstance(extra, list):
        raise CatalogError(f"{where}: additional_conditions must be a list")
    raw_conditions += [(c, f"{where}: additional_conditions[{i}]") for i, c in enumerate(extra)]
    if len(raw_conditions) > 6:
        raise CatalogError(f"{where}: at most 6 conditions per policy (API limit)")
    conditions = [parse_condition(c, w) for c, w in raw_conditions]
    cond_envs = tuple(_parse_condition_environments(c, w) for c, w in raw_conditions)
    combiner = str(raw.get("combiner") or "OR").upper()
    if combiner not in COMBINERS:
        raise CatalogError(
            f"{where}: combiner {combiner!r} is not supported (supported: {', '.join(COMBINERS)})"
        )
    auto_close = raw.get("auto_close")
    auto_close_s = (
        None if auto_close is None else parse_duration(auto_close, f"{where}: auto_close")
    )
    envs = raw.get("environments") or {}
    if not isinstance(envs, Mapping):
        raise CatalogError(f"{where}: environments must be a mapping")
    env_over: dict[str, dict[str, Any]] = {}
    for env, ov in envs.items():
        if env not in ENVIRONMENTS:
            raise CatalogError(
                f"{where}: environments: unknown environment {env!r} (known: {ENVIRONMENTS})"
            )
        env_over[env] = _parse_overrides(ov, f"{where}: environments.{env}")
    notify = raw.get("notify") or []
    if not isinstance(notify, list):
        raise CatalogError(f"{where}: notify must be a list of channel kinds")
    enabled = raw.get("enabled")
    if enabled is not None and not isinstance(enabled, bool):
        raise CatalogError(f"{where}: enabled must be true or false")
    return Policy(
        name=name,
        display_name=str(raw.get("display_name") or name),
        severity=severity,
        conditions=tuple(conditions),
        auto_close_s=auto_close_s,
        combiner=combiner,
        runbook=raw.get("runbook"),
        notify=tuple(str(n) for n in notify),
        environments=env_over,
        enabled=enabled,
        condition_environments=cond_envs,
    )


def _parse_condition_environments(raw: Any, where: str) -> dict[str, dict[str, Any]]:
    """A condition's own ``environments`` (threshold_value / duration per environment)."""
    envs = raw.get("environments") if isinstance(raw, Mapping) else None
    if envs is None:
        return {}
    if not isinstance(envs, Mapping):
        raise CatalogError(f"{where}.environments: must be a mapping")
    out: dict[str, dict[str, Any]] = {}
    for env, ov in envs.items():
        w = f"{where}.environments.{env}"
        if env not in ENVIRONMENTS:
            raise CatalogError(f"{w}: unknown environment {env!r} (known: {ENVIRONMENTS})")
        if isinstance(ov, Mapping) and set(ov) - _CONDITION_OVERRIDE_KEYS:
            raise CatalogError(
                f"{w}: unknown override(s) {sorted(set(ov) - _CONDITION_OVERRIDE_KEYS)} "
                f"(allowed per condition: {sorted(_CONDITION_OVERRIDE_KEYS)})"
            )
        out[str(env)] = _parse_overrides(ov, w)
    return out


def parse_catalog(doc: Any, source: str = "<catalog>") -> Catalog:
    """Validate a decoded catalog document."""
    if not isinstance(doc, Mapping):
        raise CatalogError(f"{source}: top level must be a mapping")
    version = doc.get("catalog_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise CatalogError(f"{source}: catalog_version must be an integer, got {version!r}")
    raw_policies = doc.get("policies")
    if not isinstance(raw_policies, Mapping) or not raw_policies:
        raise CatalogError(f"{source}: policies must be a non-empty mapping")
    policies: dict[str, Policy] = {}
    for name, raw in raw_policies.items():
        if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise CatalogError(f"{source}: policy key {name!r} must be snake_case")
        policies[name] = _parse_policy(name, raw)
    budget = _parse_false_page_budget(doc.get("false_page_budget_per_week"), source)
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str).encode()
    return Catalog(
        catalog_version=version,
        policies=policies,
        content_hash=hashlib.sha256(canonical).hexdigest()[:16],
        source=source,
        log_based_metrics=dict(doc.get("log_based_metrics") or {}),
        false_page_budget_per_week=budget,
    )


def _parse_false_page_budget(raw: Any, source: str) -> dict[str, float]:
    """``false_page_budget_per_week: {P0: .., P1: .., P2: ..}`` (optional; missing severities
    default to one false page a week). Each value a finite number > 0."""
    out = dict.fromkeys(SEVERITIES, DEFAULT_FALSE_PAGE_BUDGET_PER_WEEK)
    if raw is None:
        return out
    where = f"{source}: false_page_budget_per_week"
    if not isinstance(raw, Mapping):
        raise CatalogError(f"{where} must be a mapping of severity to false pages per week")
    for sev, value in raw.items():
        if sev not in SEVERITIES:
            raise CatalogError(f"{where}: unknown severity {sev!r} (allowed: {SEVERITIES})")
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value <= 0
        ):
            raise CatalogError(f"{where}.{sev}: must be a number > 0, got {value!r}")
        out[sev] = float(value)
    return out


def default_catalog_path() -> Path:
    """``$CTSCAN_ALERT_CATALOG`` or the repository's ``terraform/alert_policies.yaml``.

    For command-line entry points only: the rule lives in :mod:`ctscan_ops.config`, and the
    code location passes ``Settings.alert_catalog_path`` explicitly through its resources.
    """
    from ctscan_ops.config import alert_catalog_path_from_env

    return alert_catalog_path_from_env()


def load_catalog(path: str | os.PathLike[str] | None = None) -> Catalog:
    """Read and validate the catalog YAML (default: :func:`default_catalog_path`)."""
    p = Path(path) if path is not None else default_catalog_path()
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"{p}: cannot read catalog: {exc.strerror or exc}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise CatalogError(f"{p}:{line}: invalid YAML: {exc}") from None
    return parse_catalog(doc, str(p))


def load_alert_overrides(path: str | os.PathLike[str] | None) -> dict[str, dict[str, Any]]:
    """``alert_overrides`` of an ``alerts.auto.tfvars.json`` (``{}`` if there is none), validated.

    The one reader of the tuning output Terraform applies: used by the tuning (to merge into
    an existing file), by infra policy drift (what Terraform deploys) and the sandbox.
    """
    if path is None:
        return {}
    p = Path(path)
    if not p.exists():
        return {}
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CatalogError(f"{p}: line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    if not isinstance(doc, Mapping) or set(doc) - {"alert_overrides"}:
        raise CatalogError(f"{p}: must be an object with only the key 'alert_overrides'")
    over = doc.get("alert_overrides", {})
    if not isinstance(over, Mapping):
        raise CatalogError(f"{p}: alert_overrides must be an object of policy => settings")
    out: dict[str, dict[str, Any]] = {}
    for name, entry in over.items():
        where = f"{p}: alert_overrides.{name}"
        if not isinstance(entry, Mapping) or set(entry) - _OVERRIDE_KEYS:
            raise CatalogError(
                f"{where}: must be an object with keys among {sorted(_OVERRIDE_KEYS)}"
            )
        thr = entry.get("threshold_value")
        if thr is not None and (isinstance(thr, bool) or not isinstance(thr, int | float)):
            raise CatalogError(f"{where}.threshold_value: must be a number, got {thr!r}")
        if entry.get("duration") is not None:
            d = parse_duration(entry["duration"], f"{where}.duration")
            if d % 60:
                raise CatalogError(f"{where}.duration: {d} s is not a multiple of 60 s")
        en = entry.get("enabled")
        if en is not None and not isinstance(en, bool):
            raise CatalogError(f"{where}.enabled: must be true or false")
        out[str(name)] = dict(entry)
    return out


def substitute(text: str, variables: Mapping[str, str], where: str = "filter") -> str:
    """Replace ``${name}`` placeholders; an unknown placeholder is an error, not left in."""

    def repl(m: re.Match[str]) -> str:
        key = m.group(1)
        if key not in variables:
            raise CatalogError(f"{where}: no value for placeholder ${{{key}}}")
        return str(variables[key])

    return _PLACEHOLDER.sub(repl, text)


def resolve_policy(
    policy: Policy,
    environment: str,
    *,
    service_name: str | None = None,
    alert_overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Policy:
    """The policy as deployed in ``environment`` (see module docstring for the order)."""
    if environment not in ENVIRONMENTS:
        raise CatalogError(f"environment {environment!r} is not one of {ENVIRONMENTS}")
    variables = {
        "service_name": service_name or SERVICE_NAMES[environment],
        "environment": environment,
    }
    over = dict(policy.environments.get(environment, {}))
    if alert_overrides and policy.name in alert_overrides:
        over.update(
            _parse_overrides(alert_overrides[policy.name], f"alert_overrides[{policy.name!r}]")
        )
    conditions = []
    for i, cond in enumerate(policy.conditions):
        where = f"policy {policy.name!r}: condition[{i}]"
        c = replace(
            cond,
            filter=substitute(cond.filter, variables, f"{where}.filter"),
            denominator_filter=(
                None
                if cond.denominator_filter is None
                else substitute(cond.denominator_filter, variables, f"{where}.denominator_filter")
            ),
        )
        cond_over = (
            policy.condition_environments[i].get(environment, {})
            if i < len(policy.condition_environments)
            else {}
        )
        if "threshold_value" in cond_over:
            c = replace(c, threshold_value=cond_over["threshold_value"])
        if "duration_s" in cond_over:
            c = replace(c, duration_s=cond_over["duration_s"])
        if i == 0:
            if "threshold_value" in over:
                c = replace(c, threshold_value=over["threshold_value"])
            if "duration_s" in over:
                c = replace(c, duration_s=over["duration_s"])
        conditions.append(c)
    return replace(
        policy,
        conditions=tuple(conditions),
        enabled=over.get("enabled", policy.enabled),
        environment=environment,
    )
