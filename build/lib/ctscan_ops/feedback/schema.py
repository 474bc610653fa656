"""Validation and normalisation of one SQLite feedback row into a Firestore document.

A source row either becomes a document (``Normalised``) or a quarantine record (``Rejected``),
never both and never neither: the migration, the parity check and the tests all go through
:func:`classify`, so "what is valid" is defined in exactly one place.

Decisions (see also ``ctscan_ops/feedback/README.md``):

* **Document id** ``<source>-<id:010d>`` (default source label ``sqlite``). The SQLite ``id`` is the
  row's identity (the original API returned it as ``feedback_id``), so a re-run overwrites the
  same document. Zero padding makes the lexicographic order of document ids equal the id order,
  which the parity check uses to merge-join both sides in constant memory. The source label
  keeps ids of two different SQLite files (say dev and prod) apart if they are ever merged.
* **Timestamps** become timezone-aware UTC ``datetime`` (a Firestore ``Timestamp``). A naive
  string is read as UTC -- the original API wrote ``datetime.now(UTC)`` and SQLite's
  ``CURRENT_TIMESTAMP`` is UTC too -- and the document records ``timestamp_assumed_utc=True`` so
  the guess stays visible. Offsets (``+02:00``, ``Z``) are converted.
* **expireAt** = timestamp + 90 days (``TTL_DAYS`` as in the original store).
* **Class names** are normalised (case, surrounding blanks, ``.``/``-``/space -> ``_``, so the
  dataset folder spelling ``large.cell.carcinoma`` maps to ``large_cell_carcinoma``); anything
  else is an ``unknown_class``.
* **Duplicates** are decided by the source reader (a row whose every column except ``id`` equals a
  row with a lower id: the same submission inserted twice; image paths carry a uuid4, so two
  genuine submissions never match). The first occurrence migrates, later ones are quarantined
  as ``duplicate``. See :mod:`ctscan_ops.feedback.source`.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

CLASSES: tuple[str, ...] = (
    "adenocarcinoma",
    "large_cell_carcinoma",
    "squamous_cell_carcinoma",
    "normal",
)
TTL_DAYS = 90
DEFAULT_SOURCE_LABEL = "sqlite"

COLUMNS: tuple[str, ...] = (
    "id",
    "timestamp",
    "image_path",
    "predicted_class",
    "predicted_confidence",
    "is_correct",
    "correct_class",
    "user_note",
    "confidence_rating",
    "image_stats",
)
REQUIRED: tuple[str, ...] = (
    "timestamp",
    "image_path",
    "predicted_class",
    "predicted_confidence",
    "is_correct",
)

# Quarantine reason codes: stable strings, shown in the operator's table and stored in Firestore.
NULL_REQUIRED = "null_required_field"
BAD_TIMESTAMP = "bad_timestamp"
UNKNOWN_CLASS = "unknown_class"
BAD_CONFIDENCE = "confidence_out_of_range"
BAD_IS_CORRECT = "invalid_is_correct"
BAD_IMAGE_STATS = "malformed_image_stats"
INCONSISTENT = "inconsistent_correct_class"
DUPLICATE = "duplicate"
REASONS: tuple[str, ...] = (
    NULL_REQUIRED,
    BAD_TIMESTAMP,
    UNKNOWN_CLASS,
    BAD_CONFIDENCE,
    BAD_IS_CORRECT,
    BAD_IMAGE_STATS,
    INCONSISTENT,
    DUPLICATE,
)


@dataclass(frozen=True)
class SourceRow:
    """One row of the SQLite ``feedback`` table, values as SQLite returned them.

    ``duplicate_of`` is the lowest id with identical content when that is not this row's id
    (computed by the source query), else None.
    """

    id: int
    timestamp: Any
    image_path: Any
    predicted_class: Any
    predicted_confidence: Any
    is_correct: Any
    correct_class: Any = None
    user_note: Any = None
    confidence_rating: Any = None
    image_stats: Any = None
    duplicate_of: int | None = None

    def raw(self) -> dict[str, Any]:
        """The row's values as stored, made Firestore-safe (bytes -> hex) for the quarantine."""
        out: dict[str, Any] = {}
        for col in COLUMNS:
            v = getattr(self, col)
            out[col] = v.hex() if isinstance(v, bytes) else v
        return out


@dataclass(frozen=True)
class Normalised:
    """A valid row: its document id and the document to write."""

    source_id: int
    doc_id: str
    doc: dict[str, Any]


@dataclass(frozen=True)
class Rejected:
    """An invalid row: every reason found (first = primary) and a human-readable detail."""

    source_id: int
    doc_id: str
    reasons: tuple[str, ...]
    detail: str
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        return self.reasons[0]

    def record(self) -> dict[str, Any]:
        """The quarantine document: deterministic, so a re-run overwrites it identically."""
        return {
            "source_id": self.source_id,
            "reason": self.reason,
            "reasons": list(self.reasons),
            "detail": self.detail,
            "raw": self.raw,
        }


def doc_id_for(source_id: int, source_label: str = DEFAULT_SOURCE_LABEL) -> str:
    """Deterministic document id for a source row (zero-padded so name order == id order)."""
    if source_id < 0 or source_id >= 10**10:
        raise ValueError(f"source id {source_id} outside the 10-digit document id scheme")
    return f"{source_label}-{source_id:010d}"


