"""firestore_parity: green after a clean migration; each kind of damage is caught and named."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime

import pytest
from google.cloud.firestore_v1.base_query import FieldFilter

from ctscan_ops.feedback import migrate, parity, schema, source
from ctscan_ops.feedback.migrate import Target

T = Target()
# before any migrated document's expireAt: a missing document is a loss, never TTL's doing
BEFORE_TTL = datetime(2025, 6, 1, tzinfo=UTC)


def test_merge_diff_hand_cases():
    e = [("a", "01"), ("b", "02"), ("d", "04")]
    a = [("a", "01"), ("c", "03"), ("d", "ff")]
    d = parity.merge_diff(e, a)
    assert (d.missing, d.unexpected, d.changed) == (["b"], ["c"], ["d"])
    assert (d.expected, d.actual) == (3, 3)
    assert d.checksum_expected == 1 + 2 + 4 and d.checksum_actual == 1 + 3 + 255
    assert not d.ok
    same = parity.merge_diff(e, e)
    assert same.ok and same.checksum_expected == same.checksum_actual
    with pytest.raises(ValueError, match="sorted"):
        parity.merge_diff([("b", "1"), ("a", "1")], [])


def test_checksum_is_order_independent():
    pairs = [(f"id{i:03d}", f"{random.Random(i).getrandbits(256):064x}") for i in range(50)]
    shuffled = sorted(pairs, key=lambda p: p[1])
    total = sum(int(h, 16) for _, h in shuffled) % 2**256
    assert parity.merge_diff(pairs, pairs).checksum_actual == total


@pytest.fixture
def migrated(fs_client, world_db):
    db, summary = world_db
    migrate.migrate(fs_client, db, batch_size=499)
    return fs_client, db, summary


def test_parity_is_green_after_a_clean_migration(migrated):
    client, db, summary = migrated
    res = parity.firestore_parity(client, db, now=BEFORE_TTL)
    assert res.ok, res.problems()
    assert res.problems() == []
    assert res.source_rows == summary["rows"]
    assert res.expected_quarantined == sum(summary["injected"].values())
    assert res.firestore_docs + res.firestore_quarantined == summary["rows"]
    # independent per-class reference straight from SQL over the classified rows
    ref = Counter(
        o.doc["predicted_class"]
        for o in map(schema.classify, source.iter_rows(db))
        if isinstance(o, schema.Normalised)
    )
    assert {c: e for c, (e, _) in res.per_class.items() if e} == dict(ref)
    assert res.days_checked > 100 and res.months_checked == 4  # June .. September
    assert res.docs.checksum_expected == res.docs.checksum_actual


def test_parity_names_corrupted_deleted_and_foreign_documents(migrated):
    client, db, _ = migrated
    col = client.collection(T.collection)
    changed, copied = list(col.limit(2).stream())
    mid = FieldFilter("source_id", ">=", 700)
    deleted = next(iter(col.where(filter=mid).order_by("source_id").limit(1).stream()))
    col.document(changed.id).update({"predicted_confidence": 0.123456789})
    col.document(deleted.id).delete()
    col.document("sqlite-9999999999").set(dict(copied.to_dict(), source_id=9999999999))
    col.document("auto-id-from-the-app").set({"predicted_class": "normal"})
    q = next(iter(client.collection(T.quarantine).limit(1).stream()))
    client.collection(T.quarantine).document(q.id).delete()

    res = parity.firestore_parity(client, db, now=BEFORE_TTL)
    assert not res.ok
    assert res.docs.changed == [changed.id]
    assert res.docs.missing == [deleted.id]
    assert res.docs.unexpected == ["sqlite-9999999999"]
    assert res.quarantine.missing == [q.id]
    assert res.foreign_docs == 1  # the auto-id document outside the migration's prefix
    assert not res.totals_ok
    delta = Counter({deleted.to_dict()["predicted_class"]: -1})
    delta[copied.to_dict()["predicted_class"]] += 1
    delta["normal"] += 1
    assert {c: got - exp for c, (exp, got) in res.per_class.items()} == {
        c: delta.get(c, 0) for c in schema.CLASSES
    }
    day = deleted.to_dict()["timestamp"].date().isoformat()
    assert day != copied.to_dict()["timestamp"].date().isoformat()
    exp_n, got_n = res.per_day_mismatch[day]
    assert got_n == exp_n - 1
    text = "\n".join(res.problems())
    for doc_id in (changed.id, deleted.id, "sqlite-9999999999", q.id, day):
        assert doc_id in text


def test_a_row_both_migrated_and_quarantined_is_caught(migrated):
    client, db, _ = migrated
    q = next(iter(client.collection(T.quarantine).limit(1).stream()))
    client.collection(T.collection).document(q.id).set({"predicted_class": "normal"})
    res = parity.firestore_parity(client, db, now=BEFORE_TTL)
    assert not res.ok and res.docs.unexpected == [q.id]


def test_per_day_drill_down_matches_counting_every_day():
    """Reference: brute-force per-day comparison over a fake count function."""
    from datetime import UTC, datetime, timedelta

    expected = Counter({"2025-06-30": 3, "2025-07-01": 5, "2025-07-15": 2, "2025-08-02": 1})
    actual = Counter({"2025-06-30": 3, "2025-07-01": 4, "2025-07-20": 1, "2025-08-02": 1})
    calls = []

    def count_between(t0, t1):
        calls.append((t0, t1))
        n, day = 0, t0
        while day < t1:
            n += actual[day.date().isoformat()]
            day += timedelta(days=1)
        return n

    got, months = parity.per_day_counts(expected, count_between)
    days = {d for d in expected} | {d for d in actual}
    brute = {d: (expected[d], actual[d]) for d in days if expected[d] != actual[d]}
    assert got == brute == {"2025-07-01": (5, 4), "2025-07-15": (2, 0), "2025-07-20": (0, 1)}
    assert months == 3
    assert len(calls) == 3 + 31  # one per month, then July day by day
    assert calls[0] == (datetime(2025, 6, 1, tzinfo=UTC), datetime(2025, 7, 1, tzinfo=UTC))
