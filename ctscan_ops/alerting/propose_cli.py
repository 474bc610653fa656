"""``ctscan-ops alerts propose ENV [--apply DIR] [--report-id ID]``: take a tuning proposal out.

Fetches a threshold-tuning proposal (:mod:`ctscan_ops.alerting.proposal`) of ``ENV`` from the
artifact store (the latest unless ``--report-id``). Without ``--apply`` it prints it; with
``--apply DIR`` it writes the proposed ``alerts.auto.tfvars.json`` into the working tree at
``DIR`` (``DIR/terraform/environments/<env>/``), refusing (exit 2, nothing written) when that
file changed since the proposal was made. Prints one JSON document on stdout::

    {
      "environment": "prod", "report_id": "20261201T101500Z-1a2b3c4d",
      "created_at": ISO, "target": "terraform/environments/prod/alerts.auto.tfvars.json",
      "changed": bool,                    # false: the proposal equals its base file
      "base_sha256": hex|"absent", "proposed_sha256": hex,
      "uri": "gs://.../alerting/proposals/prod/<report-id>/",
      "evidence": {policy: {"current", "recommended", "holdout": {...}, "verdict", "reasons"}},
      "source": {"days": [...], "catalog_hash", "dagster_run_id"},
      # without --apply:
      "tfvars": "<file text>", "patch": "<unified diff>", "pr_markdown": "<PR description>",
      # with --apply:
      "applied": {"path": "<DIR/...>", "written": bool}    # written false: already applied
    }

Exit codes: 0 success; 2 no such proposal, a malformed one, or a conflicting working tree
(message on stderr, nothing on stdout).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from ctscan_ops import cli_contract as cc
from ctscan_ops.alerting.proposal import (
    ProposalError,
    apply_proposal,
    get_proposal,
    proposal_prefix,
)

__all__ = ["add_propose_parser", "cmd_propose"]


def _store(args: argparse.Namespace) -> Any:
    """The configured artifact store (injectable for tests as ``args.artifact_store``)."""
    store = getattr(args, "artifact_store", None)
    if store is not None:
        return store
    from ctscan_ops.config import get_settings
    from ctscan_ops.resources.storage import ArtifactStore

    settings = get_settings()
    cc.require_service("GCS", settings.endpoints.gcs_url, settings)
    return ArtifactStore(
        bucket=settings.artifacts_bucket,
        project=settings.project_id,
        endpoint=settings.endpoints.gcs_url,
    )


def cmd_propose(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        proposal = get_proposal(store, args.environment, args.report_id)
        applied = None
        if args.apply is not None:
            path, written = apply_proposal(proposal, Path(args.apply))
            applied = {"path": str(path), "written": written}
    except ProposalError as exc:
        raise cc.CliInputError(str(exc)) from None
    doc: dict[str, Any] = {
        **proposal.manifest(),
        "uri": store.uri(proposal_prefix(proposal.environment, proposal.report_id)) + "/",
    }
    doc.pop("files", None)
    if applied is None:
        doc |= {
            "tfvars": proposal.tfvars_text,
            "patch": proposal.patch,
            "pr_markdown": proposal.pr_markdown,
        }
    else:
        doc["applied"] = applied
    cc.emit_json(doc)
    return 0


# the ids :func:`ctscan_ops.alerting.proposal` makes: ``YYYYMMDDTHHMMSSZ-<sha8>``
_REPORT_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{8}")


def _report_id(text: str) -> str:
    if not _REPORT_ID.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a proposal id (YYYYMMDDTHHMMSSZ-sha8)")
    return text


def add_propose_parser(alerts_subparsers: Any) -> None:
    """Add ``alerts propose`` (called by :func:`ctscan_ops.alerting.cli.register`)."""
    from ctscan_ops.config import ENVIRONMENTS

    p = alerts_subparsers.add_parser(
        "propose",
        help="print the latest threshold-tuning proposal, or apply it to a working tree",
        description="Print the latest (or --report-id) tuning proposal of ENV from the "
        "artifact store as JSON, or write it into the working tree at DIR (exit 2 if the "
        "target file changed since the proposal was made).",
    )
    p.add_argument("environment", choices=ENVIRONMENTS)
    p.add_argument(
        "--apply",
        type=cc.existing_dir(),
        metavar="DIR",
        help="repository root to write terraform/environments/<env>/alerts.auto.tfvars.json in",
    )
    p.add_argument("--report-id", type=_report_id, help="a specific proposal (default: the latest)")
    p.set_defaults(func=cmd_propose)
