"""Firestore limits against Google's emulator: the pre-check, the bisect fallback, SIGKILL.

Reference for "refused": the emulator itself (or the client library in front of it). Each
limit the emulator enforces is probed exactly at the limit (accepted) and one byte over
(refused), and ``firestore_limits.check_document`` must agree on both sides.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from datetime import UTC, datetime

import pytest
from google.api_core import exceptions as gexc

from ctscan_ops.feedback import firestore_limits as fl
from ctscan_ops.feedback import migrate, schema, source
from ctscan_ops.feedback.migrate import Target
from ctscan_ops.sandbox.worlds.feedback import generate_feedback_db

T = Target()
START = datetime(2025, 6, 1, tzinfo=UTC)  # as the conftest's worlds
END = datetime(2025, 10, 1, tzinfo=UTC)
NAME = "feedback/sqlite-0000000001"


def _write(client, doc) -> str | None:
    """None when the emulator stores ``doc``, else the error text."""
    batch = client.batch()
    try:
        batch.set(client.collection("feedback").document("sqlite-0000000001"), doc)
        batch.commit()
    except (gexc.GoogleAPIError, ValueError, TypeError, UnicodeError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


ENFORCED = [  # (at the limit, one over, kind)
    (
        {"a": "a" * 500_000, "b": "b" * 548_495},
        {"a": "a" * 500_000, "b": "b" * 548_496},
        fl.DOCUMENT_TOO_LARGE,
    ),
    ({"u": "a" * 1_048_487}, {"u": "a" * 1_048_488}, fl.VALUE_TOO_LONG),
    ({"k" * 1500: 1}, {"k" * 1501: 1}, fl.FIELD_PATH_TOO_LONG),
    ({"m": {"k" * 1498: 1}}, {"m": {"k" * 1499: 1}}, fl.FIELD_PATH_TOO_LONG),
    ({"i": 2**63 - 1}, {"i": 2**63}, fl.INTEGER_OUT_OF_RANGE),
    ({"i": -(2**63)}, {"i": -(2**63) - 1}, fl.INTEGER_OUT_OF_RANGE),
    ({"m": {"___": 1}}, {"m": {"__x__": 1}}, fl.FIELD_NAME_INVALID),
    ({"m": {"x": 1}}, {"m": {"": 1}}, fl.FIELD_NAME_INVALID),
    ({"s": "é"}, {"s": "\udce9"}, fl.INVALID_UTF8),
    ({"a": [1, {"b": [2]}]}, {"a": [[1]]}, fl.NESTED_ARRAY),
]


@pytest.mark.parametrize(("ok", "bad", "kind"), ENFORCED)
def test_pre_check_agrees_with_the_emulator_on_both_sides(fs_client, ok, bad, kind):
    assert fl.check_document(NAME, ok)[1] == []
    assert _write(fs_client, ok) is None
    assert [v.kind for v in fl.check_document(NAME, bad)[1]] == [kind]
    assert _write(fs_client, bad) is not None


def _nest(levels: int) -> dict:
    d: object = 1
    for _ in range(levels):
        d = {"a": d}
    return {"x": d}


def test_depth_20_accepted_21_refused_by_both(fs_client):
    assert fl.check_document(NAME, _nest(fl.MAX_DEPTH))[1] == []
    assert _write(fs_client, _nest(fl.MAX_DEPTH)) is None
    assert fl.check_document(NAME, _nest(fl.MAX_DEPTH + 1))[1][0].kind == fl.TOO_DEEP
    assert "invalid nested entity" in _write(fs_client, _nest(fl.MAX_DEPTH + 1))


def test_field_count_is_pre_checked_though_the_emulator_accepts_more(fs_client):
    many = {"m": {f"k{i}": 1 for i in range(fl.MAX_FIELDS)}}
    assert _write(fs_client, many) is None  # documented limit, not enforced by the emulator
    assert fl.check_document(NAME, many)[1][0].kind == fl.TOO_MANY_FIELDS


BIG_NOTE = "n" * 1_100_000


def _add_bad_rows(db, ids: list[int]) -> dict[int, str]:
    """Turn the rows ``ids`` (valid ones) into the issue's bad rows; returns id -> reason."""
    kinds = [
        ("user_note", BIG_NOTE, fl.VALUE_TOO_LONG),
        ("image_stats", '{"mean": 100000000000000000000}', fl.INTEGER_OUT_OF_RANGE),
        ("image_stats", json.dumps({"k" * 1600: 1.0}), fl.FIELD_PATH_TOO_LONG),
        ("user_note", sqlite3.Binary(b"\xff\x00binary"), schema.BINARY_TEXT),
        ("user_note", "INVALID_UTF8", fl.INVALID_UTF8),
    ]
    out = {}
    with closing(sqlite3.connect(db)) as conn:
        for i, row_id in enumerate(ids):
            col, value, reason = kinds[i % len(kinds)]
            if value == "INVALID_UTF8":
                conn.execute(
                    f"UPDATE feedback SET {col} = CAST(X'6361669fff' AS TEXT) WHERE id = ?",
                    (row_id,),
                )
            else:
                conn.execute(f"UPDATE feedback SET {col} = ? WHERE id = ?", (value, row_id))
            out[row_id] = reason
        conn.commit()
    return out


