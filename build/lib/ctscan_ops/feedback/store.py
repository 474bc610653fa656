"""The feedback store the API talks to: one protocol, a SQLite and a Firestore implementation.

Same contract as the original ``feedback_store.py`` (keyword-only ``save_feedback`` returning an
id, ``get_stats`` with totals, accuracy, per-class counts and the 10 newest items), with two
deliberate changes that the migration also applies, so old and new documents look alike:
``timestamp`` is a real UTC timestamp (the original stored an ISO string in Firestore and sorted
it lexicographically) and input is validated here (class names, confidence range, a correct
class for a wrong prediction) instead of only in the API. ``get_stats`` on Firestore uses
server-side ``count()`` aggregations and one ordered ``limit(10)`` query: it never downloads the
collection.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ctscan_ops.feedback.schema import CLASSES, TTL_DAYS, normalise_class, parse_confidence
from ctscan_ops.feedback.source import ORIGINAL_DDL

if TYPE_CHECKING:
    from google.cloud import firestore

Clock = Callable[[], datetime]
RECENT = 10


def utc_now() -> datetime:
    return datetime.now(UTC)


@runtime_checkable
class FeedbackStore(Protocol):
    def save_feedback(
        self,
        *,
        image_path: str,
        predicted_class: str,
        predicted_confidence: float,
        is_correct: bool,
        correct_class: str | None = None,
        user_note: str | None = None,
        confidence_rating: str | None = None,
        image_stats: Mapping[str, float | int] | None = None,
    ) -> str: ...

    def get_stats(self) -> dict[str, Any]: ...


def validated(
    *,
    image_path: str,
    predicted_class: str,
    predicted_confidence: float,
    is_correct: bool,
    correct_class: str | None,
) -> tuple[str, float, str | None]:
    """Normalised (predicted, confidence, correct) or ValueError naming the bad field."""
    if not isinstance(image_path, str) or not image_path.strip():
        raise ValueError("image_path must be a non-empty string")
    predicted = normalise_class(predicted_class)
    if predicted is None:
        raise ValueError(f"predicted_class {predicted_class!r} not in {CLASSES}")
    conf = parse_confidence(predicted_confidence)
    correct = None
    if correct_class is not None:
        correct = normalise_class(correct_class)
        if correct is None:
            raise ValueError(f"correct_class {correct_class!r} not in {CLASSES}")
    if not is_correct and correct is None:
        raise ValueError("correct_class is required when is_correct is false")
    return predicted, conf, correct


def _stats(total: int, correct: int, dist: dict[str, int], recent: list[dict], now: datetime):
    return {
        "total_feedback": total,
        "correct_predictions": correct,
        "incorrect_predictions": total - correct,
        "accuracy": correct / total if total else 0.0,
        "class_distribution": dist,
        "recent_feedback": recent,
        "timestamp": now.isoformat(),
    }


class SqliteFeedbackStore:
    """The original SQLite backend (table ``feedback``, original DDL); ids are row ids."""

    def __init__(self, path: Path | str, clock: Clock = utc_now):
        self.path = Path(path)
        self.clock = clock
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as conn:
            conn.execute(ORIGINAL_DDL)
            conn.commit()

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path)

    def save_feedback(
        self,
        *,
        image_path: str,
        predicted_class: str,
        predicted_confidence: float,
        is_correct: bool,
        correct_class: str | None = None,
        user_note: str | None = None,
        confidence_rating: str | None = None,
        image_stats: Mapping[str, float | int] | None = None,
    ) -> str:
        predicted, conf, correct = validated(
            image_path=image_path,
            predicted_class=predicted_class,
            predicted_confidence=predicted_confidence,
            is_correct=is_correct,
            correct_class=correct_class,
        )
        with closing(self._connect()) as conn:
            cur = conn.execute(
                "INSERT INTO feedback (timestamp, image_path, predicted_class,"
                " predicted_confidence, is_correct, correct_class, user_note,"
                " confidence_rating, image_stats) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    self.clock().astimezone(UTC).isoformat(),
                    image_path,
                    predicted,
                    conf,
                    int(bool(is_correct)),
                    correct,
                    user_note,
                    confidence_rating,
                    json.dumps(dict(image_stats)) if image_stats else None,
                ),
            )
            conn.commit()
            return str(cur.lastrowid)

    def get_stats(self) -> dict[str, Any]:
        with closing(self._connect()) as conn:
            total, correct = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(is_correct = 1), 0) FROM feedback"
            ).fetchone()
            dist = dict(
                conn.execute(
                    "SELECT predicted_class, COUNT(*) FROM feedback GROUP BY predicted_class"
                ).fetchall()
            )
            recent = [
                {"timestamp": ts, "predicted_class": cls, "is_correct": bool(ok)}
                for ts, cls, ok in conn.execute(
                    "SELECT timestamp, predicted_class, is_correct FROM feedback"
                    " ORDER BY timestamp DESC, id DESC LIMIT ?",
                    (RECENT,),
                )
            ]
        return _stats(int(total), int(correct), dist, recent, self.clock())


class FirestoreFeedbackStore:
    """Firestore backend: auto-id documents shaped like the migrated ones, TTL via expireAt."""

    def __init__(
        self, client: firestore.Client, collection: str = "feedback", clock: Clock = utc_now
    ):
        self.client = client
        self.collection = collection
        self.clock = clock

    def save_feedback(
        self,
        *,
        image_path: str,
        predicted_class: str,
        predicted_confidence: float,
        is_correct: bool,
        correct_class: str | None = None,
        user_note: str | None = None,
        confidence_rating: str | None = None,
        image_stats: Mapping[str, float | int] | None = None,
    ) -> str:
        predicted, conf, correct = validated(
            image_path=image_path,
            predicted_class=predicted_class,
            predicted_confidence=predicted_confidence,
            is_correct=is_correct,
            correct_class=correct_class,
        )
        ts = self.clock().astimezone(UTC)
        ref = self.client.collection(self.collection).document()
        ref.set(
            {
                "timestamp": ts,
                "image_path": image_path,
                "predicted_class": predicted,
                "predicted_confidence": conf,
                "is_correct": bool(is_correct),
                "correct_class": correct,
                "user_note": user_note,
                "confidence_rating": confidence_rating,
                "image_stats": dict(image_stats) if image_stats else None,
                "expireAt": ts + timedelta(days=TTL_DAYS),
            }
        )
        return ref.id

    def get_stats(self) -> dict[str, Any]:
        from google.cloud import firestore
        from google.cloud.firestore_v1.base_query import FieldFilter

        col = self.client.collection(self.collection)

        def count(q: Any) -> int:
            return int(q.count().get()[0][0].value)

        total = count(col)
        correct = count(col.where(filter=FieldFilter("is_correct", "==", True)))
        dist = {}
        for cls in CLASSES:
            n = count(col.where(filter=FieldFilter("predicted_class", "==", cls)))
            if n:
                dist[cls] = n
        q = (
            col.order_by("timestamp", direction=firestore.Query.DESCENDING)
            .limit(RECENT)
            .select(["timestamp", "predicted_class", "is_correct"])
        )
        recent = []
        for snap in q.stream():
            d = snap.to_dict()
            ts = d.get("timestamp")
            recent.append(
                {
                    "timestamp": ts.isoformat() if isinstance(ts, datetime) else ts,
                    "predicted_class": d.get("predicted_class"),
                    "is_correct": bool(d.get("is_correct")),
                }
            )
        return _stats(total, correct, dist, recent, self.clock())


def backend_from_env(env: Mapping[str, str]) -> str:
    """``CTSCAN_FEEDBACK_BACKEND`` (sqlite|firestore) wins; else the original ``USE_FIRESTORE``."""
    explicit = env.get("CTSCAN_FEEDBACK_BACKEND", "").strip().lower()
    if explicit:
        if explicit not in ("sqlite", "firestore"):
            raise ValueError(f"CTSCAN_FEEDBACK_BACKEND={explicit!r}; use 'sqlite' or 'firestore'")
        return explicit
    return "firestore" if env.get("USE_FIRESTORE") == "1" else "sqlite"


def create_feedback_store(
    backend: str,
    *,
    sqlite_path: Path | str | None = None,
    firestore_client: firestore.Client | None = None,
    collection: str = "feedback",
) -> FeedbackStore:
    """The store for ``backend``; the cut-over is this one configuration switch."""
    if backend == "sqlite":
        if sqlite_path is None:
            raise ValueError("sqlite backend needs sqlite_path")
        return SqliteFeedbackStore(sqlite_path)
    if backend == "firestore":
        if firestore_client is None:
            raise ValueError("firestore backend needs firestore_client")
        return FirestoreFeedbackStore(firestore_client, collection)
    raise ValueError(f"unknown feedback backend {backend!r}; use 'sqlite' or 'firestore'")
