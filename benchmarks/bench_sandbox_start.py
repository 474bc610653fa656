"""How long the demo waits for the sandbox's servers before it can generate the world.

Three ways, alternated round by round in fresh sandbox dirs (servers stopped by PID after
each), medians printed as ratios against the first (the previous path):

- ``sequential``: each service started and awaited in turn (``start_service`` one by one);
- ``side by side``: ``services.up()`` of all three (every one spawned, then each awaited);
- ``world's only``: ``services.up(WORLD_SERVICES)``, what the demo now waits for before the
  world (the other services start while the world is generated).

    python benchmarks/bench_sandbox_start.py --rounds 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ctscan_ops.sandbox import services
from ctscan_ops.sandbox.demo import WORLD_SERVICES


def _quiet(_: str) -> None:
    return None


def sequential(root: Path) -> None:
    state = services.read_state(root)
    for name in services.SERVICE_ORDER:
        state["services"][name] = services.start_service(name, root)
        services.write_state(root, state)


def side_by_side(root: Path) -> None:
    services.up(root, log=_quiet)


def worlds_only(root: Path) -> None:
    services.up(root, services=WORLD_SERVICES, log=_quiet)


def timed(fn: Callable[[Path], None]) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        try:
            fn(root)
            return time.perf_counter() - t0
        finally:
            services.down(root, log=_quiet)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    for var in ("STORAGE_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST", "CTSCAN_MONITORING_ENDPOINT"):
        os.environ.pop(var, None)
    cases = {"sequential": sequential, "side by side": side_by_side, "world's only": worlds_only}
    times: dict[str, list[float]] = {name: [] for name in cases}
    timed(side_by_side)  # warm-up: JVM and binaries into the page cache
    for _ in range(args.rounds):
        for name, fn in cases.items():
            times[name].append(timed(fn))
    base = statistics.median(times["sequential"])
    print(f"{'start':<14} {'median s':>9} {'x sequential':>13}")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"{name:<14} {med:9.2f} {med / base:13.2f}")


if __name__ == "__main__":
    main()
