"""Cold code-location load time and sandbox start/stop time.

Prints figures as ratios against baselines measured in the same run (the machine is shared):
- definitions load vs a bare ``import dagster`` (the floor any Dagster code location pays);
- ``sandbox up`` vs starting fake-gcs-server alone (the cheapest service).
Run: .venv/bin/python benchmarks/bench_foundation.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _time_python(code: str, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=REPO, capture_output=True)
    return time.perf_counter() - t0


def _time_cli(args: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "ctscan_ops.cli", *args],
        check=True,
        env=env,
        cwd=REPO,
        capture_output=True,
    )
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    env = {**os.environ, "CTSCAN_MODE": "sandbox"}
    bare = [_time_python("import dagster", env) for _ in range(args.repeat)]
    defs = [
        _time_python("from ctscan_ops.definitions import defs", env) for _ in range(args.repeat)
    ]
    print(f"import dagster (baseline)      median {statistics.median(bare):6.2f} s")
    print(
        f"ctscan_ops.definitions load    median {statistics.median(defs):6.2f} s "
        f"({statistics.median(defs) / statistics.median(bare):.2f}x baseline)"
    )

    ups, downs, gcs_only = [], [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            e = {**env, "CTSCAN_SANDBOX_DIR": tmp}
            gcs_only.append(_time_cli(["sandbox", "up", "--services", "gcs"], e))
            _time_cli(["sandbox", "down"], e)
            ups.append(_time_cli(["sandbox", "up"], e))
            downs.append(_time_cli(["sandbox", "down"], e))
    print(f"sandbox up, gcs only (baseline) median {statistics.median(gcs_only):6.2f} s")
    print(
        f"sandbox up, all services       median {statistics.median(ups):6.2f} s "
        f"({statistics.median(ups) / statistics.median(gcs_only):.2f}x baseline)"
    )
    print(f"sandbox down, all services     median {statistics.median(downs):6.2f} s")


if __name__ == "__main__":
    main()
