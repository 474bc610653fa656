"""The migration engine against the real Firestore emulator, including fault injection.

Reference for "correct": every row of the source run through ``schema.classify`` (the single
definition of valid), compared document by document with what Firestore holds, read back by a
plain full-collection ``stream()`` (not the parity module under test elsewhere).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from google.cloud.firestore_v1.base_query import FieldFilter

from ctscan_ops.feedback import archive as arch
from ctscan_ops.feedback import migrate, schema, source
from ctscan_ops.feedback.migrate import MigrationError, Target

T = Target()


def expected_sets(db, lo=0, hi=source.MAX_ID):
    docs, quarantine = {}, {}
    for r in source.iter_rows(db, lo, hi):
        out = schema.classify(r)
        if isinstance(out, schema.Normalised):
            docs[out.doc_id] = schema.content_hash(out.doc)
        else:
            quarantine[out.doc_id] = schema.content_hash(out.record())
    return docs, quarantine


def actual_set(client, collection):
    return {s.id: schema.content_hash(s.to_dict()) for s in client.collection(collection).stream()}


def assert_exact(client, db, lo=0, hi=source.MAX_ID):
    docs, quarantine = expected_sets(db, lo, hi)
    got_docs, got_q = actual_set(client, T.collection), actual_set(client, T.quarantine)
    missing = sorted(set(docs) - set(got_docs))[:5]
    extra = sorted(set(got_docs) - set(docs))[:5]
    assert not missing and not extra, f"missing {missing} extra {extra}"
    assert got_docs == docs  # same ids, same content: zero losses, zero duplicates
    assert got_q == quarantine
    assert not set(got_docs) & set(got_q)  # a row is migrated or quarantined, never both
    return docs, quarantine


def test_full_migration_matches_the_normalised_source_exactly(fs_client, world_db):
    db, summary = world_db
    rep = migrate.migrate(fs_client, db, batch_size=250)
    docs, quarantine = assert_exact(fs_client, db)
    assert rep.rows_read == summary["rows"] == len(docs) + len(quarantine)
    assert rep.migrated == summary["valid_expected"]
    assert dict(rep.reasons) == summary["injected"]
    assert rep.commits == -(-summary["rows"] // 250)
    ck = migrate.read_checkpoint(fs_client, T, rep.checkpoint_key)
    assert ck["last_id"] == rep.last_id == summary["rows"]
    assert (ck["migrated"], ck["quarantined"]) == (len(docs), len(quarantine))
    assert ck["reasons"] == summary["injected"]
    dup = FieldFilter("reason", "==", schema.DUPLICATE)
    q = fs_client.collection(T.quarantine).where(filter=dup).limit(1)
    rec = next(iter(q.stream())).to_dict()
    assert rec["raw"]["image_path"] and "same content as id" in rec["detail"]


def test_rerun_is_a_no_op_and_a_reset_rerun_overwrites_without_duplicates(fs_client, world_db):
    db, summary = world_db
    first = migrate.migrate(fs_client, db, batch_size=400)
    again = migrate.migrate(fs_client, db, batch_size=400)
    assert again.rows_read == 0 and again.commits == 0
    # forget the checkpoint: everything is rewritten under the same ids
    fs_client.collection(T.state).document(first.checkpoint_key).delete()  # forget, keep docs
    redo = migrate.migrate(fs_client, db, batch_size=400)
    assert redo.rows_read == summary["rows"]
    assert_exact(fs_client, db)


def test_crash_after_a_commit_resumes_from_the_checkpoint(fs_client, world_db):
    db, _ = world_db
    seen = []

    def crash(rep):
        seen.append(rep.last_id)
        if rep.commits == 3:
            raise KeyboardInterrupt  # the process dies right after its third commit

    with pytest.raises(KeyboardInterrupt):
        migrate.migrate(fs_client, db, batch_size=100, on_commit=crash)
    ck = migrate.read_checkpoint(fs_client, T, migrate.checkpoint_key("sqlite"))
    assert ck["last_id"] == seen[-1] == 300
    assert_exact(fs_client, db, hi=300)  # exactly the committed prefix, nothing beyond
    rest = migrate.migrate(fs_client, db, batch_size=100)
    assert rest.started_after == 300 and rest.rows_read == 700
    assert_exact(fs_client, db)


def test_id_range_chunks_have_their_own_checkpoints_and_union_to_the_whole(fs_client, world_db):
    db, summary = world_db
    reps = [migrate.migrate(fs_client, db, lo=lo, hi=lo + 400) for lo in (800, 0, 400)]
    assert sorted(r.rows_read for r in reps) == [200, 400, 400]
    assert len({r.checkpoint_key for r in reps}) == 3
    assert_exact(fs_client, db)
    assert sum(r.quarantined for r in reps) == sum(summary["injected"].values())


def test_batch_size_must_leave_room_for_the_checkpoint(fs_client, world_db):
    with pytest.raises(ValueError, match=r"1\.\.499"):
        migrate.migrate(fs_client, world_db[0], batch_size=500)


# The small world runs 2025-06-01 .. 2025-10-01: at this time rows up to 2025-08-17 are past
# 90 days, so the SIGKILL trials below archive about 60 % of the valid rows on the way.
KILL_NOW = datetime(2025, 11, 15, tzinfo=UTC)


def assert_exact_archived(client, archive, db, now, hi=source.MAX_ID):
    """Like assert_exact, with rows past retention expected in the archive (by hand rule).

    Archive rows beyond ``hi`` may exist only as parts of a commit that never happened (killed
    between upload and commit): their content must be right, and the next run settles them.
    """
    docs, old, quarantine = {}, {}, {}
    for r in source.iter_rows(db):
        out = schema.classify(r)
        if isinstance(out, schema.Normalised):
            past = out.doc["timestamp"] + timedelta(days=90) <= now
            (old if past else docs)[out.doc_id] = (r.id, schema.content_hash(out.doc))
        else:
            quarantine[out.doc_id] = (r.id, schema.content_hash(out.record()))

    def upto(d):
        return {k: h for k, (i, h) in d.items() if i <= hi}

    got = {s.id: schema.content_hash(s.to_dict()) for s in client.collection(T.collection).stream()}
    got_q = {
        s.id: schema.content_hash(s.to_dict()) for s in client.collection(T.quarantine).stream()
    }
    rows = [r for p in archive.parts() for r in archive.read(p.name)]
    got_old = {r["doc_id"]: schema.content_hash(arch.document_of(r)) for r in rows}
    assert len(got_old) == len(rows), "a row archived twice"
    assert got == upto(docs) and got_q == upto(quarantine)
    assert {k: h for k, h in got_old.items() if int(k[-10:]) <= hi} == upto(old)
    beyond = {k: h for k, h in got_old.items() if int(k[-10:]) > hi}
    assert all(old[k][1] == h for k, h in beyond.items())  # uncommitted, but right
    return len(beyond)


def _run_cli(db, project, env, batch_size=100, extra=()):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ctscan_ops.feedback.migrate",
            "--db",
            str(db),
            "--project",
            project,
            "--batch-size",
            str(batch_size),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )


def settled_checkpoint(client, quiet: float = 0.3, timeout: float = 10.0) -> dict:
    """The checkpoint once it stopped changing.

    A commit whose request was already sent when SIGKILL hit is still applied by the server,
    a moment later: reading the checkpoint and then the documents (not one snapshot) could
    straddle it. Data and checkpoint stay atomic; this only waits for the last commit to land.
    """
    key = migrate.checkpoint_key("sqlite")
    deadline = time.monotonic() + timeout
    ck = migrate.read_checkpoint(client, T, key) or {}
    while time.monotonic() < deadline:
        time.sleep(quiet)
        again = migrate.read_checkpoint(client, T, key) or {}
        if again == ck:
            return ck
        ck = again
    raise AssertionError(f"checkpoint still moving after {timeout} s: {ck}")


@pytest.mark.slow
def test_sigkill_at_random_points_then_rerun_gives_the_exact_set(
    firestore_emulator, gcs_emulator, small_db
):
    """>= 10 trials, each killed with SIGKILL at a different point, then resumed to completion.

    With archiving in the path: about 60 % of the valid rows are past retention at KILL_NOW and
    go to Parquet parts written before each commit; a kill between a part and its commit is
    part of the random points (and forced in the next test).
    """
    from google.cloud import firestore

    from ctscan_ops.resources import make_storage_client

    db, summary = small_db
    bucket = make_storage_client("kill", gcs_emulator).create_bucket(
        f"kill-{random.randrange(10**9)}"
    )
    n_commits = -(-summary["rows"] // 20)
    rng = random.Random(8)
    # kill after k observed commits plus a random delay, so the signal lands during batch
    # building, during the commit RPC or between commit and report; k=0 kills during start-up
    points = [0, 1, 3, 5, 8, 12, 15, 19, 23, 27, 29]
    env = dict(os.environ, FIRESTORE_EMULATOR_HOST=str(firestore_emulator))
    killed_at = []
    for trial, k in enumerate(points):
        project = f"kill-{trial}-{rng.randrange(10**6)}"
        prefix = f"archive/{project}"
        archive = arch.FeedbackArchive(bucket, prefix)
        extra = ("--archive-bucket", bucket.name, "--archive-prefix", prefix)
        proc = _run_cli(
            db, project, env, batch_size=20, extra=(*extra, "--now", KILL_NOW.isoformat())
        )
        commits = 0
        while commits < k:
            line = proc.stdout.readline()
            assert line, f"trial {trial}: child ended early: {proc.stderr.read()}"
            commits += line.startswith("committed")
        time.sleep(rng.uniform(0, 0.05))
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        proc.stdout.close()
        proc.stderr.close()
        client = firestore.Client(project=project)
        ck = settled_checkpoint(client)
        last = ck.get("last_id", 0)
        killed_at.append(last)
        # the checkpoint and the data agree at the moment of death
        orphans = assert_exact_archived(client, archive, db, KILL_NOW, hi=last)
        assert settled_checkpoint(client) == ck  # nothing landed while we looked
        if k == 0:
            continue  # a start-up kill proves nothing more after a full run than trial 1 does
        rest = migrate.migrate(client, db, batch_size=20, archive=archive, now=KILL_NOW)
        assert rest.started_after == last
        assert rest.archive_parts_reused == (1 if orphans else 0)
        assert assert_exact_archived(client, archive, db, KILL_NOW) == 0
        ck = migrate.read_checkpoint(client, T, migrate.checkpoint_key("sqlite"))
        assert ck["archived"] > 200
        assert ck["migrated"] + ck["archived"] + ck["quarantined"] == summary["rows"]  # not doubled
        assert ck["reasons"] == summary["injected"]
    assert len(set(killed_at[1:])) >= 8, killed_at  # really different points
    assert all(x > 0 for x in killed_at[1:]), killed_at
    # a late kill may land after the child's last commit (it has nothing left to do then)
    assert sum(x < summary["rows"] for x in killed_at[1:]) >= 8, killed_at
    assert n_commits == 30  # the kill points above span the whole run


@pytest.mark.slow
def test_sigkill_between_archive_part_and_its_commit(firestore_emulator, gcs_emulator, small_db):
    """The child pauses after each durable part; SIGKILL lands before that part's commit."""
    from google.cloud import firestore

    from ctscan_ops.feedback import parity
    from ctscan_ops.resources import make_storage_client

    db, summary = small_db
    bucket = make_storage_client("kill", gcs_emulator).create_bucket(
        f"gap-{random.randrange(10**9)}"
    )
    env = dict(os.environ, FIRESTORE_EMULATOR_HOST=str(firestore_emulator))
    for trial, k in enumerate((1, 4, 9)):  # the k-th part of the run
        project = f"gap-{trial}-{random.randrange(10**6)}"
        archive = arch.FeedbackArchive(bucket, f"archive/{project}")
        extra = ["--archive-bucket", bucket.name, "--archive-prefix", f"archive/{project}"]
        extra += ["--now", KILL_NOW.isoformat(), "--pause-after-part", str(k)]
        proc = _run_cli(db, project, env, batch_size=20, extra=extra)
        parts = 0
        while parts < k:
            line = proc.stdout.readline()
            assert line, f"trial {trial}: child ended early: {proc.stderr.read()}"
            parts += line.startswith("archived")
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        proc.stdout.close()
        proc.stderr.close()
        client = firestore.Client(project=project)
        last = settled_checkpoint(client).get("last_id", 0)
        assert assert_exact_archived(client, archive, db, KILL_NOW, hi=last) > 0  # the orphan
        (orphan,) = archive.parts(last)
        generation = orphan.generation
        rest = migrate.migrate(client, db, batch_size=20, archive=archive, now=KILL_NOW)
        assert rest.archive_parts_reused == 1 and rest.archive_orphans_dropped == 0
        assert bucket.get_blob(orphan.name).generation == generation  # verified, not rewritten
        assert assert_exact_archived(client, archive, db, KILL_NOW) == 0
        res = parity.firestore_parity(client, db, archive=archive, now=KILL_NOW)
        assert res.ok, res.problems()
        assert res.archived + res.firestore_in_prefix + res.firestore_quarantined == summary["rows"]