def normalise_class(value: Any) -> str | None:
    """Map a stored class spelling onto one of ``CLASSES``; None when it is not one of them."""
    if not isinstance(value, str):
        return None
    key = value.strip().lower().replace(".", "_").replace("-", "_").replace(" ", "_")
    return key if key in CLASSES else None


def parse_timestamp(value: Any) -> tuple[datetime, bool]:
    """Parse an ISO-8601 timestamp to aware UTC; returns (utc datetime, was_naive).

    Accepts the ``T`` or space separator, fractional seconds and ``Z``; raises ValueError else.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"timestamp {value!r} is not an ISO-8601 string")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"timestamp {value!r} is not ISO-8601") from None
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC), True
    return dt.astimezone(UTC), False


def parse_confidence(value: Any) -> float:
    """A finite float in [0, 1]; raises ValueError otherwise (SQLite may hold text or NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"predicted_confidence {value!r} is not a number")
    conf = float(value)
    if not math.isfinite(conf) or not 0.0 <= conf <= 1.0:
        raise ValueError(f"predicted_confidence {value!r} outside [0, 1]")
    return conf


def parse_is_correct(value: Any) -> bool:
    """SQLite stores BOOLEAN as 0/1; anything else is not a verdict."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError(f"is_correct {value!r} is not 0 or 1")


def parse_image_stats(value: Any) -> dict[str, float | int] | None:
    """JSON text -> map of finite numbers (the API's mean/std/.../height/width); None stays None."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"image_stats is {type(value).__name__}, not JSON text")
    try:
        obj = json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"image_stats is not valid JSON ({exc.msg} at {exc.pos})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"image_stats JSON is a {type(obj).__name__}, not an object")
    for k, v in obj.items():
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ValueError(f"image_stats[{k!r}] = {v!r} is not a finite number")
    return obj


def _optional_text(value: Any) -> str | None:
    return None if value is None else str(value)


def classify(row: SourceRow, source_label: str = DEFAULT_SOURCE_LABEL) -> Normalised | Rejected:
    """Validate and normalise one row; collects every problem so the operator sees all at once."""
    doc_id = doc_id_for(row.id, source_label)
    reasons: list[str] = []
    details: list[str] = []

    def reject(code: str, msg: str) -> None:
        if code not in reasons:
            reasons.append(code)
        details.append(msg)

    if row.duplicate_of is not None:
        reject(DUPLICATE, f"same content as id {row.duplicate_of}")
    nulls = [c for c in REQUIRED if getattr(row, c) is None]
    if isinstance(row.image_path, str) and not row.image_path.strip():
        nulls.append("image_path")
    if nulls:
        reject(NULL_REQUIRED, f"NULL/empty required field(s): {', '.join(nulls)}")

    ts = was_naive = None
    if row.timestamp is not None:
        try:
            ts, was_naive = parse_timestamp(row.timestamp)
        except ValueError as exc:
            reject(BAD_TIMESTAMP, str(exc))
    predicted = normalise_class(row.predicted_class)
    if row.predicted_class is not None and predicted is None:
        reject(UNKNOWN_CLASS, f"predicted_class {row.predicted_class!r} not in {CLASSES}")
    correct = normalise_class(row.correct_class)
    if row.correct_class is not None and correct is None:
        reject(UNKNOWN_CLASS, f"correct_class {row.correct_class!r} not in {CLASSES}")
    conf = None
    if row.predicted_confidence is not None:
        try:
            conf = parse_confidence(row.predicted_confidence)
        except ValueError as exc:
            reject(BAD_CONFIDENCE, str(exc))
    is_correct = None
    if row.is_correct is not None:
        try:
            is_correct = parse_is_correct(row.is_correct)
        except ValueError as exc:
            reject(BAD_IS_CORRECT, str(exc))
    stats = None
    try:
        stats = parse_image_stats(row.image_stats)
    except ValueError as exc:
        reject(BAD_IMAGE_STATS, str(exc))
    if is_correct and correct is not None and predicted is not None and correct != predicted:
        reject(INCONSISTENT, f"is_correct=1 but correct_class {correct!r} != {predicted!r}")

    if reasons:
        return Rejected(row.id, doc_id, tuple(reasons), "; ".join(details), row.raw())
    assert ts is not None and conf is not None and is_correct is not None  # for type checkers
    return Normalised(
        row.id,
        doc_id,
        {
            "timestamp": ts,
            "image_path": row.image_path,
            "predicted_class": predicted,
            "predicted_confidence": conf,
            "is_correct": is_correct,
            "correct_class": correct,
            "user_note": _optional_text(row.user_note),
            "confidence_rating": _optional_text(row.confidence_rating),
            "image_stats": stats,
            "expireAt": ts + timedelta(days=TTL_DAYS),
            "source_id": row.id,
            "timestamp_assumed_utc": bool(was_naive),
        },
    )


def _canonical(value: Any) -> Any:
    """JSON-able canonical form shared by both sides of the parity check."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime in a normalised document")
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        # Firestore keeps int and double apart, but JSON text like 512.0 vs 512 is a distinction
        # without a difference for parity; compare numbers by value.
        return int(value)
    return value


def content_hash(doc: dict[str, Any]) -> str:
    """SHA-256 over a canonical JSON of the document (field order and int/float spelling free)."""
    text = json.dumps(_canonical(doc), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()
