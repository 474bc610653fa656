"""``ctscan-ops terraform ...``: summarize plan/state JSON, report alert policy drift.

``summarize PLAN_OR_STATE.json [--state STATE.json]`` prints one JSON document (see
terraform/README.md, "ctscan-ops terraform summarize"). Exit codes: 0 ok, 2 bad input (corrupt
JSON, unknown format_version major, a file that is neither plan nor state).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

EXIT_OK = 0
EXIT_BAD_INPUT = 2


def summarize_file(path: str, state_path: str | None = None) -> dict[str, Any]:
    """The summary document for ``path`` (plan or state), optionally against a state."""
    from ctscan_ops.infra.plan import parse_plan, summarize_plan
    from ctscan_ops.infra.state import diff_states, load_state, parse_state, summarize_state
    from ctscan_ops.infra.tfjson import load_file

    doc, kind = load_file(path)
    state = load_state(state_path) if state_path else None
    if kind == "plan":
        return summarize_plan(parse_plan(doc, path), state=state)
    snapshot = parse_state(doc, path)
    summary = summarize_state(snapshot)
    if state is not None:
        summary["changes_since"] = diff_states(state, snapshot)
    return summary


def _cmd_summarize(args: argparse.Namespace) -> int:
    from ctscan_ops.infra.tfjson import TerraformJSONError

    try:
        summary = summarize_file(args.path, args.state)
    except TerraformJSONError as exc:
        print(f"ctscan-ops terraform summarize: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    json.dump(summary, sys.stdout, indent=None if args.compact else 2, sort_keys=False)
    sys.stdout.write("\n")
    return EXIT_OK


def _cmd_policy_drift(args: argparse.Namespace) -> int:
    from ctscan_ops.infra.policy_drift import policy_drift_from_files
    from ctscan_ops.infra.tfjson import TerraformJSONError

    try:
        report = policy_drift_from_files(
            args.state, args.environment, catalog_path=args.catalog, overrides_path=args.overrides
        )
    except (TerraformJSONError, ValueError) as exc:
        print(f"ctscan-ops terraform policy-drift: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return EXIT_OK


def register(subparsers: Any) -> None:
    """Add ``terraform`` and its subcommands to the ``ctscan-ops`` parser."""
    tf = subparsers.add_parser("terraform", help="Terraform plan/state summaries and drift")
    sub = tf.add_subparsers(dest="terraform_command", required=True)

    p = sub.add_parser(
        "summarize",
        help="summarize a plan JSON (show -json PLAN) or a state (show -json / state file)",
    )
    p.add_argument("path", metavar="PLAN_OR_STATE.json")
    p.add_argument(
        "--state",
        metavar="STATE.json",
        help="state to measure import progress against (plans) or to diff against (states)",
    )
    p.add_argument("--compact", action="store_true", help="one line of JSON")
    p.set_defaults(func=_cmd_summarize)

    p = sub.add_parser(
        "policy-drift",
        help="deployed alert policy thresholds/durations/enabled (state) vs the catalog",
    )
    p.add_argument("state", metavar="STATE.json")
    p.add_argument("--environment", "-e", required=True, choices=("dev", "staging", "prod"))
    p.add_argument("--catalog", help="alert policy catalog (default terraform/alert_policies.yaml)")
    p.add_argument(
        "--overrides",
        help="alerts.auto.tfvars.json (default: the environment's, under terraform/environments)",
    )
    p.set_defaults(func=_cmd_policy_drift)
