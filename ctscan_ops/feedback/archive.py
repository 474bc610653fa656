"""Archive of feedback rows whose retention had passed when they were migrated (Parquet in GCS).

Why: Firestore's TTL deletes a document soon after its ``expireAt``. A row whose
``timestamp + retention`` is already in the past at migration time would be deleted within
about a day of landing, so the migration writes it here instead (same document id, same
normalised content) and ``firestore_parity`` counts it as archived, not lost.

Layout (docs/data-contracts.md, "Feedback archive"): one Parquet file per migration commit that
had such rows, ``<prefix>/<source label>/part-<first id:010d>-<last id:010d>.parquet`` under
the artifact bucket (``prefix`` = ``ctscan-ops/feedback/archive``); zero padding makes name
order equal id order. Columns: :data:`COLUMNS`.

Exactly once: a part is uploaded with ``if_generation_match=0`` (never overwrites) and is
durable before the Firestore commit that moves the checkpoint past its rows. A part whose rows
are beyond the checkpoint belongs to no commit (the run died between the upload and the
commit): the next run keeps it when its rows are exactly what it would write (same name, same
row digest) and otherwise deletes it (generation-guarded) before writing its own, so a retry
with another batch size or a later ``now`` can neither duplicate nor lose a row.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ctscan_ops.feedback.schema import TTL_DAYS, Normalised, content_hash

DEFAULT_PREFIX = "ctscan-ops/feedback/archive"
PART_RE = re.compile(r"part-(\d{10})-(\d{10})\.parquet$")
FORMAT_VERSION = "1"

# (name, pyarrow type name, nullable) -- the documented schema, in column order.
COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("doc_id", "string", False),
    ("source_id", "int64", False),
    ("timestamp", "timestamp[us, tz=UTC]", False),
    ("image_path", "string", False),
    ("predicted_class", "string", False),
    ("predicted_confidence", "double", False),
    ("is_correct", "bool", False),
    ("correct_class", "string", True),
    ("user_note", "string", True),
    ("confidence_rating", "string", True),
    ("image_stats", "string", True),  # JSON object text, as in SQLite
    ("timestamp_assumed_utc", "bool", False),
    ("expire_at", "timestamp[us, tz=UTC]", False),  # timestamp + retention (what Firestore had)
    ("content_sha256", "string", False),  # schema.content_hash of the Firestore document
)


class ArchiveError(RuntimeError):
    """The archive holds something the migration cannot reconcile; names the object."""


def retention_cutoff(now: datetime, days: int = TTL_DAYS) -> datetime:
    """Rows with ``timestamp <= cutoff`` (i.e. ``timestamp + days <= now``) are archived."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC) - timedelta(days=days)


def is_past_retention(item: Normalised, now: datetime, days: int = TTL_DAYS) -> bool:
    """The rule that sends a valid row to the archive instead of Firestore."""
    return item.doc["timestamp"] <= retention_cutoff(now, days)


def part_name(first_id: int, last_id: int) -> str:
    return f"part-{first_id:010d}-{last_id:010d}.parquet"


def parse_part_name(name: str) -> tuple[int, int] | None:
    """(first id, last id) of a part's object name, or None when it is not a part."""
    m = PART_RE.search(name)
    return (int(m.group(1)), int(m.group(2))) if m else None


def row_of(item: Normalised) -> dict[str, Any]:
    """One archive row of a normalised document (image_stats back to compact JSON text)."""
    d = item.doc
    stats = d["image_stats"]
    return {
        "doc_id": item.doc_id,
        "source_id": item.source_id,
        "timestamp": d["timestamp"],
        "image_path": d["image_path"],
        "predicted_class": d["predicted_class"],
        "predicted_confidence": float(d["predicted_confidence"]),
        "is_correct": bool(d["is_correct"]),
        "correct_class": d["correct_class"],
        "user_note": d["user_note"],
        "confidence_rating": d["confidence_rating"],
        "image_stats": None if stats is None else json.dumps(stats, sort_keys=True),
        "timestamp_assumed_utc": bool(d["timestamp_assumed_utc"]),
        "expire_at": d["expireAt"],
        "content_sha256": content_hash(d),
    }


def document_of(row: dict[str, Any]) -> dict[str, Any]:
    """The Firestore document an archive row stands for (inverse of :func:`row_of`).

    Parity hashes this, not the stored ``content_sha256``: the columns themselves are checked.
    """

    def utc(v: datetime) -> datetime:
        return v if v.tzinfo else v.replace(tzinfo=UTC)

    stats = row["image_stats"]
    return {
        "timestamp": utc(row["timestamp"]),
        "image_path": row["image_path"],
        "predicted_class": row["predicted_class"],
        "predicted_confidence": row["predicted_confidence"],
        "is_correct": row["is_correct"],
        "correct_class": row["correct_class"],
        "user_note": row["user_note"],
        "confidence_rating": row["confidence_rating"],
        "image_stats": None if stats is None else json.loads(stats),
        "expireAt": utc(row["expire_at"]),
        "source_id": row["source_id"],
        "timestamp_assumed_utc": row["timestamp_assumed_utc"],
    }


