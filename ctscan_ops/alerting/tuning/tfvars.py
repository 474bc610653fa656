"""Tuning output for Terraform: ``environments/<env>/alerts.auto.tfvars.json`` (no Dagster).

The file holds one variable, ``alert_overrides`` (shape in CONTRIBUTING.md and
``terraform/modules/monitoring/catalog/variables.tf``)::

    {"alert_overrides": {"high_latency": {"threshold_value": 1800, "duration": "180s",
                                           "enabled": true}}}

Rules (why: a human reviews and applies it; this module never runs Terraform):

* every policy with a recommendation gets its recommended ``threshold_value`` and ``duration``,
  so shadow evaluation continues with the tuned values even while the policy stays disabled;
* ``enabled: true`` is written only for policies whose verdict is ``ready`` (held-out figures meet
  target over >= 7 days, see :mod:`ctscan_ops.alerting.tuning.recommend`). A policy that is not
  ready keeps whatever ``enabled`` the existing file had: the tool never silently disables what a
  human enabled, it flags it in the diff instead;
* entries for policies that were not tuned, or got no recommendation, are kept as they were;
* a recommendation for a P0 policy is never written (P0 pages: a human decides from the
  evidence); the diff lists it as "for a human to decide";
* the file is written atomically (temp file in the same directory, fsync, rename), so a reader
  sees the old or the new file, never half of one; an unchanged document is not rewritten.

The markdown diff compares the values Terraform would deploy now (catalog base, catalog
``environments.<env>``, then the existing file) with the proposed ones.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ctscan_ops.alerting.catalog import (
    ENVIRONMENTS,
    Catalog,
    CatalogError,
    format_duration,
    load_alert_overrides,
)

TFVARS_NAME = "alerts.auto.tfvars.json"


class TfvarsError(ValueError):
    """An unreadable or malformed tfvars file (names the file and the problem)."""


@dataclass(frozen=True)
class PolicyRecommendation:
    """What tuning concluded for one policy."""

    policy: str
    threshold_value: float | None  # None: no recommendation
    duration_s: int | None
    ready: bool
    note: str = ""  # readiness reasons / why no recommendation
    severity: str | None = None  # P0: never written, for a human to decide


def tfvars_path(terraform_dir: str | os.PathLike[str], environment: str) -> Path:
    """``<terraform_dir>/environments/<env>/alerts.auto.tfvars.json``."""
    if environment not in ENVIRONMENTS:
        raise TfvarsError(f"environment {environment!r} is not one of {ENVIRONMENTS}")
    return Path(terraform_dir) / "environments" / environment / TFVARS_NAME


def read_overrides(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """``alert_overrides`` of an existing file (``{}`` if there is none); validated by the
    catalog module's reader (:func:`ctscan_ops.alerting.catalog.load_alert_overrides`)."""
    try:
        return load_alert_overrides(path)
    except CatalogError as exc:
        raise TfvarsError(str(exc)) from None


def _number(x: float) -> int | float:
    """Integral thresholds as integers (``2000`` rather than ``2000.0``) for a clean diff."""
    return int(x) if float(x).is_integer() and abs(x) < 2**53 else float(x)


def propose_overrides(
    existing: Mapping[str, Mapping[str, Any]],
    recommendations: list[PolicyRecommendation],
) -> dict[str, dict[str, Any]]:
    """The new ``alert_overrides`` (see module docstring for the rules)."""
    out = {k: dict(v) for k, v in existing.items()}
    for rec in recommendations:
        if rec.threshold_value is None or rec.duration_s is None or rec.severity == "P0":
            continue
        entry = dict(out.get(rec.policy, {}))
        entry["threshold_value"] = _number(rec.threshold_value)
        entry["duration"] = format_duration(rec.duration_s)
        if rec.ready:
            entry["enabled"] = True
        out[rec.policy] = entry
    return {k: out[k] for k in sorted(out)}


