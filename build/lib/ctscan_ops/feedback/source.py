"""Streaming, read-only access to the SQLite feedback database in id order.

Duplicate detection happens here, in SQL: a window ``MIN(id) OVER (PARTITION BY <all columns
but id>)`` gives every row the lowest id with identical content. SQLite sorts on its own (disk-
spillable) sorter, so the Python side stays constant-memory and needs no state to survive a
resume: the answer for row N does not depend on which rows were already migrated.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from ctscan_ops.feedback.schema import COLUMNS, SourceRow

_CONTENT = ", ".join(c for c in COLUMNS if c != "id")
_STREAM_SQL = f"""
SELECT {", ".join(COLUMNS)}, first_id FROM (
    SELECT {", ".join(COLUMNS)}, MIN(id) OVER (PARTITION BY {_CONTENT}) AS first_id
    FROM feedback
)
WHERE id > ? AND id <= ?
ORDER BY id
"""

# The original DDL (src/ct_scan_mlops/feedback_store.py). World generation uses the docs variant
# without NOT NULL, which is how real legacy files come to hold NULLs in required columns.
ORIGINAL_DDL = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp TEXT NOT NULL,
    image_path TEXT NOT NULL,
    predicted_class TEXT NOT NULL,
    predicted_confidence REAL NOT NULL,
    is_correct BOOLEAN NOT NULL,
    correct_class TEXT,
    user_note TEXT,
    confidence_rating TEXT,
    image_stats TEXT
)
"""
LEGACY_DDL = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp TEXT,
    image_path TEXT,
    predicted_class TEXT,
    predicted_confidence REAL,
    is_correct BOOLEAN,
    correct_class TEXT,
    user_note TEXT,
    confidence_rating TEXT,
    image_stats TEXT
)
"""

MAX_ID = 10**10 - 1


class SourceError(RuntimeError):
    """The SQLite source is missing or is not a feedback database."""


def connect_readonly(path: Path | str) -> sqlite3.Connection:
    """Open read-only (the migration must never alter its source); clear error when missing."""
    db = Path(path)
    if not db.is_file():
        raise SourceError(f"feedback database not found: {db}")
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    cols = [r[1] for r in conn.execute("PRAGMA table_info(feedback)")]
    missing = [c for c in COLUMNS if c not in cols]
    if missing:
        conn.close()
        raise SourceError(f"{db}: table 'feedback' missing column(s) {missing} (found {cols})")
    return conn


def iter_rows(
    path: Path | str, after_id: int = 0, upto_id: int = MAX_ID, fetch: int = 1000
) -> Iterator[SourceRow]:
    """Yield rows with ``after_id < id <= upto_id`` in id order, duplicates marked."""
    with closing(connect_readonly(path)) as conn:
        cur = conn.execute(_STREAM_SQL, (after_id, upto_id))
        while chunk := cur.fetchmany(fetch):
            for rec in chunk:
                first = rec[-1]
                yield SourceRow(*rec[:-1], duplicate_of=first if first != rec[0] else None)


@dataclass(frozen=True)
class SourceSummary:
    rows: int
    min_id: int | None
    max_id: int | None
    per_class: dict[str, int]


def summarise(path: Path | str) -> SourceSummary:
    """Row count, id range and raw per-class counts (what the operator sees of the source)."""
    with closing(connect_readonly(path)) as conn:
        n, lo, hi = conn.execute("SELECT COUNT(*), MIN(id), MAX(id) FROM feedback").fetchone()
        per_class = {
            str(k): int(v)
            for k, v in conn.execute(
                "SELECT predicted_class, COUNT(*) FROM feedback GROUP BY predicted_class"
            )
        }
    return SourceSummary(int(n), lo, hi, per_class)


def count_after(path: Path | str, after_id: int) -> int:
    """Rows with id > ``after_id``: what an incremental sync still has to move."""
    with closing(connect_readonly(path)) as conn:
        return int(
            conn.execute("SELECT COUNT(*) FROM feedback WHERE id > ?", (after_id,)).fetchone()[0]
        )


def get_row(path: Path | str, row_id: int) -> SourceRow | None:
    """One row by id as stored (no duplicate marking), or None."""
    with closing(connect_readonly(path)) as conn:
        rec = conn.execute(
            f"SELECT {', '.join(COLUMNS)} FROM feedback WHERE id = ?", (row_id,)
        ).fetchone()
    return None if rec is None else SourceRow(*rec)
