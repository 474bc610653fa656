"""``ctscan-ops feedback migrate|parity|stats|archive``: the migration from a terminal.

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


def _archive(args: argparse.Namespace):
    """The archive of rows past retention in the artifact bucket (``--bucket`` overrides)."""
    from ctscan_ops.config import get_settings
    from ctscan_ops.feedback.archive import DEFAULT_PREFIX, FeedbackArchive
    from ctscan_ops.resources.storage import make_storage_client

    s = get_settings()
    cc.require_service("GCS", s.endpoints.gcs_url, s)
    name = getattr(args, "bucket", None) or s.artifacts_bucket
    bucket = make_storage_client(s.project_id, s.endpoints.gcs_url).bucket(name)
    if not bucket.exists():
        raise cc.CliInputError(f"--bucket {name}: no such bucket (the artifact bucket)")
    return FeedbackArchive(bucket, DEFAULT_PREFIX)


def _as_of(args: argparse.Namespace):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(cc.parse_timestamp(args.as_of), UTC) if args.as_of else None


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
    archive = _archive(args)
    if args.restart:
        n = migrate.reset_migration(client, migrate.Target(), archive)
        cc.info(f"restart: checkpoints and {n} documents deleted")
    try:
        rep = migrate.migrate(
            client,
            db,
            batch_size=args.batch_size,
            max_rows=args.max_rows,
            on_commit=progress,
            archive=archive,
            now=_as_of(args),
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
            "archived": rep.archived,
            "archive_parts": rep.archive_parts,
            "archive": archive.uri(),
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
        "firestore_migrated": res.firestore_in_prefix,
        "firestore_quarantined": res.firestore_quarantined,
        "foreign_docs": res.foreign_docs,
        "archived": res.archived,
        "expired_by_ttl": res.expired,
        "accounting": res.accounting(),
        "problems": list(res.problems()),
    }


def _cmd_parity(args: argparse.Namespace) -> int:
    from ctscan_ops.feedback.parity import firestore_parity
    from ctscan_ops.feedback.source import SourceError

    db = _db_path(args)
    try:
        res = firestore_parity(_client(), db, archive=_archive(args), now=_as_of(args))
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


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    """An archive row for JSON: times as ISO 8601 UTC."""
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in row.items()}


def _cmd_archive_list(args: argparse.Namespace) -> int:
    archive = _archive(args)
    parts = []
    for p in archive.parts():
        parts.append(
            {
                "name": p.name.rsplit("/", 1)[1],
                "uri": archive.uri(p.name),
                "first_id": p.first_id,
                "last_id": p.last_id,
                "rows": len(archive.read(p.name)),
                "bytes": p.size,
            }
        )
    cc.info(f"{len(parts)} parts in {archive.uri()}")
    cc.emit_json({"archive": archive.uri(), "parts": parts, "rows": sum(p["rows"] for p in parts)})
    return 0


def _row_id(text: str) -> int:
    """``42`` or ``sqlite-0000000042``: the source id of a feedback row."""
    raw = text.strip()
    digits = raw.rsplit("-", 1)[1] if raw.startswith("sqlite-") else raw
    if not digits.isdigit() or not 1 <= int(digits) < 10**10:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a feedback row id (an integer 1..9999999999 or sqlite-<10 digits>)"
        )
    return int(digits)


def _cmd_archive_show(args: argparse.Namespace) -> int:
    archive = _archive(args)
    for p in archive.parts():
        if p.first_id <= args.id <= p.last_id:
            for row in archive.read(p.name):
                if row["source_id"] == args.id:
                    cc.emit_json({"part": archive.uri(p.name), "row": _json_row(row)})
                    return 0
    raise cc.CliInputError(
        f"ID {args.id}: not in the archive {archive.uri()} (list the parts with "
        "`ctscan-ops feedback archive list`; rows inside retention are in Firestore)"
    )


def _out_file(text: str) -> str:
    path = Path(text)
    if not text or path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r}: a file path is needed, not a directory")
    try:
        cc.check_output_dir(str(path.parent) if str(path.parent) else ".")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _cmd_archive_export(args: argparse.Namespace) -> int:
    import hashlib
    import json
    import os
    import tempfile

    from ctscan_ops.feedback.archive import encode

    archive = _archive(args)
    rows = list(archive.rows())
    out = Path(args.out)
    if args.format == "parquet":
        data = encode(rows)
    else:
        data = "".join(
            json.dumps(_json_row(r), sort_keys=True, allow_nan=False) + "\n" for r in rows
        ).encode()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
    try:  # all or nothing: never half a file under the requested name
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    cc.emit_json(
        {
            "out": str(out),
            "format": args.format,
            "rows": len(rows),
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "archive": archive.uri(),
        }
    )
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
    p.add_argument(
        "--as-of",
        type=cc.timestamp(),
        help="apply the 90-day retention rule at this time (default now): older rows are archived",
    )
    p.set_defaults(func=_cmd_migrate)
    p = sub.add_parser(
        "parity", help="SQLite vs Firestore + archive (+ TTL-expired); exit 1 on mismatch"
    )
    p.add_argument("--db", type=cc.sqlite_file(), help=db_help)
    p.add_argument(
        "--as-of", type=cc.timestamp(), help="time for the expired-by-TTL rule (default now)"
    )
    p.set_defaults(func=_cmd_parity)
    p = sub.add_parser("stats", help="get_stats() of a backend")
    p.add_argument("--backend", choices=["sqlite", "firestore"], default="firestore")
    p.add_argument("--db", type=cc.sqlite_file(), help=db_help)
    p.set_defaults(func=_cmd_stats)
    ar = sub.add_parser("archive", help="rows archived because their retention had passed")
    ar_sub = ar.add_subparsers(dest="archive_command", required=True)
    bucket_help = "artifact bucket (default: settings.artifacts_bucket)"
    p = ar_sub.add_parser("list", help="the archive's Parquet parts")
    p.add_argument("--bucket", type=cc.bucket_name(), help=bucket_help)
    p.set_defaults(func=_cmd_archive_list)
    p = ar_sub.add_parser("show", help="one archived row")
    p.add_argument("id", type=_row_id, help="42 or sqlite-0000000042")
    p.add_argument("--bucket", type=cc.bucket_name(), help=bucket_help)
    p.set_defaults(func=_cmd_archive_show)
    p = ar_sub.add_parser("export", help="every archived row into one file")
    p.add_argument("--out", required=True, type=_out_file, help="file to write")
    p.add_argument("--format", choices=["parquet", "jsonl"], default="parquet")
    p.add_argument("--bucket", type=cc.bucket_name(), help=bucket_help)
    p.set_defaults(func=_cmd_archive_export)
