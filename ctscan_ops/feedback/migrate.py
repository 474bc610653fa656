"""Batched, resumable SQLite -> Firestore migration with a checkpoint that cannot lie.

Each commit is one Firestore ``WriteBatch`` (atomic, at most 500 writes) holding
  * the documents of the valid rows (``feedback/<doc id>``),
  * the quarantine records of the invalid rows (``feedback_quarantine/<doc id>``),
  * the checkpoint (``feedback_migrations/<key>``: last committed id + cumulative counts).

Why the checkpoint lives in Firestore, in the same batch, rather than in a file written after
the commit: the two can then never disagree. A file written after a successful commit is
behind after a crash between the two (harmless for the data thanks to deterministic ids, but
its cumulative counts would double-count the re-done batch), and a local file does not survive
a stateless Cloud Run job anyway. With the checkpoint inside the batch, "row N is in Firestore"
and "the checkpoint says >= N" are the same fact, and the counts in it are exact.

A crash at any point therefore resumes without loss (everything after the checkpoint is redone)
and without duplicates (document ids are derived from the source id, so redoing is
overwriting). Rows are either migrated or quarantined in the same atomic commit.

Retention (issue 16): with an ``archive``, a valid row whose ``timestamp + TTL_DAYS <= now`` is
not written to Firestore (its ``expireAt`` would already be past and the TTL sweep would delete
it within a day) but to a Parquet part of :class:`~ctscan_ops.feedback.archive.FeedbackArchive`,
uploaded and durable BEFORE the commit that moves the checkpoint past it; see
:mod:`ctscan_ops.feedback.archive` for why a kill between the two neither loses nor duplicates.
Without an archive (unit tests of the Firestore path only) every valid row goes to Firestore.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ctscan_ops.common.timeparse import parse_iso
from ctscan_ops.feedback.archive import DEFAULT_PREFIX as DEFAULT_ARCHIVE_PREFIX
from ctscan_ops.feedback.archive import FeedbackArchive, is_past_retention
from ctscan_ops.feedback.firestore_limits import REJECTED_BY_FIRESTORE, document_size
from ctscan_ops.feedback.schema import (
    DEFAULT_SOURCE_LABEL,
    TTL_DAYS,
    Normalised,
    Rejected,
    SourceRow,
    classify,
    content_hash,
)
from ctscan_ops.feedback.source import MAX_ID, SourceError, get_row, iter_rows

if TYPE_CHECKING:
    from google.cloud import firestore

MAX_BATCH_WRITES = 500  # Firestore's limit per commit; one write is the checkpoint
# Storage bytes of the documents in one commit. Production takes 10 MiB requests, the emulator
# 4 MiB gRPC messages; 3 MiB plus at most one 1 MiB document stays under both.
MAX_COMMIT_BYTES = 3 * 1024 * 1024


@dataclass(frozen=True)
class Target:
    """Where the migration writes (collection names are part of the operator's contract)."""

    collection: str = "feedback"
    quarantine: str = "feedback_quarantine"
    state: str = "feedback_migrations"
    source_label: str = DEFAULT_SOURCE_LABEL


class MigrationError(RuntimeError):
    """A commit failed; the checkpoint still names the last committed id, so re-run resumes."""


@dataclass(frozen=True)
class Archived:
    """A valid row past retention: in archive part ``part``, not written to Firestore."""

    item: Normalised
    part: str

    @property
    def source_id(self) -> int:
        return self.item.source_id

    @property
    def doc_id(self) -> str:
        return self.item.doc_id


@dataclass
class MigrationReport:
    """What one run did (this run's numbers) and where the checkpoint stands (cumulative)."""

    checkpoint_key: str
    started_after: int
    last_id: int
    rows_read: int = 0
    migrated: int = 0
    quarantined: int = 0
    archived: int = 0  # valid rows past retention, written to the archive instead
    archive_parts: int = 0  # parts written this run
    archive_parts_reused: int = 0  # identical parts found from a run killed before its commit
    archive_orphans_dropped: int = 0  # parts of a killed run that this run rewrote differently
    reasons: Counter[str] = field(default_factory=Counter)
    commits: int = 0
    bisected: int = 0  # rows Firestore refused although they passed the pre-checks
    seconds: float = 0.0
    cumulative: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds > 0 else 0.0


def checkpoint_key(source_label: str, lo: int = 0, hi: int = MAX_ID) -> str:
    """One checkpoint per (source, id range): chunks of a partitioned backfill resume alone."""
    return f"{source_label}-{lo:010d}-{hi:010d}"


def read_checkpoint(
    client: firestore.Client, target: Target, key: str, deadline: float = 30.0
) -> dict[str, Any] | None:
    """The committed state for ``key`` or None when nothing was committed yet.

    ``deadline`` bounds the retries: the client's default would keep retrying an unreachable
    server for minutes.
    """
    snap = (
        client.collection(target.state).document(key).get(retry=_retry(deadline), timeout=deadline)
    )
    return snap.to_dict() if snap.exists else None


def row_fingerprint(row: SourceRow) -> str:
    """Hash of a source row as stored (id included): what the checkpoint remembers of it."""
    return content_hash(row.raw())


def verify_source_unchanged(db_path: Path | str, last_id: int, expected: str | None, key: str):
    """Refuse to resume against a different database than the checkpoint was written from.

    A checkpoint only means "ids <= N are done" for the same source: if the file was replaced
    (say, a regenerated or restored copy), resuming would silently skip rows that differ.
    """
    if expected is None:
        return
    row = get_row(db_path, last_id)
    if row is None or row_fingerprint(row) != expected:
        what = "is gone" if row is None else "has different content"
        raise MigrationError(
            f"source row {last_id} {what} since checkpoint {key} was written: this is not the "
            f"database the migration started from; point at that one, or delete the checkpoint "
            f"(`ctscan-ops feedback migrate --restart`) to migrate this one from scratch"
        )


def _prefix_query(client: firestore.Client, collection: str, label: str):
    """Documents of ``collection`` whose id starts with ``<label>-`` (document-id range)."""
    from google.cloud.firestore_v1.base_query import FieldFilter
    from google.cloud.firestore_v1.field_path import FieldPath

    col = client.collection(collection)
    lo_ref, hi_ref = col.document(label + "-"), col.document(label + ".")
    return col.where(filter=FieldFilter(FieldPath.document_id(), ">=", lo_ref)).where(
        filter=FieldFilter(FieldPath.document_id(), "<", hi_ref)
    )


def _delete_all(client: firestore.Client, query: Any) -> int:
    deleted = 0
    while refs := [s.reference for s in query.limit(MAX_BATCH_WRITES).select([]).stream()]:
        batch = client.batch()
        for ref in refs:
            batch.delete(ref)
        batch.commit()
        deleted += len(refs)
    return deleted


def reset_migration(
    client: firestore.Client, target: Target, archive: FeedbackArchive | None = None
) -> int:
    """Start over: delete the source's checkpoints, then its migrated and quarantined documents.

    Checkpoints go first: a crash half-way leaves none, so the next run re-migrates from the
    start (re-run the reset to finish the purge). Purging matters when the source changed: a row
    that moved between "valid" and "quarantined", or ids beyond the new file's end, would
    otherwise survive as stale documents. Returns the number of documents deleted (checkpoints
    not counted).
    """
    label = target.source_label
    _delete_all(client, _prefix_query(client, target.state, label))
    if archive is not None:  # no checkpoint covers them any more: orphans of no commit
        archive.drop_orphans(0, MAX_ID)
    return sum(
        _delete_all(client, _prefix_query(client, name, label))
        for name in (target.collection, target.quarantine)
    )


def batched(items: Iterable[Any], size: int) -> Iterator[list]:
    """Group classified rows into lists of ``size`` (the last may be shorter)."""
    buf: list = []
    for item in items:
        buf.append(item)
        if len(buf) == size:
            yield buf
            buf = []
    if buf:
        yield buf


def batched_by_size(items: Iterable[Any], size: int, max_bytes: int) -> Iterator[list]:
    """Like :func:`batched`, but a group also ends before its documents pass ``max_bytes``."""
    buf: list = []
    total = 0
    for item in items:
        weight = _weight(item[1])
        if buf and (len(buf) == size or total + weight > max_bytes):
            yield buf
            buf, total = [], 0
        buf.append(item)
        total += weight
    if buf:
        yield buf


def _weight(item: Normalised | Rejected | Archived) -> int:
    if isinstance(item, Normalised):
        return item.size
    return document_size(f"q/{item.doc_id}", item.record())


def refused(item: Normalised, detail: str) -> Rejected:
    """The quarantine record of a row Firestore (or its client) refused: reason + its words."""
    return Rejected(
        item.source_id,
        item.doc_id,
        (REJECTED_BY_FIRESTORE,),
        detail[:4000],
        {"document_fields": sorted(item.doc)},
    )


def _refused(exc: Exception) -> bool:
    """Firestore refused the content (bisect), as opposed to being unreachable (stop)."""
    from google.api_core import exceptions as gexc

    if isinstance(exc, gexc.InvalidArgument):
        return True
    return isinstance(exc, gexc.ResourceExhausted) and "exceeds maximum size" in str(exc)


def _retry(deadline: float):
    from google.api_core import exceptions, retry

    return retry.Retry(
        predicate=retry.if_exception_type(
            exceptions.ServiceUnavailable, exceptions.DeadlineExceeded, exceptions.Aborted
        ),
        initial=0.2,
        maximum=2.0,
        timeout=deadline,
    )


def migrate(
    client: firestore.Client,
    db_path: Path | str,
    *,
    target: Target | None = None,
    lo: int = 0,
    hi: int = MAX_ID,
    batch_size: int = 499,
    commit_deadline: float = 30.0,
    max_rows: int | None = None,
    on_commit: Callable[[MigrationReport], None] | None = None,
    skip_checks: Iterable[str] = (),
    max_commit_bytes: int = MAX_COMMIT_BYTES,
    archive: FeedbackArchive | None = None,
    now: datetime | None = None,
    retention_days: int = TTL_DAYS,
    on_archive: Callable[[str, bool], None] | None = None,
) -> MigrationReport:
    """Migrate rows ``lo < id <= hi`` from the checkpoint on; returns this run's report.

    ``batch_size`` counts source rows; with the checkpoint write a commit holds
    ``batch_size + 1 <= 500`` writes. ``commit_deadline`` bounds retries of one commit: past
    it the run stops with :class:`MigrationError` instead of hanging on an unreachable server.
    ``max_rows`` ends the run at the first commit boundary at or past that many rows (a chunk:
    the next run carries on from the checkpoint).

    Rows that break a Firestore limit are quarantined by :func:`schema.classify` before they
    join a batch. A batch Firestore refuses anyway (``InvalidArgument``, or a request over the
    server's message size) is bisected: the refused row is quarantined as
    ``firestore_rejected`` with Firestore's error text, the rest lands. ``skip_checks`` turns
    limit kinds off (tests, benchmark); ``max_commit_bytes`` bounds the storage size of one
    commit (the emulator accepts 4 MiB messages, production 10 MiB requests).

    ``archive``: valid rows with ``timestamp + retention_days <= now`` (``now`` fixed once per
    run, injectable for tests and backfills; default the wall clock) go to one archive part per
    commit, written before that commit; orphan parts of a killed run are verified or replaced.
    ``on_archive(part name, reused)`` is called once a part is durable, before its commit.
    """
    from google.api_core import exceptions as gexc
    from google.cloud import firestore

    if not 1 <= batch_size <= MAX_BATCH_WRITES - 1:
        raise ValueError(f"batch_size {batch_size} must be in 1..{MAX_BATCH_WRITES - 1}")
    target = target or Target()
    key = checkpoint_key(target.source_label, lo, hi)
    state_ref = client.collection(target.state).document(key)
    docs = client.collection(target.collection)
    quarantine = client.collection(target.quarantine)
    retry = _retry(commit_deadline)

    try:
        state = read_checkpoint(client, target, key, commit_deadline) or {}
    except (gexc.GoogleAPIError, gexc.RetryError) as exc:
        raise MigrationError(f"cannot read checkpoint {target.state}/{key}: {exc}") from exc
    last_id = int(state.get("last_id", lo))
    cumulative: dict[str, Any] = {
        "migrated": int(state.get("migrated", 0)),
        "quarantined": int(state.get("quarantined", 0)),
        "reasons": dict(state.get("reasons", {})),
    }
    cumulative["archived"] = int(state.get("archived", 0))
    if state:
        verify_source_unchanged(db_path, last_id, state.get("last_row_sha256"), key)
    run_now = (now or datetime.now(UTC)).astimezone(UTC)
    # parts beyond the checkpoint belong to no commit: a run died between upload and commit
    orphans = archive.parts(last_id, hi) if archive is not None else []
    report = MigrationReport(key, last_id, last_id, cumulative=cumulative)
    t0 = time.perf_counter()

    skip = frozenset(skip_checks)
    pairs = (
        (r, classify(r, target.source_label, collection=target.collection, skip_checks=skip))
        for r in iter_rows(db_path, last_id, hi)
    )

    def write(
        batch: Any, item: Normalised | Rejected | Archived
    ) -> Normalised | Rejected | Archived:
        """Add ``item`` to ``batch``; a document the client refuses to encode is quarantined."""
        if isinstance(item, Archived):
            return item  # already durable in its part
        if isinstance(item, Normalised):
            try:
                batch.set(docs.document(item.doc_id), item.doc)
                return item
            except (ValueError, TypeError, UnicodeError) as exc:
                item = refused(item, f"client refused the document: {type(exc).__name__}: {exc}")
        batch.set(quarantine.document(item.doc_id), item.record())
        return item

    def commit(chunk_pairs: list[tuple[SourceRow, Normalised | Rejected]]) -> None:
        """One atomic commit: the rows' writes and the checkpoint at the last row."""
        chunk = [item for _, item in chunk_pairs]
        batch = client.batch()
        written = [write(batch, item) for item in chunk]
        n_ok = sum(isinstance(item, Normalised) for item in written)
        n_old = sum(isinstance(item, Archived) for item in written)
        reasons = Counter(item.reason for item in written if isinstance(item, Rejected))
        n_bad = len(written) - n_ok - n_old
        new_reasons = Counter(cumulative["reasons"]) + reasons
        new_state = {
            "last_id": chunk[-1].source_id,
            "last_row_sha256": row_fingerprint(chunk_pairs[-1][0]),
            "lo": lo,
            "hi": hi,
            "migrated": cumulative["migrated"] + n_ok,
            "quarantined": cumulative["quarantined"] + n_bad,
            "archived": cumulative["archived"] + n_old,
            "reasons": dict(new_reasons),
            "updated_at": firestore.SERVER_TIMESTAMP,
        }
        batch.set(state_ref, new_state)
        try:
            batch.commit(retry=retry, timeout=min(commit_deadline, 60.0))
        except (gexc.GoogleAPIError, gexc.RetryError) as exc:
            if _refused(exc):
                raise
            raise MigrationError(
                f"commit of ids {chunk[0].source_id}..{chunk[-1].source_id} to "
                f"{target.collection!r} failed ({type(exc).__name__}: {exc}); checkpoint "
                f"{target.state}/{key} still at id {report.last_id}, re-run to resume"
            ) from exc
        # Only now, after the commit, does our own view move on.
        cumulative.update(
            migrated=new_state["migrated"],
            quarantined=new_state["quarantined"],
            archived=new_state["archived"],
            reasons=new_state["reasons"],
        )
        report.last_id = chunk[-1].source_id
        report.rows_read += len(chunk)
        report.migrated += n_ok
        report.quarantined += n_bad
        report.archived += n_old
        report.reasons.update(reasons)
        report.commits += 1
        report.seconds = time.perf_counter() - t0
        if on_commit is not None:
            on_commit(report)

    def land(chunk_pairs: list[tuple[SourceRow, Normalised | Rejected]]) -> None:
        """Commit; when Firestore refuses the batch, bisect down to the row(s) it refuses.

        Each half is committed with its own checkpoint (in id order), so data and checkpoint
        stay one atomic fact and a kill mid-bisection resumes like any other kill.
        """
        try:
            commit(chunk_pairs)
        except gexc.GoogleAPIError as exc:
            if len(chunk_pairs) > 1:
                mid = len(chunk_pairs) // 2
                land(chunk_pairs[:mid])
                land(chunk_pairs[mid:])
                return
            row, item = chunk_pairs[0]
            msg = getattr(exc, "message", None) or str(exc)
            if isinstance(item, Archived):  # only the checkpoint was in that commit
                raise MigrationError(f"checkpoint commit refused ({msg})") from exc
            if isinstance(item, Normalised):
                report.bisected += 1
                replacement = refused(item, f"Firestore refused the document: {msg}")
            elif item.raw:  # the quarantine record itself was refused: keep the bare facts
                replacement = Rejected(item.source_id, item.doc_id, item.reasons, msg[:2000], {})
            else:
                raise MigrationError(
                    f"Firestore refuses even the bare quarantine record of id {item.source_id} "
                    f"({msg}); checkpoint {target.state}/{key} at id {report.last_id}"
                ) from exc
            land([(row, replacement)])

    def archive_old(chunk_pairs: list) -> list:
        """Write the chunk's rows past retention as one part (before its commit); mark them.

        Orphan parts overlapping the chunk are deleted first unless one is exactly the part
        this chunk writes (then it is verified by its row digest and kept).
        """
        if archive is None:
            return chunk_pairs
        first, last = chunk_pairs[0][0].id, chunk_pairs[-1][0].id
        old = [
            item
            for _, item in chunk_pairs
            if isinstance(item, Normalised) and is_past_retention(item, run_now, retention_days)
        ]
        name = archive.object_name(old[0].source_id, old[-1].source_id) if old else None
        for part in [p for p in orphans if p.first_id <= last and p.last_id >= first]:
            orphans.remove(part)
            if part.name != name:
                archive.delete(part)
                report.archive_orphans_dropped += 1
        if not old:
            return chunk_pairs
        name, reused = archive.write_part(old)
        report.archive_parts += 1
        report.archive_parts_reused += reused
        if on_archive is not None:
            on_archive(name, reused)
        moved = {item.source_id for item in old}
        return [
            (row, Archived(item, name) if item.source_id in moved else item)
            for row, item in chunk_pairs
        ]

    for chunk_pairs in batched_by_size(pairs, batch_size, max_commit_bytes):
        land(archive_old(chunk_pairs))
        if max_rows is not None and report.rows_read >= max_rows:
            break
    report.seconds = time.perf_counter() - t0
    return report


def storage_client(project: str | None):
    """A GCS client; with ``STORAGE_EMULATOR_HOST`` set, anonymous against the emulator."""
    import os

    from google.cloud import storage

    endpoint = os.environ.get("STORAGE_EMULATOR_HOST")
    if endpoint:
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(
            project=project,
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": endpoint},
        )
    return storage.Client(project=project)


def main(argv: list[str] | None = None) -> int:
    """``python -m ctscan_ops.feedback.migrate``: used by the fault-injection tests and ops.

    Prints ``committed <last_id>`` after every commit (flushed) so a supervisor can observe
    progress; reads FIRESTORE_EMULATOR_HOST like any Firestore client.
    """
    from google.cloud import firestore

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", required=True, type=Path)
    p.add_argument("--project", required=True)
    p.add_argument("--batch-size", type=int, default=499)
    p.add_argument("--lo", type=int, default=0)
    p.add_argument("--hi", type=int, default=MAX_ID)
    p.add_argument("--commit-deadline", type=float, default=30.0)
    p.add_argument("--restart", action="store_true", help="delete the checkpoint first")
    p.add_argument("--archive-bucket", help="bucket for rows past retention (else no archive)")
    p.add_argument("--archive-prefix", default=DEFAULT_ARCHIVE_PREFIX)
    p.add_argument("--now", help="ISO-8601 time the retention rule is applied at (tests)")
    p.add_argument(
        "--pause-after-part",
        type=int,
        default=0,
        help="fault injection: after the N-th archive part is durable, sleep 60 s before its "
        "commit (a supervisor kills the process in that window)",
    )
    args = p.parse_args(argv)
    client = firestore.Client(project=args.project)
    archive = None
    if args.archive_bucket:
        archive = FeedbackArchive(
            storage_client(args.project).bucket(args.archive_bucket), args.archive_prefix
        )
    if args.restart:
        reset_migration(client, Target(), archive)

    def progress(r: MigrationReport) -> None:
        print(f"committed {r.last_id}", flush=True)

    parts_seen = []

    def archived(name: str, reused: bool) -> None:
        parts_seen.append(name)
        print(f"archived {name}{' reused' if reused else ''}", flush=True)
        if len(parts_seen) == args.pause_after_part:
            time.sleep(60)

    try:
        rep = migrate(
            client,
            args.db,
            lo=args.lo,
            hi=args.hi,
            batch_size=args.batch_size,
            commit_deadline=args.commit_deadline,
            on_commit=progress,
            archive=archive,
            now=parse_iso(args.now)[0] if args.now else None,
            on_archive=archived,
        )
    except (MigrationError, SourceError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"done {rep.last_id} migrated={rep.migrated} quarantined={rep.quarantined} "
        f"archived={rep.archived}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
