"""``ctscan-ops feedback migrate|parity|stats``: the migration from a terminal (asset code).

Each command prints one JSON document on stdout (progress on stderr). ``--db`` must be an
existing SQLite file: it is checked before anything is opened, so a wrong path never creates a
directory or an empty database. The Firestore emulator is checked before the first request.
"""

from __future__ import annotations

import argparse
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from ctscan_ops import cli_contract as cc


def _client():
    from ctscan_ops.config import get_settings
    from ctscan_ops.resources.firestore import FirestoreResource

    s = get_settings()
    cc.require_service("Firestore", s.endpoints.firestore_host, s)
    return FirestoreResource(
        project=s.project_id, emulator_host=s.endpoints.firestore_host
    ).client()


def _db_path(args: argparse.Namespace) -> Path:
    """``--db`` (already checked by its type) or the configured path, checked the same way;
    either must hold a ``feedback`` table (read-only check: nothing is created)."""
    from ctscan_ops.config import get_settings

    if args.db:
        path = Path(args.db)
    else:
        path = get_settings().feedback_sqlite_path
        try:
            cc.check_sqlite_file(str(path))
        except ValueError as exc:
            raise cc.CliInputError(
                f"--db not given and settings.feedback_sqlite_path: {exc}; pass --db FILE or run "
                "`ctscan-ops sandbox world`"
            ) from None
    _require_feedback_table(path)
    return path


def _require_feedback_table(path: Path) -> None:
    uri = f"{path.resolve().as_uri()}?mode=ro"
    try:
        with closing(sqlite3.connect(uri, uri=True)) as conn:
            row = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view') AND name = 'feedback'"
            ).fetchone()
    except sqlite3.DatabaseError as exc:
        raise cc.CliInputError(f"--db {path}: not a readable SQLite database ({exc})") from None
    if row is None:
        raise cc.CliInputError(
            f"--db {path}: no 'feedback' table: not a feedback database (wrong file or schema)"
        )


def _cmd_migrate(args: argparse.Namespace) -> int:
    from ctscan_ops.feedback import migrate
    from ctscan_ops.feedback.source import SourceError

    def progress(r: migrate.MigrationReport) -> None:
        if r.commits % 10 == 0:
            cc.info(f"committed up to id {r.last_id} ({r.rows_read} rows)")

    db = _db_path(args)  # validate before the first write (--restart deletes)
    client = _client()
    if args.restart:
        n = migrate.reset_migration(client, migrate.Target())
        cc.info(f"restart: checkpoints and {n} documents deleted")
    try:
        rep = migrate.migrate(
            client,
            db,
            batch_size=args.batch_size,
            max_rows=args.max_rows,
            on_commit=progress,
        )
    except SourceError as exc:
        raise cc.CliInputError(f"{db}: {exc}") from None
    except migrate.MigrationError as exc:
        cc.info(f"ctscan-ops feedback migrate: failed: {exc}")
        return 1
    cc.emit_json(
        {
            "rows_read": rep.rows_read,
            "migrated": rep.migrated,
            "quarantined": rep.quarantined,
            "reasons": dict(rep.reasons),
            "checkpoint_last_id": rep.last_id,
            "rows_per_s": round(rep.rows_per_second, 1),
            "cumulative": rep.cumulative,
        }
    )
    return 0


def _parity_json(res: Any) -> dict[str, Any]:
    return {
        "ok": bool(res.ok),
        "source_rows": res.source_rows,
        "expected_migrated": res.expected_migrated,
        "expected_quarantined": res.expected_quarantined,
        "firestore_migrated": res.firestore_docs - res.foreign_docs,
        "firestore_quarantined": res.firestore_quarantined,
        "foreign_docs": res.foreign_docs,
        "problems": list(res.problems()),
    }


def _cmd_parity(args: argparse.Namespace) -> int:
    from ctscan_ops.feedback.parity import firestore_parity
    from ctscan_ops.feedback.source import SourceError

    db = _db_path(args)
    try:
        res = firestore_parity(_client(), db)
    except SourceError as exc:
        raise cc.CliInputError(f"{db}: {exc}") from None
    doc = _parity_json(res)
    for line in doc["problems"]:
        cc.info(f"MISMATCH {line}")
    cc.info("parity OK" if res.ok else "parity FAILED")
    cc.emit_json(doc)
    return 0 if res.ok else 1


def _cmd_stats(args: argparse.Namespace) -> int:
    from ctscan_ops.feedback import store

    if args.backend == "firestore":
        st = store.create_feedback_store("firestore", firestore_client=_client())
    else:
        st = store.create_feedback_store("sqlite", sqlite_path=_db_path(args), create=False)
    cc.emit_json(st.get_stats())
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    fb = subparsers.add_parser("feedback", help="SQLite -> Firestore feedback migration")
    sub = fb.add_subparsers(dest="feedback_command", required=True)
    db_help = "SQLite file (default: settings.feedback_sqlite_path); must exist"
    p = sub.add_parser("migrate", help="migrate from the checkpoint on (resumable)")
    p.add_argument("--db", type=cc.sqlite_file(), help=db_help)
    p.add_argument(
        "--batch-size",
        type=cc.bounded_int(1, 500),
        default=499,
        help="rows per Firestore batch (1..500, the API's limit)",
    )
    p.add_argument(
        "--max-rows",
        type=cc.bounded_int(1, None),
        default=None,
        help="stop after about this many rows",
    )
    p.add_argument("--restart", action="store_true", help="forget the checkpoint, rewrite all")
    p.set_defaults(func=_cmd_migrate)
    p = sub.add_parser("parity", help="compare SQLite and Firestore; exit 1 on mismatch")
    p.add_argument("--db", type=cc.sqlite_file(), help=db_help)
    p.set_defaults(func=_cmd_parity)
    p = sub.add_parser("stats", help="get_stats() of a backend")
    p.add_argument("--backend", choices=["sqlite", "firestore"], default="firestore")
    p.add_argument("--db", type=cc.sqlite_file(), help=db_help)
    p.set_defaults(func=_cmd_stats)
