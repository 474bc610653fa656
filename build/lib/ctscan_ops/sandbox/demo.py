"""The one-command sandbox demo: emulators up, world generated, every asset materialized.

Runs go through a real, persistent Dagster instance (``DAGSTER_HOME``, by default
``.sandbox/dagster_home`` with the repo's ``dagster.yaml``), so ``dagster dev`` afterwards shows
every run, materialization, check and sensor-made event of the demo.

Each domain decides how its assets are demonstrated with an optional
``demo_steps(runner: DemoRunner)`` in its ``definitions.py`` (e.g. tick a sensor, then
materialize the partitions it requested); a domain without one gets its unpartitioned assets
materialized.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from ctscan_ops.config import REPO_ROOT, get_settings
from ctscan_ops.domains import domain_module

# The demo prints one line per run; the full event log is in the instance (and the UI).
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
DEMO_ORDER: tuple[str, ...] = ("infra", "feedback", "drift", "registry", "alerting")


@dataclass(frozen=True)
class RunOutcome:
    label: str
    run_id: str
    status: str


class DemoRunner:
    """Materializes selections and ticks sensors against one instance, recording outcomes."""

    def __init__(
        self,
        instance: dg.DagsterInstance,
        defs: dg.Definitions,
        log: Callable[[str], None] = print,
    ) -> None:
        self.instance = instance
        self.defs = defs
        self.log = log
        self.outcomes: list[RunOutcome] = []
        # assets as the repository binds them: resources are already attached
        graph = defs.get_repository_def().asset_graph
        self._assets = list(graph.assets_defs)
        self._resources = defs.resources or {}

    def materialize(
        self,
        selection: str | Sequence[str],
        partition_key: str | None = None,
        label: str = "",
        expect_blocked: bool = False,
    ) -> RunOutcome:
        """Run ``selection`` (asset selection string or key list) for one partition or none.

        ``expect_blocked``: the run is meant to be stopped by a blocking check (a gate doing its
        job); it is then recorded as BLOCKED, and a run that gets through counts as a failure.
        """
        if isinstance(selection, str):
            sel: Any = dg.AssetSelection.from_string(selection)
        else:
            sel = dg.AssetSelection.assets(*[dg.AssetKey.from_user_string(k) for k in selection])
        name = label or f"{selection}" + (f" [{partition_key}]" if partition_key else "")
        t0 = time.monotonic()
        result = dg.materialize(
            self._assets,
            selection=sel,
            partition_key=partition_key,
            instance=self.instance,
            raise_on_error=False,
            run_config=QUIET_LOGS,
            tags={"ctscan/demo": "true"},
        )
        status = "RUN_SUCCESS" if result.success else "RUN_FAILURE"
        if expect_blocked:
            failed_checks = [e for e in result.get_asset_check_evaluations() if not e.passed]
            blocked = not result.success and bool(failed_checks)
            status = "BLOCKED" if blocked else "NOT_BLOCKED"
            name += " (expected: blocked by a check)"
        outcome = RunOutcome(name, result.run_id, status)
        self.outcomes.append(outcome)
        self.log(f"  {status:<11} {name} ({time.monotonic() - t0:.1f}s)")
        return outcome

    def materialize_range(
        self, selection: Sequence[str], first_key: str, last_key: str, label: str = ""
    ) -> RunOutcome:
        """One run over a partition range (assets with a single-run backfill policy)."""
        sel = dg.AssetSelection.assets(*[dg.AssetKey.from_user_string(k) for k in selection])
        name = label or f"{','.join(selection)} [{first_key}...{last_key}]"
        t0 = time.monotonic()
        result = dg.materialize(
            self._assets,
            selection=sel,
            instance=self.instance,
            raise_on_error=False,
            run_config=QUIET_LOGS,
            tags={
                "ctscan/demo": "true",
                "dagster/asset_partition_range_start": first_key,
                "dagster/asset_partition_range_end": last_key,
            },
        )
        status = "RUN_SUCCESS" if result.success else "RUN_FAILURE"
        outcome = RunOutcome(name, result.run_id, status)
        self.outcomes.append(outcome)
        self.log(f"  {status:<11} {name} ({time.monotonic() - t0:.1f}s)")
        return outcome

    @staticmethod
    def world_days(manifest: dict[str, Any]) -> list[str]:
        """The daily partition keys the generated world covers."""
        if not manifest.get("start") or not manifest.get("end"):
            return []
        from datetime import datetime, timedelta

        start = datetime.fromisoformat(manifest["start"])
        end = datetime.fromisoformat(manifest["end"])
        return [(start + timedelta(days=i)).strftime("%Y-%m-%d") for i in range((end - start).days)]

    def tick_sensor(self, sensor_name: str, cursor: str | None = None) -> dg.SensorResult | Any:
        """Evaluate a sensor once, as the daemon would, and apply what it asks for.

        Dynamic partition requests are applied to the instance, run requests are executed in
        process, asset events are reported. Returns the raw result.
        """
        sensor = self.defs.resolve_sensor_def(sensor_name)
        stored_cursor = cursor
        key = f"ctscan_demo_cursor/{sensor_name}"
        if stored_cursor is None:
            stored_cursor = self.instance.run_storage.get_cursor_values({key}).get(key)
        with dg.build_sensor_context(
            instance=self.instance,
            cursor=stored_cursor,
            resources=self._resources,
            definitions=self.defs,
        ) as context:
            data = sensor.evaluate_tick(context)
        for request in data.dynamic_partitions_requests or []:
            if isinstance(request, dg.AddDynamicPartitionsRequest):
                self.instance.add_dynamic_partitions(
                    request.partitions_def_name, list(request.partition_keys)
                )
        for event in data.asset_events or []:
            self.instance.report_runless_asset_event(event)
        for run_request in data.run_requests or []:
            selection = [k.to_user_string() for k in (run_request.asset_selection or [])]
            if not selection:
                job = sensor.job_name if sensor.has_loadable_targets() else None
                selection = self._job_assets(job) if job else []
            self.materialize(
                selection,
                partition_key=run_request.partition_key,
                label=f"{sensor_name} -> {','.join(selection)}"
                + (f" [{run_request.partition_key}]" if run_request.partition_key else ""),
            )
        if data.cursor is not None:
            self.instance.run_storage.set_cursor_values({key: data.cursor})
        skip = data.skip_message
        self.log(
            f"  sensor {sensor_name}: {len(data.run_requests or [])} run request(s), "
            f"{len(data.asset_events or [])} event(s)" + (f"; skipped: {skip}" if skip else "")
        )
        return data

    def _job_assets(self, job_name: str) -> list[str]:
        job = self.defs.resolve_job_def(job_name)
        return [k.to_user_string() for k in job.asset_layer.executable_asset_keys]

    def unpartitioned_assets(self, group: str) -> list[str]:
        return [
            key.to_user_string()
            for ad in self._assets
            if ad.partitions_def is None and ad.is_executable
            for key in ad.keys
            if ad.group_names_by_key.get(key) == group
        ]


def prepare_dagster_home(sandbox_dir: Path) -> Path:
    """Use ``DAGSTER_HOME`` if set, else a sandbox-local one with the repo's dagster.yaml."""
    home = Path(os.environ.get("DAGSTER_HOME") or sandbox_dir / "dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists():
        shutil.copy(REPO_ROOT / "dagster.yaml", target)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def _world_is_current(manifest: dict[str, Any] | None, seed: int, days: int, end: str) -> bool:
    return bool(
        manifest
        and manifest.get("seed") == seed
        and manifest.get("end") == end
        and manifest.get("days") == days
        and not manifest.get("skipped")
    )


def run_demo(seed: int = 7, days: int = 35, keep_running: bool = True) -> int:
    """Run the demo; with ``keep_running=False`` the sandbox is stopped even if a step fails."""
    from ctscan_ops.sandbox import services

    try:
        return _run_demo(seed, days)
    finally:
        if not keep_running:
            services.down()


def _run_demo(seed: int, days: int) -> int:
    from ctscan_ops.sandbox import services
    from ctscan_ops.sandbox.world import default_world_end, generate_world, read_manifest

    t_start = time.monotonic()
    print("== sandbox: starting local stand-ins")
    state = services.up()
    os.environ.update(services.sandbox_env(state))
    settings = get_settings()
    home = prepare_dagster_home(settings.sandbox_dir)

    end = default_world_end()
    manifest = read_manifest(settings)
    if _world_is_current(manifest, seed, days, end.isoformat()):
        print(f"== world: seed {seed} up to {end.date()} already generated")
    else:
        print(f"== world: generating seed {seed}, {days} days up to {end.date()}")
        generate_world(settings, seed=seed, end=end, days=days)

    from ctscan_ops.definitions import build_defs

    defs = build_defs(settings)
    instance = dg.DagsterInstance.get()
    runner = DemoRunner(instance, defs)
    for domain in DEMO_ORDER:
        module = domain_module(domain, "definitions")
        if module is None:
            print(f"== {domain}: not built yet")
            continue
        print(f"== {domain}")
        steps = getattr(module, "demo_steps", None)
        if steps is not None:
            steps(runner)
        else:
            keys = runner.unpartitioned_assets(domain)
            if keys:
                runner.materialize(keys, label=f"{domain}: {', '.join(keys)}")

    failed = [o for o in runner.outcomes if o.status not in ("RUN_SUCCESS", "BLOCKED")]
    print(
        f"\n== {len(runner.outcomes)} run(s), {len(failed)} failed, "
        f"{time.monotonic() - t_start:.0f}s"
    )
    for o in failed:
        print(f"  FAILED {o.label}: run {o.run_id}")
    print(f"""
Where to look:
  Dagster instance : DAGSTER_HOME={home}
  Open the UI      : DAGSTER_HOME={home} dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml
                     then http://127.0.0.1:3000/assets
  Artifacts        : {settings.endpoints.gcs_url}/storage/v1/b/{settings.artifacts_bucket}/o
  World manifest   : {settings.data_dir / "world.json"}
  Stop the sandbox : ctscan-ops sandbox down""")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(run_demo())
