"""Daily drift report: Evidently 0.7.23 ``DataDriftPreset`` plus a small summary for metadata.

Evidently takes seconds to import, so it is imported inside :func:`run_drift_report` only.

Decisions, per column, are Evidently's own (its per-column ``ValueDrift`` tests, defaults chosen
from the reference size: <= 1000 reference rows -> K-S / chi-square / Z-test with p < 0.05;
more -> normed Wasserstein / Jensen-Shannon distance >= 0.1). The **dataset** decision follows
the alert policy ``data_drift`` in ``terraform/alert_policies.yaml`` (the one source of truth):
it fires when ``drift_share <comparison> threshold`` (``COMPARISON_GT``, 0.30), which is exactly
what Cloud Monitoring will evaluate on the published ``drift_share`` metric. Evidently's own
preset test says "share < drift_share", so the two disagree only when the share equals the
threshold exactly; the summary reports both.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ctscan_ops.drift.features import FEATURE_COLUMNS

DRIFT_POLICY = "data_drift"
# Used only when the catalog has no data_drift policy (or no catalog file exists yet): the
# original project's 30% share from its drift workflow / the P1 ">30% of features" alert.
FALLBACK_THRESHOLD = 0.30
FALLBACK_COMPARISON = "COMPARISON_GT"

DEFAULT_NUMERICAL: tuple[str, ...] = (*FEATURE_COLUMNS, "pred_conf")
DEFAULT_CATEGORICAL: tuple[str, ...] = ("pred_class",)


class SchemaMismatchError(ValueError):
    """Reference and current data do not have the columns/types the report needs."""


@dataclass(frozen=True)
class DriftThreshold:
    value: float
    comparison: str  # COMPARISON_GT | COMPARISON_LT, as in the catalog
    source: str  # where the value came from (catalog path + policy, or "fallback")

    def fires(self, share: float) -> bool:
        return share > self.value if self.comparison == "COMPARISON_GT" else share < self.value


def drift_threshold(
    environment: str = "prod", catalog_path: str | Path | None = None
) -> DriftThreshold:
    """The ``data_drift`` policy's threshold for ``environment`` (overrides applied).

    Falls back to 0.30 / GT only if the catalog file or the policy does not exist; a catalog
    that exists but does not parse is an error (silently alerting on a default would hide it).
    """
    from ctscan_ops.alerting.catalog import default_catalog_path, load_catalog

    path = Path(catalog_path) if catalog_path is not None else default_catalog_path()
    if not path.exists():
        return DriftThreshold(FALLBACK_THRESHOLD, FALLBACK_COMPARISON, "fallback: no catalog")
    catalog = load_catalog(path)
    if DRIFT_POLICY not in catalog.policies:
        return DriftThreshold(
            FALLBACK_THRESHOLD, FALLBACK_COMPARISON, f"fallback: no {DRIFT_POLICY} in {path}"
        )
    cond = catalog.resolve(DRIFT_POLICY, environment).condition
    return DriftThreshold(
        float(cond.threshold_value), str(cond.comparison), f"{path}#{DRIFT_POLICY}"
    )


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    kind: str  # numerical | categorical
    method: str  # Evidently's method name, e.g. "K-S p_value"
    score: float  # p-value or distance, per method
    threshold: float
    drifted: bool


@dataclass(frozen=True)
class DriftSummary:
    reference_rows: int
    current_rows: int
    columns: tuple[ColumnDrift, ...]
    drift_share: float
    threshold: float
    comparison: str
    threshold_source: str
    dataset_drift: bool  # the alert policy's decision on drift_share
    evidently_share: float  # DriftedColumnsCount.share, for cross-checking
    dropped_rows: Mapping[str, int] = field(default_factory=dict)  # non-finite rows dropped

    @property
    def drifted_columns(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]

    @property
    def n_drifted(self) -> int:
        return len(self.drifted_columns)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["columns"] = [asdict(c) for c in self.columns]
        d["drifted_columns"] = self.drifted_columns
        d["n_drifted"] = self.n_drifted
        d["dropped_rows"] = dict(self.dropped_rows)
        return d

    def markdown_table(self, top: int | None = None) -> str:
        """Per-column method and score, drifted first; ``top`` limits the rows (metadata size)."""
        rows = sorted(self.columns, key=lambda c: (not c.drifted, c.column))
        if top is not None:
            rows = rows[:top]
        lines = ["| column | drifted | method | score | threshold |", "|---|---|---|---|---|"]
        for c in rows:
            lines.append(
                f"| {c.column} | {'**yes**' if c.drifted else 'no'} | {c.method} "
                f"| {c.score:.4g} | {c.threshold:g} |"
            )
        return "\n".join(lines)


@dataclass(frozen=True)
class DriftReport:
    summary: DriftSummary
    html: bytes | None
    json: bytes


def check_schema(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numerical: Sequence[str],
    categorical: Sequence[str],
) -> None:
    """Raise :class:`SchemaMismatchError` naming every missing or mistyped column."""
    needed = [*numerical, *categorical]
    problems = []
    for name, df in (("reference", reference), ("current", current)):
        missing = [c for c in needed if c not in df.columns]
        if missing:
            problems.append(f"{name} lacks columns {missing}")
        bad = [
            f"{c} ({df[c].dtype})"
            for c in numerical
            if c in df.columns and not pd.api.types.is_numeric_dtype(df[c])
        ]
        if bad:
            problems.append(f"{name} has non-numeric numerical columns {bad}")
    if problems:
        extra_cur = sorted(set(current.columns) - set(reference.columns))
        extra_ref = sorted(set(reference.columns) - set(current.columns))
        raise SchemaMismatchError(
            "drift report schema mismatch: "
            + "; ".join(problems)
            + f" (only in current: {extra_cur}; only in reference: {extra_ref})"
        )


def _finite_rows(df: pd.DataFrame, numerical: Sequence[str]) -> pd.Series:
    values = df[list(numerical)].to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.Series(np.isfinite(values).all(axis=1), index=df.index)


def summarize_snapshot(
    snapshot: Mapping[str, Any],
    reference_rows: int,
    current_rows: int,
    categorical: Sequence[str],
    threshold: DriftThreshold,
    dropped_rows: Mapping[str, int] | None = None,
) -> DriftSummary:
    """Pull per-column results out of ``Snapshot.dict()`` (pure; testable on a dict).

    A column is drifted when its ValueDrift test failed; without tests, by its method: a
    p-value below the threshold or a distance at or above it (Evidently's rule).
    """
    test_status: dict[str, str] = {}
    for t in snapshot.get("tests", []):
        metric_id = t.get("metric_config", {}).get("metric_id")
        if metric_id and t.get("id") == "drift":
            status = t.get("status")
            test_status[metric_id] = str(getattr(status, "value", status))  # enum in .dict()
    columns: list[ColumnDrift] = []
    evidently_share = math.nan
    for m in snapshot.get("metrics", []):
        cfg = m.get("config", {})
        kind = cfg.get("type", "")
        if kind.endswith("DriftedColumnsCount"):
            evidently_share = float(m["value"]["share"])
        elif kind.endswith("ValueDrift"):
            method = str(cfg.get("method"))
            score = float(m["value"])
            thr = float(cfg.get("threshold"))
            if m.get("id") in test_status:
                drifted = test_status[m["id"]] == "FAIL"
            elif "p_value" in method:
                drifted = score < thr
            else:
                drifted = score >= thr
            col = str(cfg["column"])
            kind_name = "categorical" if col in categorical else "numerical"
            columns.append(ColumnDrift(col, kind_name, method, score, thr, drifted))
    if not columns:
        raise ValueError("Evidently snapshot has no ValueDrift results: nothing was compared")
    share = sum(c.drifted for c in columns) / len(columns)
    return DriftSummary(
        reference_rows=reference_rows,
        current_rows=current_rows,
        columns=tuple(columns),
        drift_share=share,
        threshold=threshold.value,
        comparison=threshold.comparison,
        threshold_source=threshold.source,
        dataset_drift=threshold.fires(share),
        evidently_share=evidently_share,
        dropped_rows=dict(dropped_rows or {}),
    )


def run_drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numerical: Sequence[str] = DEFAULT_NUMERICAL,
    categorical: Sequence[str] = DEFAULT_CATEGORICAL,
    threshold: DriftThreshold | None = None,
    *,
    with_html: bool = True,
    timestamp: datetime | None = None,
) -> DriftReport:
    """Run Evidently's drift preset (with per-column tests) on ``current`` vs ``reference``.

    Rows with NaN/inf in a numerical column are dropped and counted (the original API did the
    same, silently). Raises :class:`SchemaMismatchError` if columns are missing or mistyped, and
    ``ValueError`` if either side has no usable rows.
    """
    threshold = threshold or DriftThreshold(FALLBACK_THRESHOLD, FALLBACK_COMPARISON, "argument")
    check_schema(reference, current, numerical, categorical)
    used = [*numerical, *categorical]
    dropped = {}
    frames = {}
    for name, df in (("reference", reference), ("current", current)):
        ok = _finite_rows(df, numerical) & df[list(categorical)].notna().all(axis=1)
        dropped[name] = int((~ok).sum())
        frames[name] = df.loc[ok, used].reset_index(drop=True)
        if frames[name].empty:
            raise ValueError(f"drift report: {name} has no usable rows ({len(df)} before cleaning)")
    for c in categorical:
        for name in frames:
            frames[name][c] = frames[name][c].astype(str)

    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(
        numerical_columns=list(numerical), categorical_columns=list(categorical)
    )
    report = Report([DataDriftPreset(drift_share=threshold.value)], include_tests=True)
    with warnings.catch_warnings():
        # constant columns (height/width) make Evidently's correlation widgets divide by zero
        warnings.simplefilter("ignore", RuntimeWarning)
        snapshot = report.run(
            Dataset.from_pandas(frames["current"], data_definition=definition),
            Dataset.from_pandas(frames["reference"], data_definition=definition),
            timestamp=timestamp,
        )
        html = snapshot.get_html_str(as_iframe=False).encode("utf-8") if with_html else None
    summary = summarize_snapshot(
        snapshot.dict(),
        reference_rows=len(frames["reference"]),
        current_rows=len(frames["current"]),
        categorical=categorical,
        threshold=threshold,
        dropped_rows=dropped,
    )
    return DriftReport(summary=summary, html=html, json=snapshot.json().encode("utf-8"))
