"""``ctscan-ops feedback migrate|parity|stats``: the migration from a terminal (asset code)."""

from __future__ import annotations

import argparse
import json
import sys


def _client():
    from ctscan_ops.config import get_settings
    from ctscan_ops.resources.firestore import FirestoreResource

    s = get_settings()
    return FirestoreResource(
        project=s.project_id, emulator_host=s.endpoints.firestore_host
    ).client()


def _db_path(args: argparse.Namespace):
    from ctscan_ops.config import get_settings

    return args.db or get_settings().feedback_sqlite_path


def _cmd_migrate(args: argparse.Namespace) -> int:
    from ctscan_ops.feedback import migrate
    from ctscan_ops.feedback.source import SourceError

    def progress(r: migrate.MigrationReport) -> None:
        if r.commits % 10 == 0:
            print(f"committed up to id {r.last_id} ({r.rows_read} rows)", flush=True)

    client = _client()
    if args.restart:
        n = migrate.reset_migration(client, migrate.Target())
        print(f"restart: checkpoints and {n} documents deleted", flush=True)
    try:
        rep = migrate.migrate(
            client,
            _db_path(args),
            batch_size=args.batch_size,
            max_rows=args.max_rows,
            on_commit=progress,
        )
    except (migrate.MigrationError, SourceError) as exc:
        print(f"feedback migrate failed: {exc}", file=sys.stderr)
        return 1
    print(
        json.dumps(
            {
                "rows_read": rep.rows_read,
                "migrated": rep.migrated,
                "quarantined": rep.quarantined,
                "reasons": dict(rep.reasons),
                "checkpoint_last_id": rep.last_id,
                "rows_per_s": round(rep.rows_per_second, 1),
                "cumulative": rep.cumulative,
            },
            indent=2,
        )
    )
    return 0


def _cmd_parity(args: argparse.Namespace) -> int:
    from ctscan_ops.feedback.parity import firestore_parity
    from ctscan_ops.feedback.source import SourceError

    try:
        res = firestore_parity(_client(), _db_path(args))
    except SourceError as exc:
        print(f"feedback parity failed: {exc}", file=sys.stderr)
        return 2
    print(
        f"source rows {res.source_rows}: {res.expected_migrated} to migrate, "
        f"{res.expected_quarantined} to quarantine"
    )
    print(
        f"firestore: {res.firestore_docs - res.foreign_docs} migrated, "
        f"{res.firestore_quarantined} quarantined, {res.foreign_docs} foreign"
    )
    for line in res.problems():
        print(f"MISMATCH {line}")
    print("parity OK" if res.ok else "parity FAILED")
    return 0 if res.ok else 1


def _cmd_stats(args: argparse.Namespace) -> int:
    from ctscan_ops.feedback import store

    if args.backend == "firestore":
        st = store.create_feedback_store("firestore", firestore_client=_client())
    else:
        st = store.create_feedback_store("sqlite", sqlite_path=_db_path(args))
    print(json.dumps(st.get_stats(), indent=2))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    fb = subparsers.add_parser("feedback", help="SQLite -> Firestore feedback migration")
    sub = fb.add_subparsers(dest="feedback_command", required=True)
    p = sub.add_parser("migrate", help="migrate from the checkpoint on (resumable)")
    p.add_argument("--db", help="SQLite file (default: settings.feedback_sqlite_path)")
    p.add_argument("--batch-size", type=int, default=499)
    p.add_argument("--max-rows", type=int, default=None, help="stop after about this many rows")
    p.add_argument("--restart", action="store_true", help="forget the checkpoint, rewrite all")
    p.set_defaults(func=_cmd_migrate)
    p = sub.add_parser("parity", help="compare SQLite and Firestore; exit 1 on mismatch")
    p.add_argument("--db")
    p.set_defaults(func=_cmd_parity)
    p = sub.add_parser("stats", help="get_stats() of a backend")
    p.add_argument("--backend", choices=["sqlite", "firestore"], default="firestore")
    p.add_argument("--db")
    p.set_defaults(func=_cmd_stats)