def _valid_ids(db, n, rng) -> list[int]:
    ids = [r.id for r in source.iter_rows(db) if isinstance(schema.classify(r), schema.Normalised)]
    return sorted(rng.sample(ids, n))


@pytest.fixture
def bad_db(tmp_path):
    db = tmp_path / "bad.db"
    generate_feedback_db(db, seed=5, n_rows=300, start=START, end=END)
    bad = _add_bad_rows(db, _valid_ids(db, 10, random.Random(1)))
    return db, bad


def _collections(client):
    docs = {s.id for s in client.collection(T.collection).select([]).stream()}
    quarantine = {s.id: s.to_dict() for s in client.collection(T.quarantine).stream()}
    return docs, quarantine


def _expected_good(db) -> set[str]:
    return {
        out.doc_id
        for r in source.iter_rows(db)
        if isinstance(out := schema.classify(r), schema.Normalised)
    }


def test_bad_rows_are_quarantined_before_writing_and_the_rest_lands(fs_client, bad_db):
    db, bad = bad_db
    rep = migrate.migrate(fs_client, db, batch_size=100)
    docs, quarantine = _collections(fs_client)
    assert rep.bisected == 0
    assert docs == _expected_good(db)
    for row_id, reason in bad.items():
        rec = quarantine[schema.doc_id_for(row_id)]
        assert rec["reason"] == reason, rec["detail"]
        assert "b'" not in rec["detail"]
    assert rep.rows_read == 300 == len(docs) + len(quarantine)


def test_without_the_pre_check_firestore_refusals_are_bisected_to_the_row(fs_client, bad_db):
    db, bad = bad_db
    off = {fl.DOCUMENT_TOO_LARGE, fl.VALUE_TOO_LONG, fl.FIELD_PATH_TOO_LONG}
    off |= {fl.INTEGER_OUT_OF_RANGE, fl.INVALID_UTF8}
    commits = []
    rep = migrate.migrate(
        fs_client,
        db,
        batch_size=100,
        skip_checks=off,
        on_commit=lambda r: commits.append(r.last_id),
    )
    docs, quarantine = _collections(fs_client)
    assert docs == _expected_good(db)  # every good row landed, the batch mates of bad ones too
    refused = {i for i, r in bad.items() if r != schema.BINARY_TEXT}
    assert rep.reasons[fl.REJECTED_BY_FIRESTORE] == len(refused) == 8
    # the server refused 4 (bisected); the client refused the integer and the surrogates at set()
    assert rep.bisected == sum(bad[i] in (fl.VALUE_TOO_LONG, fl.FIELD_PATH_TOO_LONG) for i in bad)
    texts = {
        fl.VALUE_TOO_LONG: "longer than 1048487 bytes",
        fl.FIELD_PATH_TOO_LONG: "invalid nested entity",
        fl.INTEGER_OUT_OF_RANGE: "Value out of range",
        fl.INVALID_UTF8: "UnicodeEncodeError",
    }
    for row_id in refused:
        rec = quarantine[schema.doc_id_for(row_id)]
        assert rec["reason"] == fl.REJECTED_BY_FIRESTORE
        assert texts[bad[row_id]] in rec["detail"], rec["detail"]
    assert commits == sorted(commits)  # bisected halves commit in id order, each checkpointed
    ck = migrate.read_checkpoint(fs_client, T, migrate.checkpoint_key("sqlite"))
    assert ck["migrated"] == len(docs) and ck["quarantined"] == len(quarantine)