def test_endpoint_down_mid_run_fails_clearly_and_resumes_when_back(tcp_proxy, world_db):
    """The Firestore endpoint disappears after 4 commits; data and checkpoint stay consistent."""
    from google.cloud import firestore

    db, _ = world_db
    project = f"down-{random.randrange(10**9)}"
    direct = firestore.Client(project=project)  # straight to the emulator, for inspection
    os.environ["FIRESTORE_EMULATOR_HOST"] = tcp_proxy.address
    try:
        via_proxy = firestore.Client(project=project)

        def cut(rep):
            if rep.commits == 4:
                tcp_proxy.down()

        with pytest.raises(MigrationError) as err:
            migrate.migrate(via_proxy, db, batch_size=100, commit_deadline=3, on_commit=cut)
        msg = str(err.value)
        assert "ids 401..500" in msg and "still at id 400" in msg and "re-run to resume" in msg
    finally:
        os.environ["FIRESTORE_EMULATOR_HOST"] = tcp_proxy.upstream[0] + f":{tcp_proxy.upstream[1]}"
    ck = migrate.read_checkpoint(direct, T, migrate.checkpoint_key("sqlite"))
    assert ck["last_id"] == 400
    assert_exact(direct, db, hi=400)
    # still down: a re-run fails fast at the checkpoint read, changes nothing
    os.environ["FIRESTORE_EMULATOR_HOST"] = tcp_proxy.address
    try:
        again = firestore.Client(project=project)
        with pytest.raises(MigrationError, match="cannot read checkpoint"):
            migrate.migrate(again, db, batch_size=100, commit_deadline=2)
        tcp_proxy.up()
        done = migrate.migrate(again, db, batch_size=100, commit_deadline=10)
    finally:
        os.environ["FIRESTORE_EMULATOR_HOST"] = tcp_proxy.upstream[0] + f":{tcp_proxy.upstream[1]}"
    assert done.started_after == 400
    assert_exact(direct, db)


