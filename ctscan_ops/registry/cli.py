"""``ctscan-ops registry list|show|promote|rollback``: the operator's view of the registry.

Exit codes follow ctscan-ops: 0 success, 1 refused/failed (checksum mismatch, unsafe pickle,
gate refused, precondition lost to a concurrent promotion), 2 bad input (unknown version/alias).
Promotion verifies the checkpoint (sha256 + weights-only load) before it moves the alias, and
for ``champion`` applies the metric gate to the stored evaluations unless ``--skip-gate`` is
given with a ``--reason``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ctscan_ops import cli_contract as cc
from ctscan_ops.registry.store import ALIASES, DEFAULT_MODEL_NAME


def _store(args: argparse.Namespace) -> Any:
    from ctscan_ops.config import get_settings
    from ctscan_ops.registry.store import RegistryStore
    from ctscan_ops.resources.storage import make_storage_client

    s = get_settings()
    cc.require_service("GCS", s.endpoints.gcs_url, s)
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
    rows = [{**v.to_json(), "aliases": marks.get(v.version, [])} for v in versions]
    if not versions:
        cc.info(f"no versions in {store.uri(store.root)}")
    for v in versions:
        cc.info(
            f"{v.version:<26} {v.architecture:<13} {v.size:>9}  {v.sha256[:12]} "
            f"{','.join(marks.get(v.version, []))}"
        )
    cc.emit_json(rows)
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
    cc.emit_json(out)
    return 0


def _cmd_promote(args: argparse.Namespace, store: Any) -> int:
    from ctscan_ops.registry.gate import judge_against
    from ctscan_ops.registry.store import PromotionRefusedError

    if args.skip_gate and not args.reason:  # validate before reading or moving anything
        raise cc.CliInputError("--skip-gate needs --reason (it is recorded in the alias history)")
    record = store.get_version(args.version)
    store.load_state_dict(record.version)  # checksum + weights-only, before anything moves
    evidence: dict[str, Any] = {"sha256": record.sha256, "checkpoint": record.checkpoint_key}
    judge = None
    if args.alias == "champion" and not args.skip_gate:
        judge = lambda champ: judge_against(store, record.version, champ)  # noqa: E731
    elif args.skip_gate:
        evidence["gate"] = "skipped by operator"
    expected = ... if args.expected_generation is None else args.expected_generation
    try:  # judged against the alias as read once; the CAS checks that same read
        moved = store.promote_judged(
            record.version,
            judge,
            alias=args.alias,
            expected_generation=expected,
            reason=args.reason or "promote (cli)",
            actor=args.actor,
            evidence=evidence,
        )
    except PromotionRefusedError as exc:
        cc.info(f"promotion refused: {exc}")
        return 1
    cc.info(f"{args.alias} -> {moved.version} (seq {moved.seq}, was {moved.previous_version})")
    cc.emit_json(_moved_json(args.alias, moved, store))
    return 0


def _moved_json(alias: str, moved: Any, store: Any) -> dict[str, Any]:
    doc = {
        "alias": alias,
        "version": moved.version,
        "previous_version": moved.previous_version,
        "seq": moved.seq,
        "generation": getattr(moved, "generation", None),
        "evidence": moved.evidence,
    }
    if alias == "champion":
        doc["serving_checkpoint"] = store.serving_checkpoint_uri()
    return doc


def _cmd_rollback(args: argparse.Namespace, store: Any) -> int:
    cur = store.get_alias(args.alias)
    if cur is not None and cur.previous_version:
        store.load_state_dict(cur.previous_version)  # never roll back onto a bad checkpoint
    moved = store.rollback(alias=args.alias, actor=args.actor)
    cc.info(
        f"{args.alias} rolled back to {moved.version} (from {moved.evidence['rolled_back_from']})"
    )
    cc.emit_json(_moved_json(args.alias, moved, store))
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
        except cc.CliInputError:
            raise  # ctscan_ops.cli.main words it (command name, one line)
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
    reg.add_argument(
        "--bucket", type=cc.bucket_name(), help="models bucket (default: settings.models_bucket)"
    )
    reg.add_argument("--model", default=DEFAULT_MODEL_NAME, help="registered model name")
    sub = reg.add_subparsers(dest="registry_command", required=True)

    p = sub.add_parser("list", help="all versions, oldest first, with their aliases")
    p.add_argument("--json", action="store_true", help="(default; kept for compatibility)")
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
        type=cc.bounded_int(0, 2**63 - 1),
        default=None,
        help="fail unless the alias object still has this GCS generation (0: must not exist)",
    )
    p.set_defaults(func=_run(_cmd_promote))

    p = sub.add_parser("rollback", help="move an alias back to its previous version")
    p.add_argument("--alias", default="champion", choices=ALIASES)
    p.add_argument("--actor", default="ctscan-ops-cli")
    p.set_defaults(func=_run(_cmd_rollback))
