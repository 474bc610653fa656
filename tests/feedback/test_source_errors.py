"""Unusable SQLite sources give a typed SourceError naming the file; nothing is ever created."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest

from ctscan_ops.feedback import source, store
from ctscan_ops.feedback.source import SourceError


def _fresh_tree(tmp_path):
    return sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))


def test_missing_file_and_missing_directory_create_nothing(tmp_path):
    for path in (tmp_path / "nope.db", tmp_path / "x" / "nope.db"):
        with pytest.raises(SourceError) as err:
            list(source.iter_rows(path))
        assert err.value.problem == "missing" and err.value.path == path
        assert str(path) in str(err.value)
        with pytest.raises(SourceError, match="not found"):
            store.create_feedback_store("sqlite", sqlite_path=path, create=False)
    assert _fresh_tree(tmp_path) == []  # no directory, no empty database


def test_directory_binary_and_empty_files(tmp_path):
    with pytest.raises(SourceError) as err:
        source.summarise(tmp_path)
    assert err.value.problem == "not_a_file"
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"\x00\xffnot sqlite at all" * 100)
    with pytest.raises(SourceError, match="not a SQLite database") as err:
        list(source.iter_rows(junk))
    assert err.value.problem == "not_sqlite" and err.value.path == junk
    with pytest.raises(SourceError, match="not a SQLite database"):
        store.SqliteFeedbackStore(junk, create=False)
    with pytest.raises(SourceError, match="not a usable SQLite database"):
        store.SqliteFeedbackStore(junk)  # the API's path: still a clear, typed error
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")  # SQLite reads an empty file as an empty database
    with pytest.raises(SourceError, match="no table 'feedback'") as err:
        source.count_after(empty, 0)
    assert err.value.problem == "wrong_schema"


def test_wrong_schema_names_the_missing_columns(tmp_path):
    bad = tmp_path / "bad.db"
    with closing(sqlite3.connect(bad)) as conn:
        conn.execute("CREATE TABLE feedback (id INTEGER PRIMARY KEY, timestamp TEXT, note TEXT)")
    with pytest.raises(SourceError) as err:
        source.get_row(bad, 1)
    assert err.value.problem == "wrong_schema"
    assert "'image_path'" in str(err.value) and "'user_note'" in str(err.value)


def test_read_only_stats_on_an_existing_database(tmp_path):
    path = tmp_path / "fb.db"
    api = store.SqliteFeedbackStore(path)
    api.save_feedback(
        image_path="a.png", predicted_class="normal", predicted_confidence=0.9, is_correct=True
    )
    ro = store.create_feedback_store("sqlite", sqlite_path=path, create=False)
    assert ro.get_stats()["total_feedback"] == 1


def test_undecodable_text_does_not_stop_the_stream(tmp_path):
    path = tmp_path / "fb.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(source.LEGACY_DDL)
        conn.execute("INSERT INTO feedback (id, user_note) VALUES (1, CAST(X'ff' AS TEXT))")
        conn.execute("INSERT INTO feedback (id, user_note) VALUES (2, 'fine')")
        conn.commit()
    rows = list(source.iter_rows(path))
    assert [r.id for r in rows] == [1, 2]
    assert rows[0].user_note == "\udcff" and rows[1].user_note == "fine"
