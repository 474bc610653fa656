"""Threshold-tuning output as a reviewable change in the artifact store (no Dagster).

Why: a tfvars file written inside the serving process's checkout is reviewed by no one and
vanishes with the pod. A proposal instead leaves the process as three files a human turns into
a pull request (``ctscan-ops alerts propose ENV --apply DIR`` writes it into a working tree)::

    <artifact store>/alerting/proposals/<env>/<report-id>/
        alerts.auto.tfvars.json   the proposed file, complete (terraform/environments/<env>/...)
        change.patch              unified diff against the base file (``git apply`` at repo root)
        PR.md                     pull-request description: the evidence (held-out figures,
                                  readiness verdicts), the deployed-values diff, links
        proposal.json             manifest, written LAST: a proposal without it is incomplete
                                  and never listed (so a crash never leaves half a proposal)

``report-id`` is ``YYYYMMDDTHHMMSSZ-<sha8 of the proposed file>``: ids sort by creation time,
so the latest proposal is the greatest id that has a manifest. The manifest records the sha256
of the *base* file the patch was computed against; applying refuses when the target file in the
working tree no longer has that content (someone changed it since: re-tune, don't clobber).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from ctscan_ops.alerting.tuning.tfvars import TFVARS_NAME, write_atomic

PROPOSALS_KEY = "alerting/proposals"
MANIFEST = "proposal.json"
PATCH = "change.patch"
PR_MD = "PR.md"
ABSENT = "absent"  # base_sha256 when the target file did not exist
_REPORT_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$")
_EVIDENCE_KEYS = (
    "false_discovery_rate",
    "precision",
    "recall",
    "false_alerts_per_day",
    "median_detection_s",
    "labelled_incidents",
    "incidents",
    "days",
)


class ProposalError(ValueError):
    """No such proposal, or a malformed one (names the object)."""


class ProposalConflict(ProposalError):
    """The target file changed since the proposal was made."""


class ObjectStore(Protocol):
    """What a proposal needs of the artifact store (``resources.storage.ArtifactStore``)."""

    def put_bytes(self, key: str, data: bytes, content_type: str = ...) -> str: ...
    def get_bytes(self, key: str) -> bytes: ...
    def list_keys(self, prefix: str = "") -> list[str]: ...
    def uri(self, key: str) -> str: ...


def target_path(environment: str) -> str:
    """Repository-relative path of the file a proposal changes."""
    return f"terraform/environments/{environment}/{TFVARS_NAME}"


def content_sha256(text: str | None) -> str:
    return ABSENT if text is None else hashlib.sha256(text.encode("utf-8")).hexdigest()


def make_report_id(created_at: datetime, proposed_text: str) -> str:
    stamp = created_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{content_sha256(proposed_text)[:8]}"


def unified_patch(environment: str, base_text: str | None, proposed_text: str) -> str:
    """A ``git apply``-able patch (paths relative to the repository root); "" if no change."""
    if base_text == proposed_text:
        return ""
    path = target_path(environment)
    lines = difflib.unified_diff(
        (base_text or "").splitlines(keepends=True),
        proposed_text.splitlines(keepends=True),
        fromfile="/dev/null" if base_text is None else f"a/{path}",
        tofile=f"b/{path}",
    )
    return "".join(lines)


def evidence(docs: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per policy, the figures a reviewer needs: settings, held-out quality, verdict."""
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(docs):
        d = docs[name]
        holdout = d.get("holdout") or {}
        verdict = d.get("readiness") or {}
        out[name] = {
            "current": d.get("current"),
            "recommended": d.get("recommended"),
            "holdout": {k: holdout.get(k) for k in _EVIDENCE_KEYS if k in holdout},
            "holdout_window": d.get("holdout_window"),
            "verdict": verdict.get("verdict"),
            "reasons": list(verdict.get("reasons") or []),
        }
        if d.get("severity"):
            out[name]["severity"] = d["severity"]
            out[name]["for_a_human_to_decide"] = d["severity"] == "P0"  # never in the file
        if (verdict.get("evidence") or {}).get("verdict"):
            ev = verdict["evidence"]
            out[name]["intervals"] = {
                k: ev.get(k)
                for k in (
                    "fdr_interval",
                    "false_alerts_per_day_interval",
                    "false_alerts_per_week_upper",
                    "false_page_budget_per_week",
                    "days_to_firm_verdict",
                )
            }
        if d.get("rejected"):
            out[name]["rejected"] = {
                "threshold": d["rejected"].get("threshold"),
                "duration_s": d["rejected"].get("duration_s"),
                "reasons": list(d["rejected"].get("reasons") or []),
            }
    return out


