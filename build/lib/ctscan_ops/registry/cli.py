"""``ctscan-ops registry list|show|promote|rollback``: the operator's view of the registry.

Exit codes follow ctscan-ops: 0 success, 1 refused/failed (checksum mismatch, unsafe pickle,
gate refused, precondition lost to a concurrent promotion), 2 bad input (unknown version/alias).
Promotion verifies the checkpoint (sha256 + weights-only load) before it moves the alias, and
for ``champion`` applies the metric gate to the stored evaluations unless ``--skip-gate`` is
given with a ``--reason``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ctscan_ops.registry.store import ALIASES, DEFAULT_MODEL_NAME


def _store(args: argparse.Namespace) -> Any:
    from ctscan_ops.config import get_settings
    from ctscan_ops.registry.store import RegistryStore
    from ctscan_ops.resources.storage import make_storage_client

    s = get_settings()
    client = make_storage_client(s.project_id, s.endpoints.gcs_url)
    return RegistryStore(client, args.bucket or s.models_bucket, model_name=args.model)


def _aliases_by_version(store: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for alias in ALIASES:
        rec = store.get_alias(alias)
        if rec is not None:
            out.setdefault(rec.version, []).append(alias)
    return out


def _cmd_list(args: argparse.Namespace, store: Any) -> int:
    versions = store.list_versions()
    marks = _aliases_by_version(store)
    if args.json:
        rows = [{**v.to_json(), "aliases": marks.get(v.version, [])} for v in versions]
        print(json.dumps(rows, indent=2))
        return 0
    if not versions:
        print(f"no versions in {store.uri(store.root)}")
        return 0
    print(f"{'version':<26} {'architecture':<13} {'size':>9}  {'sha256':<12} aliases")
    for v in versions:
        print(
            f"{v.version:<26} {v.architecture:<13} {v.size:>9}  {v.sha256[:12]} "
            f"{','.join(marks.get(v.version, []))}"
        )
    return 0


def _cmd_show(args: argparse.Namespace, store: Any) -> int:
    record = store.resolve(args.ref)
    out: dict[str, Any] = {
        "version": record.to_json(),
        "checkpoint_uri": store.uri(record.checkpoint_key),
        "aliases": _aliases_by_version(store).get(record.version, []),
        "evaluation": store.get_evaluation(record.version),
    }
    if args.ref in ALIASES:
        out["history"] = [h.to_json() for h in store.alias_history(args.ref)]
    if args.verify:
        store.load_state_dict(record.version)
        out["verified"] = "sha256 matches and weights-only load succeeded"
    print(json.dumps(out, indent=2, default=str))
    return 0


def _gate(store: Any, version: str) -> tuple[bool, str, dict[str, Any]]:
    from ctscan_ops.registry.gate import challenger_beats_champion

    challenger = store.get_evaluation(version)
    if challenger is None:
        return False, f"no stored evaluation for {version}: materialize model_evaluation", {}
    champ = store.get_alias("champion")
    champion = None if champ is None else store.get_evaluation(champ.version)
    if champ is not None and champion is None:
        return False, f"no stored evaluation for champion {champ.version}", {}
    decision = challenger_beats_champion(challenger, champion)
    return decision.passed, decision.summary(), {"gate": decision.checks}


def _cmd_promote(args: argparse.Namespace, store: Any) -> int:
    record = store.get_version(args.version)
    current = store.get_alias(args.alias)
    expected = args.expected_generation
    if expected is None:
        expected = None if current is None else current.generation
    store.load_state_dict(record.version)  # checksum + weights-only, before anything moves
    evidence: dict[str, Any] = {"sha256": record.sha256, "checkpoint": record.checkpoint_key}
    if args.alias == "champion" and not args.skip_gate:
        ok, summary, checks = _gate(store, record.version)
        if not ok:
            print(f"promotion refused: {summary}", file=sys.stderr)
            return 1
        evidence.update(checks, gate_summary=summary)
    elif args.skip_gate:
        if not args.reason:
            print(
                "--skip-gate needs --reason (it is recorded in the alias history)", file=sys.stderr
            )
            return 2
        evidence["gate"] = "skipped by operator"
    moved = store.set_alias(
        args.alias,
        record.version,
        expected_generation=expected,
        reason=args.reason or "promote (cli)",
        actor=args.actor,
        evidence=evidence,
    )
    print(f"{args.alias} -> {moved.version} (seq {moved.seq}, was {moved.previous_version})")
    if args.alias == "champion":
        print(f"serving checkpoint: {store.serving_checkpoint_uri()}")
    return 0


def _cmd_rollback(args: argparse.Namespace, store: Any) -> int:
    cur = store.get_alias(args.alias)
    if cur is not None and cur.previous_version:
        store.load_state_dict(cur.previous_version)  # never roll back onto a bad checkpoint
    moved = store.rollback(alias=args.alias, actor=args.actor)
    print(
        f"{args.alias} rolled back to {moved.version} (from {moved.evidence['rolled_back_from']})"
    )
    if args.alias == "champion":
        print(f"serving checkpoint: {store.serving_checkpoint_uri()}")
    return 0


def _run(handler: Any) -> Any:
    """Wrap a handler: registry errors become one clear line on stderr and an exit code."""

    def run(args: argparse.Namespace) -> int:
        from ctscan_ops.registry.store import (
            ChecksumMismatchError,
            PreconditionLostError,
            RegistryError,
            UnknownVersionError,
            UnsafeCheckpointError,
        )

        try:
            return handler(args, _store(args))
        except UnknownVersionError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except (ChecksumMismatchError, UnsafeCheckpointError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except PreconditionLostError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except (RegistryError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    return run


def register(subparsers: Any) -> None:
    """Add ``registry`` to ``ctscan-ops``."""
    reg = subparsers.add_parser("registry", help="model versions, aliases, promotion, rollback")
    reg.add_argument("--bucket", help="models bucket (default: settings.models_bucket)")
    reg.add_argument("--model", default=DEFAULT_MODEL_NAME, help="registered model name")
    sub = reg.add_subparsers(dest="registry_command", required=True)

    p = sub.add_parser("list", help="all versions, oldest first, with their aliases")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_run(_cmd_list))

    p = sub.add_parser("show", help="a version or alias: record, evaluation, history")
    p.add_argument("ref", help="version id or alias (champion|challenger)")
    p.add_argument("--verify", action="store_true", help="download and verify the checkpoint")
    p.set_defaults(func=_run(_cmd_show))

    p = sub.add_parser("promote", help="move an alias to a version (gated, compare-and-swap)")
    p.add_argument("version")
    p.add_argument("--alias", default="champion", choices=ALIASES)
    p.add_argument("--reason", default="")
    p.add_argument("--actor", default="ctscan-ops-cli")
    p.add_argument("--skip-gate", action="store_true", help="operator override (needs --reason)")
    p.add_argument(
        "--expected-generation",
        type=int,
        default=None,
        help="fail unless the alias object still has this GCS generation",
    )
    p.set_defaults(func=_run(_cmd_promote))

    p = sub.add_parser("rollback", help="move an alias back to its previous version")
    p.add_argument("--alias", default="champion", choices=ALIASES)
    p.add_argument("--actor", default="ctscan-ops-cli")
    p.set_defaults(func=_run(_cmd_rollback))
