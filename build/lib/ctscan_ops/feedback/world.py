"""The sandbox's legacy SQLite feedback database: months of plausible feedback plus the bad rows.

Realism that matters for the migration: ids increase with time (AUTOINCREMENT), class mix and
correctness follow the classifier (confident predictions are right more often), most rows carry
the API's ``image_stats`` JSON, and a known share of rows are defective in each way real files
are (see ``BAD_KINDS``). Every defective row carries exactly one defect, so the expected
quarantine table is known from the summary.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ctscan_ops.feedback import schema
from ctscan_ops.feedback.source import LEGACY_DDL

CLASS_MIX = (0.34, 0.16, 0.2, 0.3)  # adenocarcinoma, large cell, squamous, normal
RATINGS = ("Very Low", "Low", "Medium", "High", "Very High")
# Spellings the normaliser accepts: they must migrate, not be quarantined.
VARIANT_SPELLINGS = {
    "adenocarcinoma": "Adenocarcinoma",
    "large_cell_carcinoma": "large.cell.carcinoma",
    "squamous_cell_carcinoma": "Squamous Cell Carcinoma ",
    "normal": "NORMAL",
}
# reason code -> share of rows injected with that defect
BAD_KINDS: dict[str, float] = {
    schema.BAD_IMAGE_STATS: 0.006,
    schema.UNKNOWN_CLASS: 0.004,
    schema.BAD_CONFIDENCE: 0.004,
    schema.NULL_REQUIRED: 0.004,
    schema.BAD_TIMESTAMP: 0.002,
    schema.DUPLICATE: 0.006,
}
DEFAULT_ROWS = 40_000
HISTORY_DAYS = 150


def _fmt_timestamp(ts: datetime, style: float) -> str:
    """Mostly the API's ``isoformat()`` with +00:00; some naive, some local offset, some Z."""
    if style < 0.90:
        return ts.isoformat()
    if style < 0.94:
        return ts.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S")  # CURRENT_TIMESTAMP style
    if style < 0.97:
        hours = 1 if style < 0.955 else 2
        return ts.astimezone(timezone(timedelta(hours=hours))).isoformat()
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _draws(rng: np.random.Generator, n: int) -> dict[str, list]:
    """Every random number the good rows need, drawn in bulk (per-row draws are 10x slower),
    as plain lists (indexing numpy scalars one by one is slow too)."""
    conf = np.clip(rng.beta(8, 2, n), 0.25, 1.0)
    mean = rng.normal(110, 18, n)
    std = np.abs(rng.normal(55, 10, n)) + 5
    pct = np.sort(rng.normal(mean[:, None], std[:, None], (n, 3)), axis=1)
    side = rng.choice(np.array([256, 384, 512, 512, 512, 630]), n)
    arrays = {
        "cls": rng.choice(4, size=n, p=CLASS_MIX),
        "conf": conf,
        "correct": rng.random(n) < 0.45 + 0.5 * conf,
        "other": rng.integers(3, size=n),
        "rating": np.where(rng.random(n) < 0.6, rng.integers(5, size=n), -1),
        "note": rng.random(n) < 0.25,
        "stats": rng.random(n) < 0.92,
        "spell": rng.random(n) < 0.01,
        "ts_style": rng.random(n),
        "mean": mean,
        "std": std,
        "pct": pct,
        "side": side,
        "dw": rng.integers(-40, 41, size=n),
    }
    out: dict[str, list] = {k: v.tolist() for k, v in arrays.items()}
    raw = rng.bytes(16 * n)
    out["uuid"] = [raw[16 * i : 16 * i + 16].hex() for i in range(n)]
    return out


def _image_stats(d: dict[str, list], i: int) -> dict[str, Any]:
    p01, p50, p99 = d["pct"][i]
    side = int(d["side"][i])
    return {
        "mean": round(float(d["mean"][i]), 4),
        "std": round(float(d["std"][i]), 4),
        "min": 0.0,
        "max": 255.0,
        "p01": round(max(p01, 0.0), 4),
        "p50": round(p50, 4),
        "p99": round(min(p99, 255.0), 4),
        "height": side,
        "width": side + int(d["dw"][i]),
    }


def _good_row(d: dict[str, list], ts: datetime, i: int) -> list[Any]:
    predicted = schema.CLASSES[int(d["cls"][i])]
    conf = float(d["conf"][i])
    is_correct = bool(d["correct"][i])
    correct = None
    if not is_correct:
        others = [c for c in schema.CLASSES if c != predicted]
        correct = others[int(d["other"][i])]
    rating = RATINGS[int(d["rating"][i])] if d["rating"][i] >= 0 else None
    note = None
    if d["note"][i]:
        note = "looks consistent" if is_correct else "missed finding"
        if rating:
            note += f" [User Confidence: {rating}]"
    stats = json.dumps(_image_stats(d, i)) if d["stats"][i] else None
    folder = correct or predicted
    path = f"feedback/{folder}/scan_{i:06d}-{d['uuid'][i]}.png"
    spelled = VARIANT_SPELLINGS[predicted] if d["spell"][i] else predicted
    return [
        _fmt_timestamp(ts, float(d["ts_style"][i])),
        path,
        spelled,
        round(conf, 6),
        int(is_correct),
        correct,
        note,
        rating,
        stats,
    ]