def _deployed(
    catalog: Catalog, environment: str, overrides: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Per policy: threshold, duration and enablement Terraform would deploy."""
    out = {}
    for name in catalog.policies:
        pol = catalog.resolve(name, environment, alert_overrides=overrides)
        if pol.enabled is not None:
            enabled: str = "on" if pol.enabled else "off"
        else:
            enabled = "on" if pol.severity == "P0" else "shadow (enable_p1_p2_alerts)"
        out[name] = {
            "threshold_value": _number(pol.condition.threshold_value),
            "duration": format_duration(pol.condition.duration_s),
            "enabled": enabled,
        }
    return out


def diff_markdown(
    catalog: Catalog,
    environment: str,
    existing: Mapping[str, Mapping[str, Any]],
    proposed: Mapping[str, Mapping[str, Any]],
    recommendations: list[PolicyRecommendation],
) -> str:
    """A reviewable markdown diff of what Terraform would deploy before and after."""
    before = _deployed(catalog, environment, existing)
    after = _deployed(catalog, environment, proposed)
    notes = {r.policy: r for r in recommendations}
    lines = [
        f"### Alert overrides for `{environment}` (`environments/{environment}/{TFVARS_NAME}`)",
        "",
        "| policy | setting | current | proposed | why |",
        "|---|---|---|---|---|",
    ]
    changed = 0
    for name in sorted(before):
        rec = notes.get(name)
        for key in ("threshold_value", "duration", "enabled"):
            a, b = before[name][key], after[name][key]
            if a == b:
                continue
            changed += 1
            why = (
                "ready: held-out figures meet target, 95 % bound within budget"
                if key == "enabled"
                else "tuned"
            )
            lines.append(f"| `{name}` | {key} | {a} | **{b}** | {why} |")
        if rec is None:
            continue
        if rec.severity == "P0" and rec.threshold_value is not None:
            lines.append(
                f"| `{name}` | threshold_value, duration | {before[name]['threshold_value']}, "
                f"{before[name]['duration']} | unchanged | P0: recommended "
                f"{_number(rec.threshold_value)} for {format_duration(rec.duration_s or 0)}, "
                "for a human to decide (never applied automatically) |"
            )
        elif rec.threshold_value is None:
            lines.append(f"| `{name}` | - | - | unchanged | no recommendation: {rec.note} |")
        elif not rec.ready and existing.get(name, {}).get("enabled") is True:
            lines.append(
                f"| `{name}` | enabled | on | on (kept) | **warning**: enabled by an existing "
                f"override but not ready now: {rec.note} |"
            )
        elif not rec.ready:
            lines.append(f"| `{name}` | enabled | - | unchanged | not ready: {rec.note} |")
    if changed == 0:
        lines.append("| - | - | - | - | no change to deployed values |")
    lines += ["", "Nothing is applied: review, then `terraform plan` / `apply` by hand."]
    return "\n".join(lines) + "\n"


def render(overrides: Mapping[str, Mapping[str, Any]]) -> str:
    """Canonical file text (sorted keys, 2-space indent, trailing newline)."""
    return json.dumps({"alert_overrides": overrides}, indent=2, sort_keys=True) + "\n"


def write_atomic(path: str | os.PathLike[str], text: str) -> bool:
    """Write ``text`` to ``path`` atomically; returns False (and writes nothing) if unchanged."""
    p = Path(path)
    if p.exists() and p.read_text(encoding="utf-8") == text:
        return False
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


@dataclass(frozen=True)
class TfvarsUpdate:
    """Result of :func:`update_tfvars`."""

    path: Path
    overrides: dict[str, dict[str, Any]]
    diff_markdown: str
    written: bool


def update_tfvars(
    catalog: Catalog,
    environment: str,
    terraform_dir: str | os.PathLike[str],
    recommendations: list[PolicyRecommendation],
    *,
    write: bool = True,
) -> TfvarsUpdate:
    """Read the current file, propose the new overrides, diff, and (optionally) write."""
    unknown = [r.policy for r in recommendations if r.policy not in catalog.policies]
    if unknown:
        raise TfvarsError(f"recommendations name policies not in the catalog: {unknown}")
    # the catalog's word on severity wins: a P0 is never written, whatever the caller said
    recommendations = [
        r
        if r.severity == catalog.policies[r.policy].severity
        else replace(r, severity=catalog.policies[r.policy].severity)
        for r in recommendations
    ]
    path = tfvars_path(terraform_dir, environment)
    existing = read_overrides(path)
    proposed = propose_overrides(existing, recommendations)
    # validates the proposal the way Terraform's catalog module would resolve it
    diff = diff_markdown(catalog, environment, existing, proposed, recommendations)
    written = write_atomic(path, render(proposed)) if write else False
    return TfvarsUpdate(path, proposed, diff, written)


def recommendation_from_doc(policy: str, doc: Mapping[str, Any]) -> PolicyRecommendation:
    """The tfvars input for one policy from its tuning document (:func:`tuning.tune`)."""
    rec = doc.get("recommended") or {}
    verdict = doc.get("readiness") or {}
    reasons = "; ".join(verdict.get("reasons") or [])
    note = rec.get("reason") or reasons
    severity = doc.get("severity")
    return PolicyRecommendation(
        policy=policy,
        threshold_value=rec.get("threshold"),
        duration_s=rec.get("duration_s"),
        ready=(
            verdict.get("verdict") == "ready"
            and rec.get("threshold") is not None
            and severity != "P0"
        ),
        note=note or "",
        severity=severity,
    )