def test_cli_reports_progress_and_exit_codes(firestore_emulator, world_db, tmp_path):
    db, summary = world_db
    env = dict(os.environ, FIRESTORE_EMULATOR_HOST=str(firestore_emulator))
    proc = _run_cli(db, f"cli-{random.randrange(10**9)}", env, batch_size=499)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out.splitlines()[-1].startswith(f"done {summary['rows']} ")
    assert sum(line.startswith("committed") for line in out.splitlines()) == 3
    proc = _run_cli(tmp_path / "missing.db", "cli-x", env)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "not found" in err


def test_resume_against_a_replaced_database_is_refused(fs_client, world_db, small_db, tmp_path):
    import shutil

    db = tmp_path / "feedback.db"
    shutil.copy(small_db[0], db)
    migrate.migrate(fs_client, db, batch_size=499, max_rows=100)
    shutil.copy(world_db[0], db)  # a different file under the same path
    with pytest.raises(MigrationError, match="row 499 has different content"):
        migrate.migrate(fs_client, db, batch_size=499)
    assert migrate.reset_migration(fs_client, T) == 499
    assert migrate.read_checkpoint(fs_client, T, migrate.checkpoint_key("sqlite")) is None
    migrate.migrate(fs_client, db, batch_size=499)
    # nothing of the old file survives, not even rows it migrated that the new one quarantines
    assert_exact(fs_client, db)
