"""The operator's view of ``alert_quality``: per policy and environment rows, readiness per policy.

Pure: reads ``alert_quality``'s result rows (as stored in its JSON report) and returns plain
records; ``alerting/assets.py`` and ``alerting/readiness_checks.py`` wrap them in Dagster types.
Readiness is whatever :func:`ctscan_ops.alerting.shadow.readiness.readiness` returned: a string
(``ready`` / ``not ready: why`` / ``not enough data (...)``) or a mapping with a verdict, a
reason and further figures (e.g. confidence bounds), which become extra columns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ctscan_ops.common.view import Column, Scalar, rounded, union_columns

QUALITY_COLUMNS: tuple[Column, ...] = (
    Column("env", "string", "environment"),
    Column("policy", "string", "catalog policy name"),
    Column("settings", "string", "catalog, or deployed (settings found in the Terraform state)"),
    Column("sev", "string", "P0 always enabled; P1/P2 in shadow mode until ready"),
    # the verdict first: it is what the operator comes for; the figures behind it follow
    Column("readiness", "string", "ready / not ready / not enough data"),
    Column("reason", "string", "why not ready (empty when ready)"),
    Column("FDR", "float", "false discovery rate: false incidents / incidents"),
    Column("false/day", "float", "false incidents per day of shadow data"),
    Column("recall", "float", "labelled incidents detected / labelled incidents"),
    Column("detect s", "float", "median seconds from incident start to the alert"),
    Column("alerts", "int", "incidents the policy would have opened"),
)

#: the per-environment tables on the asset page: the environment is in the metadata key and a
#: deployed variant is marked in the policy cell, which keeps the table narrow enough to be
#: read without scrolling next to the UI's definition panel
ENV_TABLE_COLUMNS: tuple[Column, ...] = tuple(
    c for c in QUALITY_COLUMNS if c.name not in ("env", "settings")
)


def readiness_fields(value: Any) -> dict[str, Scalar]:
    """``{"readiness": verdict, "reason": why, **figures}`` from the readiness module's output."""
    if isinstance(value, Mapping):
        verdict = value.get("verdict", value.get("status", value.get("readiness", "")))
        reason = value.get("reason", value.get("reasons", ""))
        if isinstance(reason, list | tuple):
            reason = "; ".join(str(r) for r in reason)
        out: dict[str, Scalar] = {"readiness": str(verdict), "reason": str(reason or "")}
        for key, v in value.items():
            if key in ("verdict", "status", "readiness", "reason", "reasons"):
                continue
            if (
                isinstance(v, list | tuple)
                and len(v) == 2
                and all(isinstance(x, int | float) for x in v)
            ):
                out[key] = f"[{rounded(v[0])}, {rounded(v[1])}]"
            elif v is None or isinstance(v, str | int | float | bool):
                out[key] = rounded(v)
        return out
    text = str(value)
    for sep in (": ", " ("):
        if sep in text:
            head, tail = text.split(sep, 1)
            return {"readiness": head, "reason": tail.rstrip(")") if sep == " (" else tail}
    return {"readiness": text, "reason": ""}


def is_ready(value: Any) -> bool:
    """True when the readiness verdict is exactly ``ready``."""
    return readiness_fields(value)["readiness"] == "ready"


def quality_records(results: Sequence[Mapping[str, Any]]) -> list[dict[str, Scalar]]:
    """One record per (environment, policy, settings variant), columns as ``QUALITY_COLUMNS``."""
    records = []
    for r in results:
        q = r["quality"]
        records.append(
            {
                "env": r["environment"],
                "policy": r["policy"],
                "settings": r.get("variant", "catalog"),
                "sev": r["severity"],
                "alerts": q["incidents"],
                "FDR": rounded(q["false_discovery_rate"]),
                "false/day": rounded(q["false_alerts_per_day"]),
                "recall": rounded(q["recall"]),
                "detect s": rounded(q["median_detection_s"]),
                **readiness_fields(r["readiness"]),
                **uncertainty_fields(r.get("readiness_detail")),
            }
        )
    return records


def uncertainty_fields(detail: Mapping[str, Any] | None) -> dict[str, Scalar]:
    """How firm a verdict is (``readiness.assess``): a short reason for the table (the full
    sentences stay in the report JSON and the ``ready_<policy>`` checks), the FDR's 95 %
    interval and the shadow days still needed; nothing when the row has no detail."""
    if not detail:
        return {}
    ci = detail.get("fdr_interval")
    return {
        "reason": short_reason(detail),
        "FDR 95% CI": "" if not ci else f"[{rounded(ci[0])}, {rounded(ci[1])}]",
        "days to firm": detail.get("days_to_firm_verdict"),
    }


def short_reason(detail: Mapping[str, Any]) -> str:
    """One short line for a table cell: what keeps the verdict from ``ready``."""
    verdict = detail.get("verdict")
    if verdict == "ready":
        return ""
    if verdict == "provisional":
        bits = []
        upper, budget = (
            detail.get("false_alerts_per_week_upper"),
            detail.get("false_page_budget_per_week"),
        )
        if upper is not None and budget is not None and upper > budget:
            bits.append(f"false alerts/wk <= {upper:.2f} (95 %) > budget {budget:g}")
        labelled = detail.get("labelled_incidents")
        if labelled is not None and labelled < 3:
            bits.append(f"{labelled} labelled incident(s) < 3")
        return "; ".join(bits) or "; ".join(detail.get("reasons") or [])
    return "; ".join(str(r) for r in detail.get("reasons") or [])


def quality_columns(records: Sequence[Mapping[str, Any]]) -> list[Column]:
    """``QUALITY_COLUMNS`` plus the extra readiness figures the records carry."""
    return union_columns(QUALITY_COLUMNS, records)


def quality_tables(results: Sequence[Mapping[str, Any]]) -> dict[str, list[dict[str, Scalar]]]:
    """Per environment (in first-seen order) its rows, ``ENV_TABLE_COLUMNS`` plus extras."""
    tables: dict[str, list[dict[str, Scalar]]] = {}
    for record in quality_records(results):
        row = {k: v for k, v in record.items() if k not in ("env", "settings")}
        if record["settings"] != "catalog":
            row["policy"] = f"{record['policy']} ({record['settings']})"
        tables.setdefault(str(record["env"]), []).append(row)
    return tables


def env_table_columns(rows: Sequence[Mapping[str, Any]]) -> list[Column]:
    """``ENV_TABLE_COLUMNS`` plus the extra readiness figures the rows carry."""
    return union_columns(ENV_TABLE_COLUMNS, rows)


def readiness_by_policy(results: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per catalog policy: ``passed`` (ready in every environment), a one-line summary, rows.

    Deployed variants are left out: they show what production pages on, they are not
    candidates for enabling.
    """
    out: dict[str, dict[str, Any]] = {}
    for record, r in zip(quality_records(results), results, strict=True):
        if record["settings"] != "catalog":
            continue
        entry = out.setdefault(r["policy"], {"severity": r["severity"], "rows": []})
        entry["rows"].append(record)
    for entry in out.values():
        rows = entry["rows"]
        ready = [str(x["env"]) for x in rows if x["readiness"] == "ready"]
        not_ready = [x for x in rows if x["readiness"] != "ready"]
        entry["passed"] = bool(rows) and not not_ready
        parts = [f"ready in {', '.join(ready)}"] if ready else []
        parts += [
            f"{x['env']}: {x['readiness']}" + (f" ({x['reason']})" if x["reason"] else "")
            for x in not_ready
        ]
        entry["summary"] = "; ".join(parts) or "no environment evaluated"
    return out
