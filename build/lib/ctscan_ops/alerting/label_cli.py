"""``ctscan-ops alerts label`` and ``ctscan-ops alerts register``: on-call's ground truth.

* ``alerts label INCIDENT_ID (--false-positive | --true-positive) [--note TEXT] [--who NAME]``
  records an operator verdict on one shadow incident (the id the shadow assets and
  ``alerts backtest`` print); it overrides window matching when the policy is scored.
* ``alerts register add --start TS --end TS (--policy NAME | --kind KIND) --severity P0|P1|P2
  [--environment ENV] [--source postmortem|p0_incident|operator_verdict] [--note TEXT]``
  adds a known incident window (e.g. from a postmortem).
* ``alerts register list [--policy NAME] [--environment ENV]`` prints the register.

Each command prints one JSON document on stdout; bad input exits 2 with the reason on stderr.
Writes are generation-guarded read-modify-write updates (see :mod:`incidents`), so two
operators labelling at once both keep their change.
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import json
import re
import sys
import time
from typing import Any

from ctscan_ops.alerting.incidents import (
    SEVERITIES,
    SOURCES,
    KnownIncident,
    RegisterConflictError,
    RegisterError,
    RegisterStore,
    Verdict,
    parse_time,
)

__all__ = ["add_label_parser", "cmd_label", "cmd_register_add", "cmd_register_list"]

INCIDENT_ID = re.compile(r"^[0-9a-f]{16}$")


def _store(args: argparse.Namespace) -> RegisterStore:
    """The register in the configured artifact store (injectable for tests)."""
    factory = getattr(args, "register_store_factory", None)
    if factory is not None:
        return factory()
    from ctscan_ops.config import get_settings
    from ctscan_ops.resources.storage import ArtifactStore

    settings = get_settings()
    return RegisterStore(
        ArtifactStore(
            bucket=settings.artifacts_bucket,
            project=settings.project_id,
            endpoint=settings.endpoints.gcs_url,
        )
    )


def _who(args: argparse.Namespace) -> str:
    if args.who:
        return args.who
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _fail(message: str, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def cmd_label(args: argparse.Namespace) -> int:
    incident_id = args.incident_id.strip().lower()
    if not INCIDENT_ID.match(incident_id):
        return _fail(
            f"INCIDENT_ID {args.incident_id!r} is not a shadow incident id "
            "(16 hex digits, as printed by the shadow assets and `alerts backtest`)"
        )
    try:
        verdict = Verdict(
            incident_id=incident_id,
            verdict="false_positive" if args.false_positive else "true_positive",
            who=_who(args),
            when=time.time(),
            note=args.note or "",
            policy=args.policy,
        )
        register = _store(args).set_verdict(verdict)
    except RegisterError as exc:
        return _fail(str(exc))
    except RegisterConflictError as exc:
        return _fail(str(exc), 1)
    print(
        json.dumps(
            {
                "incident_id": incident_id,
                **verdict.to_json(),
                "verdicts_in_register": len(register.verdicts),
            },
            indent=2,
        )
    )
    return 0


def _window_id(policy: str | None, kind: str | None, env: str, start: float, end: float) -> str:
    raw = f"{policy}|{kind}|{env}|{start}|{end}"
    return f"op-{hashlib.sha256(raw.encode()).hexdigest()[:12]}"


def cmd_register_add(args: argparse.Namespace) -> int:
    try:
        start = parse_time(args.start, "--start")
        end = parse_time(args.end, "--end")
        environment = args.environment or _default_environment()
        window = KnownIncident(
            id=args.id or _window_id(args.policy, args.kind, environment, start, end),
            environment=environment,
            severity=args.severity,
            start=start,
            end=end,
            source=args.source,
            policy=args.policy,
            kind=args.kind,
            note=args.note or "",
        )
        if args.policy:
            _check_policy(args.policy)
        _store(args).add_window(window)
    except RegisterError as exc:
        return _fail(str(exc))
    except RegisterConflictError as exc:
        return _fail(str(exc), 1)
    print(json.dumps(window.to_json(), indent=2))
    return 0


def _default_environment() -> str:
    from ctscan_ops.config import get_settings

    return get_settings().environment


def _check_policy(name: str) -> None:
    """A window for a policy the catalog does not have would never be scored: refuse it."""
    from ctscan_ops.alerting.catalog import CatalogError, load_catalog

    try:
        catalog = load_catalog()
    except (CatalogError, OSError):
        return  # the catalog's own commands report a broken catalog
    if name not in catalog.policies:
        known = ", ".join(sorted(catalog.policies))
        raise RegisterError(f"--policy: unknown policy {name!r} (known: {known})")


def cmd_register_list(args: argparse.Namespace) -> int:
    try:
        register = _store(args).load()
    except RegisterError as exc:
        return _fail(str(exc), 1)
    doc = register.to_json()
    kept = sorted(
        (
            w
            for w in register.windows
            if (not args.policy or args.policy in w.policies())
            and (not args.environment or w.environment == args.environment)
        ),
        key=lambda w: (w.start, w.environment, w.id),
    )
    doc["windows"] = [w.to_json() for w in kept]
    print(json.dumps(doc, indent=2))
    return 0


def add_label_parser(alerts_subparsers: Any) -> None:
    """Add ``label`` and ``register`` to the ``alerts`` command group."""
    p = alerts_subparsers.add_parser(
        "label", help="mark one shadow incident as a true or false positive"
    )
    p.add_argument("incident_id", metavar="INCIDENT_ID")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--false-positive", action="store_true")
    group.add_argument("--true-positive", action="store_true")
    p.add_argument("--note", help="why (kept with the verdict)")
    p.add_argument("--who", help="who decided (default: the current user)")
    p.add_argument("--policy", help="policy of the incident (informational)")
    p.set_defaults(func=cmd_label)

    reg = alerts_subparsers.add_parser("register", help="known incident windows (ground truth)")
    reg_sub = reg.add_subparsers(dest="register_command", required=True)
    a = reg_sub.add_parser("add", help="add a known incident window")
    a.add_argument("--start", required=True, help="ISO 8601 (naive = UTC) or epoch seconds")
    a.add_argument("--end", required=True, help="ISO 8601 (naive = UTC) or epoch seconds")
    what = a.add_mutually_exclusive_group(required=True)
    what.add_argument("--policy", help="catalog policy that should have fired")
    what.add_argument("--kind", help="incident kind (maps to the policies that target it)")
    a.add_argument("--severity", required=True, choices=SEVERITIES)
    a.add_argument("--environment", choices=("dev", "staging", "prod"))
    a.add_argument("--source", choices=SOURCES, default="operator_verdict")
    a.add_argument("--note")
    a.add_argument("--id", help="window id (default: derived from the fields)")
    a.set_defaults(func=cmd_register_add)
    ls = reg_sub.add_parser("list", help="print the register as JSON")
    ls.add_argument("--policy")
    ls.add_argument("--environment", choices=("dev", "staging", "prod"))
    ls.set_defaults(func=cmd_register_list)
