"""Rows past retention go to the Parquet archive, exactly once, and parity accounts for every row.

Reference for "correct": every source row through ``schema.classify`` and the retention rule
written out here by hand (``timestamp + 90 days <= now``), compared with a plain full read of
Firestore and of the archive bucket (not the parity module under test).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from ctscan_ops.feedback import archive as arch
from ctscan_ops.feedback import migrate, parity, schema, source
from ctscan_ops.feedback.migrate import Target
from ctscan_ops.resources import make_storage_client

T = Target()
# The world runs 2025-06-01 .. 2025-10-01: at this "now" rows up to 2025-08-17 are past 90 days.
NOW = datetime(2025, 11, 15, tzinfo=UTC)


@pytest.fixture
def archive(gcs_emulator):
    client = make_storage_client("fb-archive-test", gcs_emulator)
    bucket = client.create_bucket(f"fb-archive-{uuid.uuid4().hex[:10]}")
    return arch.FeedbackArchive(bucket)


def split_expected(db, now=NOW, lo=0, hi=source.MAX_ID):
    """(firestore docs, archived docs, quarantine) as {doc id: content hash}, by hand."""
    docs, old, quarantine = {}, {}, {}
    for r in source.iter_rows(db, lo, hi):
        out = schema.classify(r)
        if isinstance(out, schema.Normalised):
            past = out.doc["timestamp"] + timedelta(days=90) <= now
            (old if past else docs)[out.doc_id] = schema.content_hash(out.doc)
        else:
            quarantine[out.doc_id] = schema.content_hash(out.record())
    return docs, old, quarantine


def archived_rows(archive):
    """Every archived row by a plain listing of the bucket (duplicates kept, to be caught)."""
    rows = []
    for blob in archive.bucket.client.list_blobs(archive.bucket.name):
        rows += arch.decode(blob.download_as_bytes())
    return rows


def assert_exact(client, archive, db, now=NOW, hi=source.MAX_ID):
    docs, old, quarantine = split_expected(db, now, hi=hi)
    got = {s.id: schema.content_hash(s.to_dict()) for s in client.collection(T.collection).stream()}
    got_q = {
        s.id: schema.content_hash(s.to_dict()) for s in client.collection(T.quarantine).stream()
    }
    rows = archived_rows(archive)
    got_old = {r["doc_id"]: schema.content_hash(arch.document_of(r)) for r in rows}
    assert len(rows) == len(got_old), "a row archived twice"
    assert got == docs
    assert got_old == old
    assert got_q == quarantine
    for r in rows:  # the stored hash agrees with the columns
        assert r["content_sha256"] == schema.content_hash(arch.document_of(r))
    return docs, old, quarantine


def test_old_rows_are_archived_and_recent_rows_keep_their_ttl(fs_client, archive, world_db):
    db, summary = world_db
    rep = migrate.migrate(fs_client, db, batch_size=250, archive=archive, now=NOW)
    docs, old, quarantine = assert_exact(fs_client, archive, db)
    assert 200 < len(old) < summary["valid_expected"] - 200  # a real mix of both
    assert rep.archived == len(old) and rep.migrated == len(docs)
    assert rep.migrated + rep.archived == summary["valid_expected"]
    old_ids = sorted(int(i[-10:]) for i in old)
    chunks = {}
    for i in old_ids:  # one part per 250-row commit with old rows: first..last old id in it
        chunks.setdefault((i - 1) // 250, []).append(i)
    want = [arch.part_name(ids[0], ids[-1]) for _, ids in sorted(chunks.items())]
    assert [p.name.rsplit("/", 1)[1] for p in archive.parts()] == want
    assert rep.archive_parts == len(want) and rep.archive_parts_reused == 0
    # no document is written with an expireAt in the past; each keeps timestamp + 90 days
    for snap in fs_client.collection(T.collection).stream():
        d = snap.to_dict()
        assert d["expireAt"] > NOW
        assert d["expireAt"] == d["timestamp"] + timedelta(days=90)
    ck = migrate.read_checkpoint(fs_client, T, rep.checkpoint_key)
    assert (ck["migrated"], ck["archived"], ck["quarantined"]) == (
        len(docs),
        len(old),
        len(quarantine),
    )
    res = parity.firestore_parity(fs_client, db, archive=archive, now=NOW)
    assert res.ok, res.problems()
    acc = res.accounting()
    assert acc["archived"] == len(old) and acc["firestore"] == len(docs)
    assert acc["unaccounted"] == 0 and acc["expired_by_ttl"] == 0


def test_parity_counts_ttl_expired_documents_and_still_catches_a_lost_one(
    fs_client, archive, world_db
):
    db, _ = world_db
    migrate.migrate(fs_client, db, batch_size=499, archive=archive, now=NOW)
    later = NOW + timedelta(days=30)  # Firestore's TTL sweep has run since: play it by hand
    gone = [
        s.id
        for s in fs_client.collection(T.collection).stream()
        if s.to_dict()["expireAt"] <= later
    ]
    assert gone
    for doc_id in gone:
        fs_client.collection(T.collection).document(doc_id).delete()
    res = parity.firestore_parity(fs_client, db, archive=archive, now=later)
    assert res.ok, res.problems()
    assert res.expired == len(gone) and res.accounting()["unaccounted"] == 0
    # one not yet expired document deleted: that is a loss, not TTL
    victim = next(
        s.id for s in fs_client.collection(T.collection).stream() if s.to_dict()["expireAt"] > later
    )
    fs_client.collection(T.collection).document(victim).delete()
    bad = parity.firestore_parity(fs_client, db, archive=archive, now=later)
    assert not bad.ok and f"feedback: 1 missing ({victim})" in bad.problems()
    # and at migration time, without the archive, the archived rows are missing
    blind = parity.firestore_parity(fs_client, db, now=NOW)
    assert not blind.ok and blind.docs.n_missing > 100


def test_parity_catches_an_archived_row_also_in_firestore_and_a_changed_archive(
    fs_client, archive, world_db
):
    db, _ = world_db
    migrate.migrate(fs_client, db, batch_size=499, archive=archive, now=NOW)
    part = archive.parts()[0]
    rows = archive.read(part.name)
    doc = arch.document_of(rows[0])
    fs_client.collection(T.collection).document(rows[0]["doc_id"]).set(doc)
    res = parity.firestore_parity(fs_client, db, archive=archive, now=NOW)
    assert not res.ok and res.docs.unexpected == [rows[0]["doc_id"]]
    fs_client.collection(T.collection).document(rows[0]["doc_id"]).delete()
    rows[1]["predicted_confidence"] = 0.123456  # a tampered column, stale stored hash
    archive.bucket.blob(part.name).upload_from_string(arch.encode(rows))
    res = parity.firestore_parity(fs_client, db, archive=archive, now=NOW)
    assert not res.ok and res.docs.changed == [rows[1]["doc_id"]]


def test_kill_between_archive_write_and_commit_reuses_the_part(fs_client, archive, world_db):
    db, _ = world_db
    written = []

    def die(name, reused):
        written.append((name, reused))
        if len(written) == 2:
            raise KeyboardInterrupt  # the part is durable, its commit never happens

    with pytest.raises(KeyboardInterrupt):
        migrate.migrate(fs_client, db, batch_size=100, archive=archive, now=NOW, on_archive=die)
    ck = migrate.read_checkpoint(fs_client, T, migrate.checkpoint_key("sqlite"))
    assert ck["last_id"] == 100  # the second chunk's part exists, its checkpoint does not
    gen = archive.bucket.get_blob(written[1][0]).generation
    rest = migrate.migrate(fs_client, db, batch_size=100, archive=archive, now=NOW)
    assert rest.archive_parts_reused == 1 and rest.archive_orphans_dropped == 0
    assert archive.bucket.get_blob(written[1][0]).generation == gen  # not overwritten
    assert_exact(fs_client, archive, db)
    assert parity.firestore_parity(fs_client, db, archive=archive, now=NOW).ok


def test_retry_with_another_batch_size_replaces_the_orphan_part(fs_client, archive, world_db):
    db, _ = world_db
    calls = []

    def die(name, reused):
        calls.append(name)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        migrate.migrate(fs_client, db, batch_size=300, archive=archive, now=NOW, on_archive=die)
    assert len(archive.parts()) == 1  # an orphan covering rows 1..300
    rest = migrate.migrate(fs_client, db, batch_size=70, archive=archive, now=NOW)
    assert rest.archive_orphans_dropped == 1
    assert calls[0] not in {p.name for p in archive.parts()}
    assert_exact(fs_client, archive, db)  # no row twice, none lost


def test_a_part_with_other_rows_under_the_same_name_is_refused(fs_client, archive, world_db):
    db, _ = world_db
    old = [
        o
        for o in (schema.classify(r) for r in source.iter_rows(db, 0, 50))
        if isinstance(o, schema.Normalised)
    ]
    archive.write_part(old)
    assert archive.write_part(old)[1] is True  # same rows: reused, not rewritten
    with pytest.raises(arch.ArchiveError, match="other rows"):
        archive.write_part([old[0], *old[2:-1], old[-1]])


def test_reset_purges_the_archive_too(fs_client, archive, world_db):
    db, _ = world_db
    migrate.migrate(fs_client, db, batch_size=499, archive=archive, now=NOW)
    assert archive.parts()
    migrate.reset_migration(fs_client, T, archive)
    assert archive.parts() == []
    migrate.migrate(fs_client, db, batch_size=499, archive=archive, now=NOW)
    assert_exact(fs_client, archive, db)


def test_archive_schema_matches_the_data_contract():
    import re
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "data-contracts.md").read_text()
    section = text.split("Output: feedback archive\n", 1)[1].split("\n## ", 1)[0]
    for name, typ, _ in arch.COLUMNS:
        assert re.search(rf"\| `{name}` \| `{re.escape(typ)}` \|", section), name


def test_overlapping_parts_stop_parity_with_their_names(fs_client, archive, world_db):
    db, _ = world_db
    migrate.migrate(fs_client, db, batch_size=499, archive=archive, now=NOW)
    first = archive.parts()[0]
    rows = archive.read(first.name)
    twice = archive.object_name(rows[1]["source_id"], rows[2]["source_id"])
    archive.bucket.blob(twice).upload_from_string(arch.encode(rows[1:3]))
    with pytest.raises(arch.ArchiveError, match="overlap") as err:
        parity.firestore_parity(fs_client, db, archive=archive, now=NOW)
    assert first.name in str(err.value) and twice in str(err.value)
