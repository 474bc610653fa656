"""The sandbox's store of recorded metric series, behind the local MetricService.

A SQLite file, so the world generator can bulk-load weeks of Cloud Run-like series in seconds
and the gRPC server (another process) serves them to the real google-cloud-monitoring client.
Values are kept as the API's own ``TypedValue`` protobuf bytes, so INT64, DOUBLE and
DISTRIBUTION points round-trip exactly.

Every series row carries the end times of its first and last point (``first_us``,
``last_us``, kept by every write in the same transaction), indexed with the metric type: a
``ListTimeSeries`` over a recent interval reaches only the series that have points near it,
however many older series (e.g. one per past Cloud Run revision) the store has accumulated.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.api import metric_pb2
from google.cloud.monitoring_v3.types import common as common_types

SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    metric_type TEXT NOT NULL,
    metric_labels TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_labels TEXT NOT NULL,
    metric_kind INTEGER NOT NULL,
    value_type INTEGER NOT NULL,
    unit TEXT NOT NULL DEFAULT '',
    first_us INTEGER,
    last_us INTEGER
);
CREATE INDEX IF NOT EXISTS series_by_type ON series(metric_type);
CREATE TABLE IF NOT EXISTS points (
    series_id INTEGER NOT NULL,
    end_us INTEGER NOT NULL,
    start_us INTEGER,
    value BLOB NOT NULL,
    PRIMARY KEY (series_id, end_us)
) WITHOUT ROWID;
"""

MetricKind = metric_pb2.MetricDescriptor.MetricKind
ValueType = metric_pb2.MetricDescriptor.ValueType


class PointOrderError(ValueError):
    """A point is not newer than the latest point of its series (the API rejects those too)."""


@dataclass(frozen=True)
class SeriesDescriptor:
    metric_type: str
    metric_labels: dict[str, str]
    resource_type: str
    resource_labels: dict[str, str]
    metric_kind: int = MetricKind.GAUGE
    value_type: int = ValueType.DOUBLE
    unit: str = ""

    @property
    def key(self) -> str:
        return json.dumps(
            [
                self.metric_type,
                sorted(self.metric_labels.items()),
                self.resource_type,
                sorted(self.resource_labels.items()),
            ],
            separators=(",", ":"),
        )


@dataclass(frozen=True)
class StoredSeries:
    id: int
    descriptor: SeriesDescriptor


def encode_value(value: common_types.TypedValue | float | int) -> bytes:
    """Serialise a value as the API's TypedValue protobuf."""
    if isinstance(value, common_types.TypedValue):
        return common_types.TypedValue.serialize(value)
    pb = common_types.TypedValue.pb()()
    if isinstance(value, int) and not isinstance(value, bool):
        pb.int64_value = value
    else:
        pb.double_value = float(value)
    return pb.SerializeToString()


def _descriptor(row: Sequence[Any]) -> SeriesDescriptor:
    """A ``series`` row ``(id, metric_type, metric_labels, resource_type, resource_labels,
    metric_kind, value_type, unit, ...)`` as its descriptor."""
    return SeriesDescriptor(
        metric_type=row[1],
        metric_labels=json.loads(row[2]),
        resource_type=row[3],
        resource_labels=json.loads(row[4]),
        metric_kind=row[5],
        value_type=row[6],
        unit=row[7],
    )


