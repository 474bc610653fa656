"""Parity between the SQLite source and what the migration put into Firestore.

Three independent views, so one bug cannot hide behind another:
  1. totals: migrated + quarantined = source rows, from Firestore ``count()`` aggregations;
  2. per-class and per-UTC-day document counts, from Firestore ``count()`` aggregations (per
     month first, drilling down to days inside a month that differs);
  3. content: every expected document id with the SHA-256 of its normalised content, merge-joined
     against the documents read back (both sides in document-id order, so memory stays constant),
     with an order-independent checksum (sum of hashes mod 2**256) reported for each side.
A mismatch names the offending ids (first ``MAX_LISTED`` of each kind).

Scope: the aggregation counts cover the whole collections, which hold only migrated rows until
cut-over (the app keeps writing to SQLite until then); ``foreign_docs`` reports documents outside
the migration's id prefix.

Nothing lost is checked, not assumed (issue 16): every valid source row must be in Firestore, in
the archive (rows past retention at migration time, read back from the Parquet parts and hashed
from their columns), or -- missing from Firestore with ``expireAt <= now`` -- expired by
Firestore's TTL (:data:`EXPIRED_RULE`); every invalid row in the quarantine. A row in Firestore
and in the archive at once is reported (``unexpected``: a duplicate).
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ctscan_ops.feedback.archive import ArchiveError, FeedbackArchive, document_of
from ctscan_ops.feedback.migrate import Target
from ctscan_ops.feedback.schema import CLASSES, TTL_DAYS, Normalised, classify, content_hash
from ctscan_ops.feedback.source import iter_rows

if TYPE_CHECKING:
    from google.cloud import firestore

MAX_LISTED = 50
EXPIRED_RULE = (
    f"valid row missing from Firestore whose expireAt (timestamp + {TTL_DAYS} d) <= now: "
    "deleted by Firestore's TTL policy"
)
ARCHIVED_RULE = (
    f"valid row found in the archive (timestamp + {TTL_DAYS} d <= the migration's now), "
    "content hashed from its Parquet columns"
)
MAX_DAYS_LISTED = 10
_MOD = 2**256


@dataclass
class IdDiff:
    """The result of merge-joining expected and actual (id, hash) streams of one collection."""

    expected: int = 0
    actual: int = 0
    checksum_expected: int = 0
    checksum_actual: int = 0
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    n_missing: int = 0
    n_unexpected: int = 0
    n_changed: int = 0
    excused: list[str] = field(default_factory=list)  # missing, but expired by TTL
    n_excused: int = 0

    @property
    def ok(self) -> bool:
        return not (self.n_missing or self.n_unexpected or self.n_changed)


def merge_diff(
    expected: Iterable[tuple[str, str]],
    actual: Iterable[tuple[str, str]],
    excused: Collection[str] = (),
    on_excused: Callable[[str], None] | None = None,
) -> IdDiff:
    """Compare two id-sorted streams of (id, hex hash); raises if a stream is not sorted.

    An expected id missing from ``actual`` but in ``excused`` (expired by TTL) is counted in
    ``n_excused`` instead of ``n_missing`` (and passed to ``on_excused``); its hash stays out
    of both checksums. ``excused`` may grow while ``expected`` is consumed.
    """
    d = IdDiff()
    e_it, a_it = iter(expected), iter(actual)
    e, a = next(e_it, None), next(a_it, None)
    last_e = last_a = ""

    def note(kind: str, doc_id: str) -> None:
        setattr(d, f"n_{kind}", getattr(d, f"n_{kind}") + 1)
        lst = getattr(d, kind)
        if len(lst) < MAX_LISTED:
            lst.append(doc_id)

    while e is not None or a is not None:
        if (e is not None and e[0] < last_e) or (a is not None and a[0] < last_a):
            raise ValueError("merge_diff needs both streams sorted by id")
        if a is None or (e is not None and e[0] < a[0]):
            d.expected += 1
            if e[0] in excused:
                note("excused", e[0])
                if on_excused is not None:
                    on_excused(e[0])
            else:
                d.checksum_expected = (d.checksum_expected + int(e[1], 16)) % _MOD
                note("missing", e[0])
            last_e, e = e[0], next(e_it, None)
        elif e is None or a[0] < e[0]:
            d.actual += 1
            d.checksum_actual = (d.checksum_actual + int(a[1], 16)) % _MOD
            note("unexpected", a[0])
            last_a, a = a[0], next(a_it, None)
        else:
            d.expected += 1
            d.actual += 1
            d.checksum_expected = (d.checksum_expected + int(e[1], 16)) % _MOD
            d.checksum_actual = (d.checksum_actual + int(a[1], 16)) % _MOD
            if e[1] != a[1]:
                note("changed", e[0])
            last_e, last_a = e[0], a[0]
            e, a = next(e_it, None), next(a_it, None)
    return d


@dataclass
class ParityResult:
    source_rows: int
    expected_migrated: int
    expected_quarantined: int
    firestore_docs: int
    firestore_quarantined: int
    foreign_docs: int
    per_class: dict[str, tuple[int, int]]  # class -> (expected, firestore)
    per_day_mismatch: dict[str, tuple[int, int]]  # only the days that differ
    days_checked: int
    months_checked: int
    docs: IdDiff
    quarantine: IdDiff
    firestore_in_prefix: int = 0  # the migration's documents in Firestore (id prefix)
    archived: int = 0  # rows read back from the archive
    archive_parts: int = 0
    expired: int = 0  # missing from Firestore, expireAt in the past: TTL
    archive_uri: str | None = None

    @property
    def expected_in_firestore(self) -> int:
        return self.expected_migrated - self.archived - self.expired

    def accounting(self) -> dict[str, Any]:
        """Where every source row is, with the rule that put it there."""
        return {
            "source_rows": self.source_rows,
            "firestore": self.firestore_in_prefix,
            "archived": self.archived,
            "expired_by_ttl": self.expired,
            "quarantined": self.firestore_quarantined,
            "unaccounted": self.source_rows
            - self.firestore_in_prefix
            - self.archived
            - self.expired
            - self.firestore_quarantined,
            "rules": {"archived": ARCHIVED_RULE, "expired_by_ttl": EXPIRED_RULE},
            "archive": self.archive_uri,
        }

    @property
    def totals_ok(self) -> bool:
        placed = self.firestore_in_prefix + self.archived + self.expired
        return (
            placed + self.firestore_quarantined == self.source_rows
            and self.firestore_in_prefix == self.expected_in_firestore
            and self.firestore_quarantined == self.expected_quarantined
        )

    @property
    def ok(self) -> bool:
        return (
            self.totals_ok
            and all(e == a for e, a in self.per_class.values())
            and not self.per_day_mismatch
            and self.docs.ok
            and self.quarantine.ok
        )

    def problems(self) -> list[str]:
        """Human-readable lines for each failed view, naming ids where there are ids."""
        out = []
        if not self.totals_ok:
            out.append(
                f"totals: source {self.source_rows} rows, expected {self.expected_migrated} "
                f"valid + {self.expected_quarantined} quarantined; Firestore has "
                f"{self.firestore_in_prefix} + {self.firestore_quarantined}, archive "
                f"{self.archived}, expired by TTL {self.expired}"
            )
        for name, d in (("feedback", self.docs), ("quarantine", self.quarantine)):
            for kind in ("missing", "unexpected", "changed"):
                n = getattr(d, f"n_{kind}")
                if n:
                    ids = ", ".join(getattr(d, kind))
                    out.append(f"{name}: {n} {kind} ({ids}{', ...' if n > MAX_LISTED else ''})")
        for cls, (e, a) in self.per_class.items():
            if e != a:
                out.append(f"class {cls}: expected {e}, Firestore {a}")
        days = sorted(self.per_day_mismatch.items())
        for day, (e, a) in days[:MAX_DAYS_LISTED]:
            out.append(f"day {day}: expected {e}, Firestore {a}")
        if len(days) > MAX_DAYS_LISTED:
            out.append(f"... and {len(days) - MAX_DAYS_LISTED} more days with differing counts")
        return out


def _expected(
    db_path: Path | str,
    source_label: str,
    parts: dict,
    collection: str = "feedback",
    now: datetime | None = None,
) -> Iterator:
    """Classify the source once; yields docs (id, hash) and records quarantine pairs + counts.

    A row Firestore refused although it passed the pre-checks (quarantined by the migration's
    bisection as ``firestore_rejected``) shows here as missing + unexpected quarantine: parity
    reports that gap in the pre-checks rather than hiding it.
    """
    for row in iter_rows(db_path):
        out = classify(row, source_label, collection=collection)
        parts["rows"] += 1
        if isinstance(out, Normalised):
            cls, day = out.doc["predicted_class"], out.doc["timestamp"].date().isoformat()
            if out.doc_id in parts["archived_ids"]:
                parts["archived_class"][cls] += 1  # not expected in Firestore's counts
            else:
                parts["class"][cls] += 1
                parts["day"][day] += 1
                if now is not None and out.doc["expireAt"] <= now:
                    parts["expirable"][out.doc_id] = (cls, day)
            yield out.doc_id, content_hash(out.doc)
        else:
            parts["quarantine"].append((out.doc_id, content_hash(out.record())))


def _actual(client: firestore.Client, collection: str, prefix: str) -> Iterator[tuple[str, str]]:
    """Documents with ids in ``[prefix-, prefix.)`` in id order, hashed like the expected side."""
    from google.cloud.firestore_v1.base_query import FieldFilter
    from google.cloud.firestore_v1.field_path import FieldPath

    col = client.collection(collection)
    q = (
        col.where(filter=FieldFilter(FieldPath.document_id(), ">=", col.document(prefix + "-")))
        .where(filter=FieldFilter(FieldPath.document_id(), "<", col.document(prefix + ".")))
        .order_by(FieldPath.document_id())
    )
    for snap in q.stream():
        yield snap.id, content_hash(snap.to_dict())


def _archived(archive: FeedbackArchive, parts: dict) -> Iterator[tuple[str, str]]:
    """Archive rows in id order, hashed from their columns (not their stored hash).

    Parts never overlap (the migration removes orphans before rewriting); overlapping parts mean
    rows archived twice and stop parity with the two names.
    """
    prev = None
    for p in archive.parts():
        if prev is not None and p.first_id <= prev.last_id:
            raise ArchiveError(
                f"archive parts overlap (rows archived twice): {prev.name}, {p.name}"
            )
        prev = p
        parts["archive_parts"] += 1
        for row in archive.read(p.name):
            yield row["doc_id"], content_hash(document_of(row))


def _counted(stream: Iterable[tuple[str, str]], parts: dict, key: str) -> Iterator:
    for item in stream:
        parts[key] += 1
        yield item


def _month_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, 1, tzinfo=UTC)
    nxt = datetime(day.year + day.month // 12, day.month % 12 + 1, 1, tzinfo=UTC)
    return start, nxt


def per_day_counts(
    expected_by_day: Counter[str], count_between: Callable[[datetime, datetime], int]
) -> tuple[dict[str, tuple[int, int]], int]:
    """Days whose document count differs, via aggregation counts; returns (mismatches, months).

    One ``count()`` per UTC month first, then one per day only inside months that differ:
    ~6 queries instead of ~150 for five months of data, which matters because the emulator
    answers each count by scanning the collection. Exact for every day of a month whose total
    differs; errors cancelling inside one month (a row moved between two of its days) escape the
    counts but not the content merge-join, which compares each document's timestamp.
    """
    months: dict[tuple[int, int], int] = Counter()
    for day, n in expected_by_day.items():
        d = date.fromisoformat(day)
        months[(d.year, d.month)] += n
    mismatches: dict[str, tuple[int, int]] = {}
    for (y, m), n in sorted(months.items()):
        t0, t1 = _month_bounds(date(y, m, 1))
        if count_between(t0, t1) == n:
            continue
        day = t0
        while day < t1:
            key = day.date().isoformat()
            got = count_between(day, day + timedelta(days=1))
            if got != expected_by_day.get(key, 0):
                mismatches[key] = (expected_by_day.get(key, 0), got)
            day += timedelta(days=1)
    return mismatches, len(months)


def _count(query: Any) -> int:
    return int(query.count().get()[0][0].value)


def firestore_parity(
    client: firestore.Client,
    db_path: Path | str,
    *,
    target: Target | None = None,
    archive: FeedbackArchive | None = None,
    now: datetime | None = None,
) -> ParityResult:
    """Compare every source row with Firestore and the archive (see the module docstring).

    ``now`` (default the wall clock) decides which missing documents count as expired by TTL.
    """
    from google.cloud.firestore_v1.base_query import FieldFilter

    target = target or Target()
    now = (now or datetime.now(UTC)).astimezone(UTC)
    parts: dict[str, Any] = {
        "rows": 0,
        "class": Counter(),
        "day": Counter(),
        "quarantine": [],
        "archived_ids": set(),
        "archived_class": Counter(),
        "expirable": {},
        "in_firestore": 0,
        "in_archive": 0,
        "archive_parts": 0,
    }
    streams = [
        _counted(_actual(client, target.collection, target.source_label), parts, "in_firestore")
    ]
    if archive is not None:
        # read once, kept as (id, hash) pairs: the ids are needed before the source is read
        # (the per-class/day expectations leave archived rows out), the pairs for the merge
        archived = list(_archived(archive, parts))
        parts["archived_ids"] = {doc_id for doc_id, _ in archived}
        streams.append(_counted(archived, parts, "in_archive"))
    expected = _expected(db_path, target.source_label, parts, target.collection, now)

    def expired(doc_id: str) -> None:  # not expected in Firestore's counts either
        cls, day = parts["expirable"][doc_id]
        parts["class"][cls] -= 1
        parts["day"][day] -= 1

    docs = merge_diff(
        expected,
        heapq.merge(*streams, key=lambda pair: pair[0]),
        excused=parts["expirable"],
        on_excused=expired,
    )
    # quarantined rows are few (they are kept in memory only as (id, hash) pairs)
    quarantine = merge_diff(
        parts["quarantine"], _actual(client, target.quarantine, target.source_label)
    )
    col = client.collection(target.collection)
    total = _count(col)
    per_class = {
        c: (
            parts["class"].get(c, 0),
            _count(col.where(filter=FieldFilter("predicted_class", "==", c))),
        )
        for c in CLASSES
    }

    def count_between(t0: datetime, t1: datetime) -> int:
        return _count(
            col.where(filter=FieldFilter("timestamp", ">=", t0)).where(
                filter=FieldFilter("timestamp", "<", t1)
            )
        )

    per_day, months = per_day_counts(parts["day"], count_between)
    return ParityResult(
        source_rows=parts["rows"],
        expected_migrated=docs.expected,
        expected_quarantined=quarantine.expected,
        firestore_docs=total,
        firestore_quarantined=_count(client.collection(target.quarantine)),
        foreign_docs=total - parts["in_firestore"],
        per_class=per_class,
        per_day_mismatch=per_day,
        days_checked=len(parts["day"]),
        months_checked=months,
        docs=docs,
        quarantine=quarantine,
        firestore_in_prefix=parts["in_firestore"],
        archived=parts["in_archive"],
        archive_parts=parts["archive_parts"],
        expired=docs.n_excused,
        archive_uri=archive.uri() if archive is not None else None,
    )