def _inject(row: list[Any], kind: str, pick: int, null_col: int) -> list[Any]:
    """Give a good row exactly one defect of ``kind`` (not for duplicates)."""
    row = list(row)
    if kind == schema.BAD_IMAGE_STATS:
        row[8] = ['{"mean": 101.2, "std"', "[1, 2, 3]", '{"mean": "n/a"}'][pick]
    elif kind == schema.UNKNOWN_CLASS:
        row[2] = ["lymphoma", "benign", "unknown"][pick]
    elif kind == schema.BAD_CONFIDENCE:
        row[3] = [1.7, -0.2, 97.0][pick]
    elif kind == schema.NULL_REQUIRED:
        row[null_col] = None
    elif kind == schema.BAD_TIMESTAMP:
        row[0] = ["yesterday", "26/11/2025 10:00", ""][pick]
    else:
        raise ValueError(f"cannot inject {kind!r}")
    return row


def generate_feedback_db(
    path: Path,
    *,
    seed: int,
    n_rows: int = DEFAULT_ROWS,
    start: datetime,
    end: datetime,
) -> dict[str, Any]:
    """Write a fresh database at ``path`` (replacing one there); returns a summary.

    Deterministic for ``seed`` (same rows, same ids). The summary's ``injected`` counts are the
    rows given each defect, i.e. the expected quarantine table.
    """
    if start.tzinfo is None or end.tzinfo is None or end <= start:
        raise ValueError(f"need aware start < end, got {start!r} .. {end!r}")
    rng = np.random.default_rng(seed)
    span = (end - start).total_seconds()
    offsets = np.sort(rng.uniform(0, span, n_rows))
    kinds = list(BAD_KINDS)
    shares = np.array([BAD_KINDS[k] for k in kinds])
    draws = rng.random(n_rows)
    cum = np.cumsum(shares)
    d = _draws(rng, n_rows)
    picks = rng.integers(3, size=n_rows)
    null_cols = rng.integers(5, size=n_rows)
    dup_back = rng.integers(1, 51, size=n_rows)
    rows: list[list[Any]] = []
    injected: Counter[str] = Counter()
    for i, off in enumerate(offsets):
        ts = (start + timedelta(seconds=float(off))).astimezone(UTC)
        k = int(np.searchsorted(cum, draws[i], side="right"))
        kind = kinds[k] if k < len(kinds) else None
        if kind == schema.DUPLICATE and rows:
            # the same submission inserted again: an earlier *good* row, verbatim
            j = max(0, len(rows) - int(dup_back[i]))
            if rows[j][-1] == "good":
                rows.append([*rows[j][:-1], "dup"])
                injected[kind] += 1
                continue
            kind = None
        good = _good_row(d, ts, i)
        if kind is None or kind == schema.DUPLICATE:
            rows.append([*good, "good"])
        else:
            rows.append([*_inject(good, kind, int(picks[i]), int(null_cols[i])), "bad"])
            injected[kind] += 1

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    with closing(sqlite3.connect(tmp)) as conn:
        conn.execute(LEGACY_DDL)
        conn.executemany(
            "INSERT INTO feedback (timestamp, image_path, predicted_class, predicted_confidence,"
            " is_correct, correct_class, user_note, confidence_rating, image_stats)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (r[:-1] for r in rows),
        )
        conn.commit()
    tmp.replace(path)  # never leave a half-written database behind
    return {
        "path": str(path),
        "rows": n_rows,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "injected": dict(sorted(injected.items())),
        "valid_expected": n_rows - sum(injected.values()),
    }


def generate(ctx: Any) -> dict[str, Any]:
    """World hook: the feedback database at ``ctx.data_dir / "feedback" / "feedback.db"``.

    The legacy database predates the migration, so it covers ``HISTORY_DAYS`` before the world's
    end (or the world's own span if longer), not only the world's window.
    """
    seed = int(ctx.rng("feedback").integers(0, 2**32))
    path = Path(ctx.data_dir) / "feedback" / "feedback.db"
    start = min(ctx.start, ctx.end - timedelta(days=HISTORY_DAYS))
    ctx.progress(f"feedback: generating {DEFAULT_ROWS} rows into {path}")
    return generate_feedback_db(path, seed=seed, n_rows=DEFAULT_ROWS, start=start, end=ctx.end)