def test_commits_are_bounded_in_bytes(fs_client, tmp_path):
    """Six 900 kB notes (each valid) do not fit one 4 MiB emulator message: split, all land."""
    db = tmp_path / "big.db"
    generate_feedback_db(db, seed=6, n_rows=40, start=START, end=END)
    ids = _valid_ids(db, 6, random.Random(2))
    with closing(sqlite3.connect(db)) as conn:
        conn.executemany(
            "UPDATE feedback SET user_note = ? WHERE id = ?", [("x" * 900_000, i) for i in ids]
        )
        conn.commit()
    rep = migrate.migrate(fs_client, db, batch_size=499)
    assert rep.bisected == 0 and rep.commits >= 2
    assert _collections(fs_client)[0] == _expected_good(db)


# ------------------------------------------------------------------ SIGKILL with bad rows
N_GOOD = 20_000


@pytest.mark.slow
def test_sigkill_with_bad_rows_among_20k_then_completion_is_exact(firestore_emulator, tmp_path):
    """>= 10 SIGKILLs at random points of a migration holding the issue's bad rows."""
    from google.cloud import firestore

    rng = random.Random(15)
    db = tmp_path / "kill.db"
    generate_feedback_db(db, seed=15, n_rows=N_GOOD + 1000, start=START, end=END)
    bad = _add_bad_rows(db, _valid_ids(db, 25, rng))
    expected_good = _expected_good(db)
    assert len(expected_good) >= N_GOOD
    project = f"kill20k-{rng.randrange(10**9)}"
    client = firestore.Client(project=project)
    env = dict(os.environ, FIRESTORE_EMULATOR_HOST=str(firestore_emulator))
    cmd = [sys.executable, "-m", "ctscan_ops.feedback.migrate", "--db", str(db)]
    cmd += ["--project", project, "--batch-size", "499"]
    t0 = time.perf_counter()
    kills, last_seen = 0, -1
    while kills < 10:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        for _ in range(rng.randrange(1, 5)):  # a few commits, then a random moment
            if not proc.stdout.readline():
                break
        time.sleep(rng.uniform(0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        proc.stdout.close()
        proc.stderr.close()
        kills += 1
        ck = migrate.read_checkpoint(client, T, migrate.checkpoint_key("sqlite")) or {}
        assert ck.get("last_id", 0) >= last_seen  # never goes back
        last_seen = ck.get("last_id", 0)
        if ck:
            assert ck["migrated"] + ck["quarantined"] == sum(
                1 for r in source.iter_rows(db, 0, ck["last_id"])
            )  # counts exact at the moment of death
    assert 0 < last_seen < N_GOOD  # every kill landed mid-run
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    docs, quarantine = _collections(client)
    assert docs == expected_good  # every good row exactly once (ids are the identity)
    for row_id, reason in bad.items():
        assert quarantine[schema.doc_id_for(row_id)]["reason"] == reason
    ck = migrate.read_checkpoint(client, T, migrate.checkpoint_key("sqlite"))
    assert ck["migrated"] == len(docs) and ck["quarantined"] == len(quarantine)
    assert ck["migrated"] + ck["quarantined"] == N_GOOD + 1000
    print(f"\n{kills} kills + completion in {time.perf_counter() - t0:.1f} s")