class MetricStore:
    """Thread-safe access to the series database (one connection, serialised by a lock)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(SCHEMA)
        self._lock = threading.Lock()
        self._migrate()

    def _migrate(self) -> None:
        """Add and fill ``first_us``/``last_us`` in a store written before they existed."""
        cols = {r[1] for r in self._conn.execute("PRAGMA table_info(series)")}
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                if "last_us" not in cols:
                    self._conn.execute("ALTER TABLE series ADD COLUMN first_us INTEGER")
                    self._conn.execute("ALTER TABLE series ADD COLUMN last_us INTEGER")
                    self._refresh_span(None)
                self._conn.execute(
                    "CREATE INDEX IF NOT EXISTS series_by_type_last ON series(metric_type, last_us)"
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def _refresh_span(self, ids: Iterable[int] | None) -> None:
        """Recompute ``first_us``/``last_us`` of the series ``ids`` (all when None)."""
        sql = (
            "UPDATE series SET"
            " first_us = (SELECT MIN(end_us) FROM points WHERE series_id = series.id),"
            " last_us = (SELECT MAX(end_us) FROM points WHERE series_id = series.id)"
        )
        if ids is None:
            self._conn.execute(sql)
        else:
            self._conn.executemany(sql + " WHERE id = ?", [(i,) for i in ids])

    def close(self) -> None:
        self._conn.close()

    # -- writes -------------------------------------------------------------------------------
    def _series_id(self, desc: SeriesDescriptor, create: bool = True) -> int | None:
        row = self._conn.execute(
            "SELECT id, metric_kind, value_type FROM series WHERE key = ?", (desc.key,)
        ).fetchone()
        if row:
            if (row[1], row[2]) != (int(desc.metric_kind), int(desc.value_type)):
                raise ValueError(
                    f"series {desc.metric_type} {desc.metric_labels} already exists with "
                    f"metric_kind={MetricKind.Name(row[1])} value_type={ValueType.Name(row[2])}"
                )
            return int(row[0])
        if not create:
            return None
        cur = self._conn.execute(
            "INSERT INTO series (key, metric_type, metric_labels, resource_type, resource_labels,"
            " metric_kind, value_type, unit) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                desc.key,
                desc.metric_type,
                json.dumps(desc.metric_labels),
                desc.resource_type,
                json.dumps(desc.resource_labels),
                int(desc.metric_kind),
                int(desc.value_type),
                desc.unit,
            ),
        )
        return int(cur.lastrowid)

    def write_points(
        self,
        batch: Sequence[tuple[SeriesDescriptor, int, int | None, bytes]],
        enforce_order: bool = True,
    ) -> None:
        """Write ``(descriptor, end_us, start_us, value_bytes)`` rows in one transaction.

        With ``enforce_order`` (the API's rule) a point must be newer than the newest stored
        point of its series; the whole batch is rejected otherwise, so nothing is half-written.
        """
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                latest: dict[int, int] = {}
                rows = []
                for desc, end_us, start_us, value in batch:
                    sid = self._series_id(desc)
                    assert sid is not None
                    if enforce_order:
                        if sid not in latest:
                            prev = self._conn.execute(
                                "SELECT MAX(end_us) FROM points WHERE series_id = ?", (sid,)
                            ).fetchone()[0]
                            latest[sid] = prev if prev is not None else -(2**62)
                        if end_us <= latest[sid]:
                            raise PointOrderError(
                                f"Points must be written in order: {desc.metric_type} "
                                f"{desc.metric_labels} has a point at or after end time "
                                f"{end_us / 1e6:.0f}s"
                            )
                        latest[sid] = end_us
                    rows.append((sid, end_us, start_us, value))
                self._conn.executemany(
                    "INSERT OR REPLACE INTO points (series_id, end_us, start_us, value)"
                    " VALUES (?, ?, ?, ?)",
                    rows,
                )
                self._refresh_span(sorted({r[0] for r in rows}))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def bulk_load(
        self,
        desc: SeriesDescriptor,
        end_us: Sequence[int],
        values: Sequence[bytes],
        start_us: Sequence[int | None] | None = None,
    ) -> int:
        """Load recorded history for one series (the world generator's fast path)."""
        return self.load_history([(desc, end_us, start_us, values)])

    def load_history(
        self,
        batches: Iterable[
            tuple[SeriesDescriptor, Sequence[int], Sequence[int | None] | None, Sequence[bytes]]
        ],
        replace: Callable[[SeriesDescriptor], bool] | None = None,
    ) -> int:
        """Load ``(descriptor, end_us, start_us, values)`` batches in one transaction.

        Each series is resolved once per batch (not once per point). With ``replace``, the
        stored points of every series it selects are deleted first, in the same transaction:
        regenerating a world replaces the previous one instead of mixing with it.
        """
        total = 0
        with self._lock:
            stale = []
            if replace is not None:
                stale = [s.id for s in self._all_series_unlocked() if replace(s.descriptor)]
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "DELETE FROM points WHERE series_id = ?", [(i,) for i in stale]
                )
                touched = set(stale)
                for desc, end_us, start_us, values in batches:
                    starts = start_us if start_us is not None else [None] * len(end_us)
                    if not (len(end_us) == len(values) == len(starts)):
                        raise ValueError(
                            f"{desc.metric_type}: end_us, values and start_us differ in length"
                        )
                    sid = self._series_id(desc)
                    assert sid is not None
                    touched.add(sid)
                    self._conn.executemany(
                        "INSERT OR REPLACE INTO points (series_id, end_us, start_us, value)"
                        " VALUES (?, ?, ?, ?)",
                        zip(itertools.repeat(sid), end_us, starts, values),
                    )
                    total += len(end_us)
                self._refresh_span(sorted(touched))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return total

    # -- reads --------------------------------------------------------------------------------
    def all_series(self, metric_type: str | None = None) -> list[StoredSeries]:
        with self._lock:
            return self._all_series_unlocked(metric_type)

    def _all_series_unlocked(self, metric_type: str | None = None) -> list[StoredSeries]:
        query = (
            "SELECT id, metric_type, metric_labels, resource_type, resource_labels,"
            " metric_kind, value_type, unit FROM series"
        )
        if metric_type:
            rows = self._conn.execute(
                query + " WHERE metric_type = ? ORDER BY id", (metric_type,)
            ).fetchall()
        else:
            rows = self._conn.execute(query + " ORDER BY id").fetchall()
        return [
            StoredSeries(
                id=r[0],
                descriptor=_descriptor(r),
            )
            for r in rows
        ]

    def points(
        self, series_id: int, start_us: int, end_us: int, include_start: bool
    ) -> list[tuple[int, int | None, bytes]]:
        """Points of a series in the interval, newest first (the API's order)."""
        op = ">=" if include_start else ">"
        with self._lock:
            return self._conn.execute(
                f"SELECT end_us, start_us, value FROM points WHERE series_id = ? AND end_us {op} ?"
                " AND end_us <= ? ORDER BY end_us DESC",
                (series_id, start_us, end_us),
            ).fetchall()

    def select_points(
        self,
        series_where: str,
        params: Sequence[object],
        start_us: int,
        end_us: int,
        include_start: bool,
        after: tuple[int, int] | None = None,
        limit: int | None = None,
    ) -> list[tuple[int, int, int | None, bytes]]:
        """``(series_id, end_us, start_us, value)`` of the selected series' points in the
        interval, by series id then newest first (the API's order), in ONE query.

        ``series_where`` is an SQL condition on the series row ``s`` (the filter);
        ``after = (series_id, end_us)`` resumes at that point (keyset paging, inclusive).
        The series' ``last_us``/``first_us`` bounds, with the ``(metric_type, last_us)``
        index, keep series without points near the interval out of the join.
        """
        op = ">=" if include_start else ">"
        sql = (
            "SELECT s.id, p.end_us, p.start_us, p.value FROM series AS s"
            " JOIN points AS p ON p.series_id = s.id"
            f" WHERE ({series_where}) AND s.last_us {op} ? AND s.first_us <= ?"
            f" AND p.end_us {op} ? AND p.end_us <= ?"
        )
        args: list[object] = [*params, start_us, end_us, start_us, end_us]
        if after is not None:
            sql += " AND (s.id > ? OR (s.id = ? AND p.end_us <= ?))"
            args += [after[0], after[0], after[1]]
        sql += " ORDER BY s.id, p.end_us DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def select_series_ids(
        self,
        series_where: str,
        params: Sequence[object],
        start_us: int,
        end_us: int,
        include_start: bool,
        after: int | None = None,
        limit: int | None = None,
    ) -> list[int]:
        """Ids of the selected series with at least one point in the interval (one query)."""
        op = ">=" if include_start else ">"
        sql = (
            f"SELECT s.id FROM series AS s WHERE ({series_where})"
            f" AND s.last_us {op} ? AND s.first_us <= ?"
            " AND EXISTS (SELECT 1 FROM points AS p WHERE p.series_id = s.id"
            f" AND p.end_us {op} ? AND p.end_us <= ?)"
        )
        args: list[object] = [*params, start_us, end_us, start_us, end_us]
        if after is not None:
            sql += " AND s.id >= ?"
            args.append(after)
        sql += " ORDER BY s.id"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        with self._lock:
            return [r[0] for r in self._conn.execute(sql, args)]

    def series_by_id(self, ids: Iterable[int]) -> dict[int, SeriesDescriptor]:
        """Descriptors of the given series ids (series rows never change once created)."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, metric_type, metric_labels, resource_type, resource_labels,"
                " metric_kind, value_type, unit FROM series"
                " WHERE id IN (SELECT value FROM json_each(?))",
                (json.dumps(wanted),),
            ).fetchall()
        return {r[0]: _descriptor(r) for r in rows}

    def iter_counts(self) -> Iterator[tuple[str, int]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT s.metric_type, COUNT(*) FROM points p JOIN series s ON s.id = p.series_id"
                " GROUP BY s.metric_type ORDER BY s.metric_type"
            ).fetchall()
        yield from rows
