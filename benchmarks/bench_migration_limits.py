"""Cost of the Firestore-limit pre-check: migration throughput with it vs without, same run.

    python benchmarks/bench_migration_limits.py [--rows 10000] [--repeats 2]

Starts its own Firestore emulator (127.0.0.1, stopped at the end), generates a world database,
warms the emulator up, then alternates ``migrate()`` with every pre-check on (``checked``) and
with all of them switched off (``unchecked``, ``skip_checks=firestore_limits.KINDS``), each into
a fresh project; best of each is reported, plus the pure classification cost (no Firestore) for
the same rows. Nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=10_000)
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()

    import os

    from ctscan_ops.feedback import firestore_limits, migrate, schema, source
    from ctscan_ops.sandbox.processes import stop_group
    from ctscan_ops.sandbox.services import start_service
    from ctscan_ops.sandbox.worlds.feedback import generate_feedback_db

    tmp = Path(tempfile.mkdtemp(prefix="bench-limits-"))
    db = tmp / "feedback.db"
    generate_feedback_db(
        db,
        seed=1,
        n_rows=args.rows,
        start=datetime(2025, 4, 1, tzinfo=UTC),
        end=datetime(2025, 10, 1, tzinfo=UTC),
    )
    rows = list(source.iter_rows(db))
    off = frozenset(firestore_limits.KINDS)
    pure = {}
    for name, skip in (("checked", frozenset()), ("unchecked", off)) * 2:
        t0 = time.perf_counter()
        for r in rows:
            schema.classify(r, skip_checks=skip)
        pure[name] = min(pure.get(name, 1e9), time.perf_counter() - t0)

    record = start_service("firestore", tmp)
    os.environ["FIRESTORE_EMULATOR_HOST"] = record["endpoint"]
    try:
        from google.cloud import firestore

        def run(name: str, skip: frozenset[str]) -> float:
            client = firestore.Client(project=f"bench-{name}-{time.time_ns()}")
            t0 = time.perf_counter()
            rep = migrate.migrate(client, db, skip_checks=skip)
            secs = time.perf_counter() - t0
            assert rep.rows_read == len(rows)
            return len(rows) / secs

        run("warmup", frozenset())
        best: dict[str, float] = {}
        for _ in range(args.repeats):  # alternate so load drift hits both
            for name, skip in (("checked", frozenset()), ("unchecked", off)):
                rate = run(name, skip)
                best[name] = max(best.get(name, 0.0), rate)
                print(f"{name:<10} {rate:8.0f} rows/s", flush=True)
    finally:
        stop_group(record["pgid"])
    n = len(rows)
    print(
        f"\nclassify only ({n} rows): checked {pure['checked'] * 1e6 / n:.1f} us/row, "
        f"unchecked {pure['unchecked'] * 1e6 / n:.1f} us/row, "
        f"ratio {pure['checked'] / pure['unchecked']:.2f}"
    )
    print(
        f"migration: checked {best['checked']:.0f} rows/s, unchecked {best['unchecked']:.0f} "
        f"rows/s, throughput ratio checked/unchecked {best['checked'] / best['unchecked']:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
