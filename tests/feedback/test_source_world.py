"""The streaming reader (id order, duplicate marking, errors) and the world generator."""

from __future__ import annotations

import sqlite3
from collections import Counter
from contextlib import closing
from datetime import datetime, timedelta

import pytest

from ctscan_ops.feedback import schema, source
from ctscan_ops.sandbox.worlds import feedback as world

from .conftest import END, START


def _db(tmp_path, rows, ddl=source.LEGACY_DDL):
    path = tmp_path / "f.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(ddl)
        conn.executemany(f"INSERT INTO feedback VALUES ({','.join('?' * 10)})", rows)
        conn.commit()
    return path


def test_rows_stream_in_id_order_with_duplicates_marked(tmp_path):
    r = ("2025-07-01T00:00:00+00:00", "p/a.png", "normal", 0.9, 1, None, None, None, None)
    other = ("2025-07-01T00:00:01+00:00", "p/b.png", "normal", 0.9, 1, None, None, None, None)
    # ids deliberately inserted out of order; 4 and 9 repeat id 2's content, NULLs included
    path = _db(tmp_path, [(9, *r), (2, *r), (5, *other), (4, *r)])
    rows = list(source.iter_rows(path))
    assert [x.id for x in rows] == [2, 4, 5, 9]
    assert [x.duplicate_of for x in rows] == [None, 2, None, 2]
    # the window is computed over the whole table, so a resumed read still knows id 2
    assert [(x.id, x.duplicate_of) for x in source.iter_rows(path, after_id=4)] == [
        (5, None),
        (9, 2),
    ]
    assert [x.id for x in source.iter_rows(path, after_id=2, upto_id=5)] == [4, 5]


def test_rows_differing_in_one_column_are_not_duplicates(tmp_path):
    base = ["2025-07-01T00:00:00+00:00", "p/a.png", "normal", 0.9, 1, None, None, None, None]
    rows = []
    for i, col in enumerate(range(9)):
        changed = list(base)
        changed[col] = "x" if not isinstance(base[col], float | int) else 0.5
        if base[col] is None:
            changed[col] = "note"
        rows.append((i + 2, *changed))
    path = _db(tmp_path, [(1, *base), *rows])
    assert all(r.duplicate_of is None for r in source.iter_rows(path))


def test_missing_database_and_wrong_table_give_clear_errors(tmp_path):
    with pytest.raises(source.SourceError, match="not found"):
        list(source.iter_rows(tmp_path / "nope.db"))
    bad = tmp_path / "bad.db"
    with closing(sqlite3.connect(bad)) as conn:
        conn.execute("CREATE TABLE feedback (id INTEGER PRIMARY KEY, timestamp TEXT)")
    with pytest.raises(source.SourceError, match="missing column"):
        list(source.iter_rows(bad))


def test_reader_never_writes_the_source(tmp_path):
    path = _db(tmp_path, [(1, "t", "p", "normal", 0.5, 1, None, None, None, None)])
    with closing(source.connect_readonly(path)) as conn, pytest.raises(sqlite3.OperationalError):
        conn.execute("DELETE FROM feedback")


def _dump(path):
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("SELECT * FROM feedback ORDER BY id").fetchall()


def test_world_is_deterministic_for_a_seed(tmp_path):
    kw = dict(n_rows=600, start=START, end=END)
    a = world.generate_feedback_db(tmp_path / "a.db", seed=5, **kw)
    b = world.generate_feedback_db(tmp_path / "b.db", seed=5, **kw)
    world.generate_feedback_db(tmp_path / "c.db", seed=6, **kw)
    assert _dump(tmp_path / "a.db") == _dump(tmp_path / "b.db")
    assert a["injected"] == b["injected"]
    assert _dump(tmp_path / "a.db") != _dump(tmp_path / "c.db")


def test_world_has_every_bad_kind_and_the_quarantine_matches_the_summary(world_db):
    path, summary = world_db
    assert set(summary["injected"]) == set(world.BAD_KINDS)
    assert all(n > 0 for n in summary["injected"].values())
    got = Counter()
    classes = Counter()
    months = set()
    naive = 0
    for r in source.iter_rows(path):
        out = schema.classify(r)
        if isinstance(out, schema.Rejected):
            got[out.reason] += 1
        else:
            classes[out.doc["predicted_class"]] += 1
            months.add(out.doc["timestamp"].strftime("%Y-%m"))
            naive += out.doc["timestamp_assumed_utc"]
            assert START <= out.doc["timestamp"] <= END
    assert dict(got) == summary["injected"]
    assert sum(classes.values()) == summary["valid_expected"]
    assert set(classes) == set(schema.CLASSES)  # a class mix, not one class
    assert len(months) >= 4  # spread over months
    assert naive > 0  # naive timestamps present and migrated


def test_world_correctness_is_plausible(world_db):
    path, _ = world_db
    with closing(sqlite3.connect(path)) as conn:
        (acc_hi,) = conn.execute(
            "SELECT AVG(is_correct) FROM feedback WHERE predicted_confidence >= 0.9"
            " AND is_correct IN (0, 1)"
        ).fetchone()
        (acc_lo,) = conn.execute(
            "SELECT AVG(is_correct) FROM feedback WHERE predicted_confidence < 0.7"
            " AND predicted_confidence >= 0 AND is_correct IN (0, 1)"
        ).fetchone()
    assert 0.8 < acc_hi < 1.0 and acc_lo < acc_hi  # confident predictions are right more often


def test_world_rejects_naive_or_reversed_range(tmp_path):
    with pytest.raises(ValueError, match="aware start < end"):
        world.generate_feedback_db(tmp_path / "x.db", seed=1, n_rows=10, start=END, end=START)
    with pytest.raises(ValueError, match="aware"):
        world.generate_feedback_db(
            tmp_path / "x.db", seed=1, n_rows=10, start=datetime(2025, 1, 1), end=END
        )


def test_world_hook_writes_the_settings_path_deterministically(tmp_path, monkeypatch):
    from ctscan_ops.config import get_settings
    from ctscan_ops.sandbox.world import WorldContext

    monkeypatch.setattr(world, "DEFAULT_ROWS", 300)
    settings = get_settings({"CTSCAN_DATA_DIR": str(tmp_path / "data")})

    def run(data_dir):
        ctx = WorldContext(
            seed=7,
            start=START,
            end=END,
            data_dir=data_dir,
            settings=settings,
            progress=lambda msg: None,
        )
        return world.generate(ctx)

    a = run(tmp_path / "data")
    path = tmp_path / "data" / "feedback" / "feedback.db"
    assert a["path"] == str(path) == str(settings.feedback_sqlite_path)
    assert a["rows"] == 300
    # months of history even though the world window is shorter than HISTORY_DAYS
    assert datetime.fromisoformat(a["start"]) <= END - timedelta(days=world.HISTORY_DAYS)
    run(tmp_path / "other")
    assert _dump(path) == _dump(tmp_path / "other" / "feedback" / "feedback.db")