def pr_description(
    *,
    environment: str,
    report_id: str,
    report_markdown: str,
    diff_markdown: str,
    days: list[str],
    catalog_hash: str,
    links: Mapping[str, str] | None = None,
    docs: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """Markdown for the pull request: what changes, why (figures), how to apply; P0
    recommendations are listed for a human to decide (they are never in the file)."""
    window = f"{days[0]} .. {days[-1]} ({len(days)} days)" if days else "-"
    lines = [
        f"# Alert thresholds for `{environment}` (tuning report `{report_id}`)",
        "",
        f"Proposed by ctscan_ops `threshold_tuning_report` from shadow-mode data {window}; "
        f"alert policy catalog `{catalog_hash[:12]}`. Changes "
        f"`{target_path(environment)}` only. Nothing is applied until this is merged and "
        "`terraform plan` / `apply` run in CI.",
        "",
        "## What Terraform would deploy, before and after",
        "",
        diff_markdown.strip(),
        "",
        "## Evidence (held-out part of the window, not used for tuning)",
        "",
        report_markdown.strip(),
        "",
        *_p0_section(docs or {}),
        "## Apply",
        "",
        f"`ctscan-ops alerts propose {environment} --report-id {report_id} --apply .` "
        "at the repository root (refuses if the file changed since), or "
        f"`git apply {PATCH}`.",
    ]
    if links:
        lines += ["", "## Links", ""]
        lines += [f"- {name}: {url}" for name, url in sorted(links.items())]
    return "\n".join(lines) + "\n"


def _p0_section(docs: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """PR lines for P0 recommendations: evidence only, for a human to decide."""
    rows = []
    for name in sorted(docs):
        d = docs[name]
        rec = d.get("recommended") or {}
        if d.get("severity") != "P0" or rec.get("threshold") is None:
            continue
        cur = d.get("current") or {}
        h = d.get("holdout") or {}
        rows.append(
            f"| `{name}` | {cur.get('threshold')} for {cur.get('duration_s')} s "
            f"| {rec['threshold']:g} for {rec['duration_s']} s "
            f"| {h.get('false_discovery_rate')} | {h.get('recall')} "
            f"| {h.get('median_detection_s')} | {h.get('mean_detection_s')} |"
        )
    if not rows:
        return []
    return [
        "## P0 recommendations (for a human to decide)",
        "",
        "Not in the proposed file: a P0 pages, so its setting changes only by hand, after "
        "review of these held-out figures. Every candidate keeps the P0 detection-time promise "
        "(held-out median and mean detection <= 5 min).",
        "",
        "| policy | current | recommended | held-out FDR | held-out recall "
        "| median detect s | mean detect s |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]


@dataclass(frozen=True)
class Proposal:
    environment: str
    report_id: str
    created_at: str  # ISO 8601 UTC
    base_sha256: str  # of the file the patch applies to ("absent" if none)
    proposed_sha256: str
    tfvars_text: str
    patch: str
    pr_markdown: str
    evidence: dict[str, Any] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)  # days, catalog hash, run id...

    @property
    def changed(self) -> bool:
        return self.base_sha256 != self.proposed_sha256

    @property
    def target(self) -> str:
        return target_path(self.environment)

    def manifest(self) -> dict[str, Any]:
        doc = asdict(self)
        for big in ("tfvars_text", "patch", "pr_markdown"):
            doc.pop(big)
        return {**doc, "target": self.target, "changed": self.changed, "files": file_names()}


def file_names() -> dict[str, str]:
    return {"tfvars": TFVARS_NAME, "patch": PATCH, "pr": PR_MD}


def build_proposal(
    *,
    environment: str,
    base_text: str | None,
    proposed_text: str,
    report_markdown: str,
    diff_markdown: str,
    docs: Mapping[str, Mapping[str, Any]],
    days: list[str],
    catalog_hash: str,
    created_at: datetime | None = None,
    links: Mapping[str, str] | None = None,
    source: Mapping[str, Any] | None = None,
) -> Proposal:
    created = created_at or datetime.now(UTC)
    report_id = make_report_id(created, proposed_text)
    return Proposal(
        environment=environment,
        report_id=report_id,
        created_at=created.astimezone(UTC).isoformat(),
        base_sha256=content_sha256(base_text),
        proposed_sha256=content_sha256(proposed_text),
        tfvars_text=proposed_text,
        patch=unified_patch(environment, base_text, proposed_text),
        pr_markdown=pr_description(
            environment=environment,
            report_id=report_id,
            report_markdown=report_markdown,
            diff_markdown=diff_markdown,
            days=days,
            catalog_hash=catalog_hash,
            links=links,
            docs=docs,
        ),
        evidence=evidence(docs),
        source={"days": list(days), "catalog_hash": catalog_hash, **dict(source or {})},
    )


def proposal_prefix(environment: str, report_id: str) -> str:
    return f"{PROPOSALS_KEY}/{environment}/{report_id}"


def put_proposal(store: ObjectStore, proposal: Proposal) -> dict[str, str]:
    """Write the files, then the manifest (the commit point); returns name -> gs:// URI."""
    prefix = proposal_prefix(proposal.environment, proposal.report_id)
    uris = {
        "tfvars": store.put_bytes(
            f"{prefix}/{TFVARS_NAME}", proposal.tfvars_text.encode(), "application/json"
        ),
        "patch": store.put_bytes(f"{prefix}/{PATCH}", proposal.patch.encode(), "text/x-diff"),
        "pr": store.put_bytes(f"{prefix}/{PR_MD}", proposal.pr_markdown.encode(), "text/markdown"),
    }
    manifest = json.dumps(proposal.manifest(), indent=2, sort_keys=True).encode()
    uris["manifest"] = store.put_bytes(f"{prefix}/{MANIFEST}", manifest, "application/json")
    return uris


def list_report_ids(store: ObjectStore, environment: str) -> list[str]:
    """Complete proposals of an environment (those with a manifest), oldest first."""
    base = f"{PROPOSALS_KEY}/{environment}/"
    ids = set()
    for key in store.list_keys(base):
        rel = key[len(base) :] if key.startswith(base) else key
        report_id, _, name = rel.partition("/")
        if name == MANIFEST and _REPORT_ID.match(report_id):
            ids.add(report_id)
    return sorted(ids)


def get_proposal(store: ObjectStore, environment: str, report_id: str | None = None) -> Proposal:
    """The proposal ``report_id`` (default: the latest) of ``environment``."""
    if report_id is None:
        ids = list_report_ids(store, environment)
        if not ids:
            where = store.uri(f"{PROPOSALS_KEY}/{environment}/")
            raise ProposalError(f"no proposal for {environment} under {where}")
        report_id = ids[-1]
    elif not _REPORT_ID.match(report_id):
        raise ProposalError(f"report id {report_id!r} is not YYYYMMDDTHHMMSSZ-<8 hex>")
    prefix = proposal_prefix(environment, report_id)

    def read(name: str) -> bytes:
        try:
            return store.get_bytes(f"{prefix}/{name}")
        except Exception as exc:  # NotFound or transport: name the object either way
            raise ProposalError(f"{store.uri(f'{prefix}/{name}')}: cannot read ({exc})") from None

    try:
        doc = json.loads(read(MANIFEST))
    except json.JSONDecodeError as exc:
        raise ProposalError(f"{store.uri(f'{prefix}/{MANIFEST}')}: not JSON ({exc})") from None
    tfvars_text = read(TFVARS_NAME).decode()
    if content_sha256(tfvars_text) != doc.get("proposed_sha256"):
        raise ProposalError(
            f"{store.uri(f'{prefix}/{TFVARS_NAME}')}: content does not match the sha256 in "
            f"{MANIFEST}; the proposal was altered"
        )
    return Proposal(
        environment=doc["environment"],
        report_id=doc["report_id"],
        created_at=doc["created_at"],
        base_sha256=doc["base_sha256"],
        proposed_sha256=doc["proposed_sha256"],
        tfvars_text=tfvars_text,
        patch=read(PATCH).decode(),
        pr_markdown=read(PR_MD).decode(),
        evidence=doc.get("evidence") or {},
        source=doc.get("source") or {},
    )


def apply_proposal(proposal: Proposal, worktree: str | os.PathLike[str]) -> tuple[Path, bool]:
    """Write the proposed file into ``worktree``; (path, written). Refuses on a changed base."""
    path = Path(worktree) / proposal.target
    current = path.read_text(encoding="utf-8") if path.exists() else None
    have = content_sha256(current)
    if have == proposal.proposed_sha256:
        return path, False  # already applied
    if have != proposal.base_sha256:
        raise ProposalConflict(
            f"{path} changed since proposal {proposal.report_id} was made: its sha256 is "
            f"{have[:12]}, the proposal was computed against {proposal.base_sha256[:12]}. "
            "Re-run the tuning on the current file (or merge by hand with change.patch)."
        )
    return path, write_atomic(path, proposal.tfvars_text)