def digest(rows: Iterable[dict[str, Any]]) -> str:
    """SHA-256 over the parts' (doc id, content hash) sequence: what "same part" means."""
    h = hashlib.sha256()
    for r in rows:
        h.update(f"{r['doc_id']}:{r['content_sha256']}\n".encode())
    return h.hexdigest()


def _schema():
    import pyarrow as pa

    types = {
        "string": pa.string(),
        "int64": pa.int64(),
        "double": pa.float64(),
        "bool": pa.bool_(),
        "timestamp[us, tz=UTC]": pa.timestamp("us", tz="UTC"),
    }
    return pa.schema([pa.field(n, types[t], nullable=null) for n, t, null in COLUMNS])


def encode(rows: Sequence[dict[str, Any]]) -> bytes:
    """Parquet bytes of ``rows`` (deterministic for the same rows and pyarrow version)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _schema().with_metadata(
        {"ctscan.format": FORMAT_VERSION, "ctscan.rows_sha256": digest(rows)}
    )
    table = pa.Table.from_pylist(list(rows), schema=schema)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def decode(data: bytes) -> list[dict[str, Any]]:
    """Rows of a part, checked against the documented columns."""
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(data))
    names = [n for n, _, _ in COLUMNS]
    if table.column_names != names:
        raise ArchiveError(f"archive part columns {table.column_names} != documented {names}")
    return table.to_pylist()


@dataclass(frozen=True)
class PartInfo:
    name: str  # object name
    first_id: int
    last_id: int
    generation: int
    size: int


class FeedbackArchive:
    """Parts of one source under ``gs://<bucket>/<prefix>/<source label>/`` (a storage Bucket)."""

    def __init__(self, bucket: Any, prefix: str = DEFAULT_PREFIX, source_label: str = "sqlite"):
        self.bucket = bucket
        self.base = f"{prefix.strip('/')}/{source_label}/"

    def uri(self, name: str = "") -> str:
        return f"gs://{self.bucket.name}/{name or self.base}"

    def object_name(self, first_id: int, last_id: int) -> str:
        return self.base + part_name(first_id, last_id)

    def parts(self, lo: int = 0, hi: int | None = None) -> list[PartInfo]:
        """Parts whose ids lie in ``(lo, hi]``, in id order."""
        out = []
        for blob in self.bucket.client.list_blobs(self.bucket.name, prefix=self.base):
            ids = parse_part_name(blob.name)
            if ids is None or ids[0] <= lo or (hi is not None and ids[1] > hi):
                continue
            out.append(PartInfo(blob.name, ids[0], ids[1], int(blob.generation), int(blob.size)))
        return sorted(out, key=lambda p: p.first_id)

    def read(self, name: str) -> list[dict[str, Any]]:
        return decode(self.bucket.blob(name).download_as_bytes())

    def rows(self) -> Iterator[dict[str, Any]]:
        """Every archived row, in id order (parts do not overlap: see :meth:`write_part`)."""
        for p in self.parts():
            yield from self.read(p.name)

    def delete(self, part: PartInfo) -> None:
        """Delete an orphan part, only the version that was listed."""
        self.bucket.blob(part.name).delete(if_generation_match=part.generation)

    def write_part(self, items: Sequence[Normalised]) -> tuple[str, bool]:
        """Make ``items`` durable as one part; returns (object name, reused an identical part).

        Uploads with ``if_generation_match=0``. If the name exists (a retry after a crash
        between this upload and the checkpoint commit), its rows must digest to the same value,
        else :class:`ArchiveError` (the caller removes orphans first, so this means a
        concurrent writer or a tampered object).
        """
        from ctscan_ops.common.gcs_cas import write_if_generation

        rows = [row_of(i) for i in items]
        name = self.object_name(items[0].source_id, items[-1].source_id)
        data = encode(rows)
        if write_if_generation(
            self.bucket, name, data, generation=0, content_type="application/vnd.apache.parquet"
        ):
            return name, False
        existing = self.read(name)
        if digest(existing) != digest(rows):
            raise ArchiveError(
                f"{self.uri(name)} exists with other rows than this migration would write; "
                "another migration is running, or the object was changed by hand"
            )
        return name, True

    def drop_orphans(self, after_id: int, hi: int, keep: set[str] = frozenset()) -> list[str]:
        """Delete parts with ids in ``(after_id, hi]`` (no checkpoint covers them) not in keep."""
        gone = []
        for p in self.parts(after_id, hi):
            if p.name not in keep:
                self.delete(p)
                gone.append(p.name)
        return gone
