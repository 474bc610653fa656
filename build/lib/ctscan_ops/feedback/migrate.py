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
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ctscan_ops.feedback.schema import (
    DEFAULT_SOURCE_LABEL,
    Normalised,
    SourceRow,
    classify,
    content_hash,
)
from ctscan_ops.feedback.source import MAX_ID, SourceError, get_row, iter_rows

if TYPE_CHECKING:
    from google.cloud import firestore

MAX_BATCH_WRITES = 500  # Firestore's limit per commit; one write is the checkpoint


@dataclass(frozen=True)
class Target:
    """Where the migration writes (collection names are part of the operator's contract)."""

    collection: str = "feedback"
    quarantine: str = "feedback_quarantine"
    state: str = "feedback_migrations"
    source_label: str = DEFAULT_SOURCE_LABEL


class MigrationError(RuntimeError):
    """A commit failed; the checkpoint still names the last committed id, so re-run resumes."""


@dataclass
class MigrationReport:
    """What one run did (this run's numbers) and where the checkpoint stands (cumulative)."""

    checkpoint_key: str
    started_after: int
    last_id: int
    rows_read: int = 0
    migrated: int = 0
    quarantined: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    commits: int = 0
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


def reset_migration(client: firestore.Client, target: Target) -> int:
    """Start over: delete the source's checkpoints, then its migrated and quarantined documents.

    Checkpoints go first: a crash half-way leaves none, so the next run re-migrates from the
    start (re-run the reset to finish the purge). Purging matters when the source changed: a row
    that moved between "valid" and "quarantined", or ids beyond the new file's end, would
    otherwise survive as stale documents. Returns the number of documents deleted (checkpoints
    not counted).
    """
    label = target.source_label
    _delete_all(client, _prefix_query(client, target.state, label))
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
) -> MigrationReport:
    """Migrate rows ``lo < id <= hi`` from the checkpoint on; returns this run's report.

    ``batch_size`` counts source rows; with the checkpoint write a commit holds
    ``batch_size + 1 <= 500`` writes. ``commit_deadline`` bounds retries of one commit: past
    it the run stops with :class:`MigrationError` instead of hanging on an unreachable server.
    ``max_rows`` ends the run at the first commit boundary at or past that many rows (a chunk:
    the next run carries on from the checkpoint).
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
    if state:
        verify_source_unchanged(db_path, last_id, state.get("last_row_sha256"), key)
    report = MigrationReport(key, last_id, last_id, cumulative=cumulative)
    t0 = time.perf_counter()

    pairs = ((r, classify(r, target.source_label)) for r in iter_rows(db_path, last_id, hi))
    for chunk_pairs in batched(pairs, batch_size):
        chunk = [item for _, item in chunk_pairs]
        batch = client.batch()
        n_ok = n_bad = 0
        reasons: Counter[str] = Counter()
        for item in chunk:
            if isinstance(item, Normalised):
                batch.set(docs.document(item.doc_id), item.doc)
                n_ok += 1
            else:
                batch.set(quarantine.document(item.doc_id), item.record())
                n_bad += 1
                reasons[item.reason] += 1
        new_reasons = Counter(cumulative["reasons"]) + reasons
        new_state = {
            "last_id": chunk[-1].source_id,
            "last_row_sha256": row_fingerprint(chunk_pairs[-1][0]),
            "lo": lo,
            "hi": hi,
            "migrated": cumulative["migrated"] + n_ok,
            "quarantined": cumulative["quarantined"] + n_bad,
            "reasons": dict(new_reasons),
            "updated_at": firestore.SERVER_TIMESTAMP,
        }
        batch.set(state_ref, new_state)
        try:
            batch.commit(retry=retry, timeout=min(commit_deadline, 60.0))
        except (gexc.GoogleAPIError, gexc.RetryError) as exc:
            raise MigrationError(
                f"commit of ids {chunk[0].source_id}..{chunk[-1].source_id} to "
                f"{target.collection!r} failed ({type(exc).__name__}: {exc}); checkpoint "
                f"{target.state}/{key} still at id {report.last_id}, re-run to resume"
            ) from exc
        # Only now, after the commit, does our own view move on.
        cumulative.update(
            migrated=new_state["migrated"],
            quarantined=new_state["quarantined"],
            reasons=new_state["reasons"],
        )
        report.last_id = chunk[-1].source_id
        report.rows_read += len(chunk)
        report.migrated += n_ok
        report.quarantined += n_bad
        report.reasons.update(reasons)
        report.commits += 1
        report.seconds = time.perf_counter() - t0
        if on_commit is not None:
            on_commit(report)
        if max_rows is not None and report.rows_read >= max_rows:
            break
    report.seconds = time.perf_counter() - t0
    return report


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
    args = p.parse_args(argv)
    client = firestore.Client(project=args.project)
    if args.restart:
        reset_migration(client, Target())

    def progress(r: MigrationReport) -> None:
        print(f"committed {r.last_id}", flush=True)

    try:
        rep = migrate(
            client,
            args.db,
            lo=args.lo,
            hi=args.hi,
            batch_size=args.batch_size,
            commit_deadline=args.commit_deadline,
            on_commit=progress,
        )
    except (MigrationError, SourceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"done {rep.last_id} migrated={rep.migrated} quarantined={rep.quarantined}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
