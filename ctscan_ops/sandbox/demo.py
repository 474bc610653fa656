"""The one-command sandbox demo: emulators up, world generated, every asset materialized.

Runs go through a real, persistent Dagster instance (``DAGSTER_HOME``, by default
``.sandbox/dagster_home`` with the repo's ``dagster.yaml``), so ``dagster dev`` afterwards shows
every run, materialization, check and sensor-made event of the demo.

How each domain is demonstrated (e.g. tick a sensor, then materialize the partitions it
requested) is in :mod:`ctscan_ops.sandbox.demo_steps`; a domain without steps there gets its
unpartitioned assets materialized.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg

from ctscan_ops.config import REPO_ROOT, get_settings
from ctscan_ops.domains import domain_module

# The demo prints one line per run (and one line of reason for a run that did not succeed);
# the full event log, stack traces included, is in the instance (and the UI). The console
# logger is silenced: Dagster logs a failed step with its stack trace at ERROR level.
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@dataclass(frozen=True)
class AutomationTick:
    """What one automation evaluation requested ({partition or None: asset keys}) and ran."""

    requested: dict[str | None, tuple[str, ...]]
    outcomes: tuple[Any, ...]


@dataclass(frozen=True)
class RunOutcome:
    label: str
    run_id: str
    status: str
    reason: str = ""


def _first_line(text: str | None, limit: int = 300) -> str:
    line = next((s.strip() for s in (text or "").splitlines() if s.strip()), "")
    return line if len(line) <= limit else line[: limit - 3] + "..."


def blocked_by(result: Any) -> str:
    """ "check X on Y failed: <its description>" for a run stopped by a blocking check, else ""."""
    if result.success:
        return ""
    failed = [
        e
        for e in result.get_asset_check_evaluations()
        if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
    ]
    if not failed:
        return ""
    parts = []
    for e in failed:
        why = _first_line(e.description) or _first_line(str(e.metadata.get("decision", "")))
        where = e.asset_key.to_user_string() + (f" [{e.partition}]" if e.partition else "")
        parts.append(f"check {e.check_name} on {where} failed" + (f": {why}" if why else ""))
    return "; ".join(parts)


def failure_reason(result: Any) -> str:
    """The first failed step and its error message, in one line ("" for a successful run)."""
    if result.success:
        return ""
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        message = error.message if error is not None else ""
        # "package.module.SomeError: what happened": keep what happened
        text = re.sub(r"^[A-Za-z_][\w.]*(Error|Exception|Failure): ", "", _first_line(message))
        return f"{event.step_key} failed: {text}"
    return "the run failed before a step ran (see the run in the UI)"


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
        self.automation_cursor: Any = None
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
        return self._record(result, name, t0, expect_blocked=expect_blocked)

    def _record(
        self,
        result: Any,
        name: str,
        t0: float,
        expect_blocked: bool = False,
        block_is_expected_anywhere: bool = False,
    ) -> RunOutcome:
        """Status line of a run, plus one line of reason when it did not succeed (the failed
        blocking check and its description, or the failed step's error message)."""
        status = "RUN_SUCCESS" if result.success else "RUN_FAILURE"
        blocks = blocked_by(result)
        if expect_blocked:
            status = "BLOCKED" if blocks else "NOT_BLOCKED"
            name += " (expected: blocked by a check)"
        elif block_is_expected_anywhere and blocks:
            status = "BLOCKED"
        outcome = RunOutcome(name, result.run_id, status, reason=blocks or failure_reason(result))
        self.outcomes.append(outcome)
        self.log(f"  {status:<11} {name} ({time.monotonic() - t0:.1f}s)")
        if outcome.reason and status != "RUN_SUCCESS":
            self.log(f"              {outcome.reason}")
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
        return self._record(result, name, t0)

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
            if not selection and sensor.asset_selection is not None:
                graph = self.defs.resolve_asset_graph()
                selection = sorted(
                    k.to_user_string() for k in sensor.asset_selection.resolve(graph)
                )
            if not selection and sensor.targets:  # target=[asset]: an anonymous asset job
                selection = self._job_assets(sensor.targets[0].job_name)
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

    def automate(
        self, evaluation_time: datetime | None = None, selection: Any = None
    ) -> AutomationTick:
        """One evaluation of every automation condition, as the automation sensor does, then
        the requested runs (one per partition key; unpartitioned assets together).

        The cursor is kept on the runner, so successive calls see what changed in between
        (``since_last_handled``, ``newly_updated``, cron ticks passed between two evaluations).
        """
        result = dg.evaluate_automation_conditions(
            defs=self.defs,
            instance=self.instance,
            asset_selection=selection,
            evaluation_time=evaluation_time,
            cursor=self.automation_cursor,
        )
        self.automation_cursor = result.cursor
        by_partition: dict[str | None, list[str]] = {}
        for key in sorted(self._keys_with_conditions(), key=lambda k: k.to_user_string()):
            for partition in result.get_requested_partitions(key):
                by_partition.setdefault(partition, []).append(key.to_user_string())
        outcomes = []
        # partitioned runs first (per environment: state -> plan, deployed settings), then the
        # unpartitioned assets that read them (alert_quality reads every environment's drift)
        for partition in sorted(by_partition, key=lambda p: (p is None, p or "")):
            keys = by_partition[partition]
            label = "automation -> " + ", ".join(keys) + (f" [{partition}]" if partition else "")
            outcomes.append(self._automated_run(keys, partition, label))
        return AutomationTick(
            requested={p: tuple(k) for p, k in by_partition.items()}, outcomes=tuple(outcomes)
        )

    def _automated_run(self, keys: list[str], partition: str | None, label: str) -> RunOutcome:
        """A requested run; one stopped by a blocking check is a gate doing its job (BLOCKED)."""
        t0 = time.monotonic()
        result = dg.materialize(
            self._assets,
            selection=dg.AssetSelection.assets(*[dg.AssetKey.from_user_string(k) for k in keys]),
            partition_key=partition,
            instance=self.instance,
            raise_on_error=False,
            run_config=QUIET_LOGS,
            tags={"ctscan/demo": "true", "ctscan/automation": "true"},
        )
        return self._record(result, label, t0, block_is_expected_anywhere=True)

    def automate_until_quiet(
        self, evaluation_time: datetime | None = None, max_rounds: int = 8
    ) -> list[AutomationTick]:
        """Evaluate, run what was requested, and evaluate again until nothing is requested
        (a chain such as state -> plan -> drift settings -> quality takes several rounds)."""
        ticks = []
        for _ in range(max_rounds):
            tick = self.automate(evaluation_time)
            ticks.append(tick)
            if not tick.requested:
                break
        return ticks

    def _keys_with_conditions(self) -> list[dg.AssetKey]:
        graph = self.defs.resolve_asset_graph()
        return [k for k in graph.materializable_asset_keys if graph.get(k).automation_condition]

    def _job_assets(self, job_name: str) -> list[str]:
        job = self.defs.get_repository_def().get_job(job_name)
        return sorted(k.to_user_string() for k in job.asset_layer.executable_asset_keys)

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


def check_demo_args(seed: int, days: int) -> None:
    """Validate before acting: nothing is started for arguments that cannot work."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ValueError(f"--seed: {seed!r} must be an integer in [0, 2**32)")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3_660:
        raise ValueError(f"--days: {days!r} must be an integer in [1, 3660]")


def run_demo(seed: int = 7, days: int = 35, keep_running: bool = True) -> dict[str, Any]:
    """Run the demo and return its summary (``ok``, ``runs``, ``failed``, where to look).

    Arguments are checked before any server starts. With ``keep_running=False`` the sandbox is
    stopped even if a step fails; with ``keep_running=True`` a step that *raises* stops the
    servers this call started (a sandbox that was already up is left as it was), so a failed
    demo never leaves stray servers behind.
    """
    from ctscan_ops.sandbox import services

    check_demo_args(seed, days)
    started: list[str] = []
    ok = False
    try:
        result = _run_demo(seed, days, started)
        ok = True
        return result
    finally:
        if not keep_running:
            services.down()
        elif not ok and started:
            services.stop(started, log=log)


def _already_running() -> set[str]:
    from ctscan_ops.sandbox import services

    try:
        return {name for name, item in services.status().items() if item.get("running")}
    except ValueError:  # a corrupt state file: `up` reports it
        return set()


#: what generating the world needs running (it writes objects and metric history; Firestore is
#: only read and written by the assets): the other services start alongside the world
WORLD_SERVICES: tuple[str, ...] = ("gcs", "monitoring")


def _note_started(state: dict[str, Any], before: set[str], started: list[str] | None) -> None:
    """Add the services this demo started (not running ``before`` it) to ``started``."""
    if started is not None:
        started.extend(n for n in state.get("services", {}) if n not in before and n not in started)


def _ensure_world(settings: Any, seed: int, days: int) -> None:
    """Generate the world unless the one on disk has this seed, length and end day."""
    from ctscan_ops.sandbox.world import default_world_end, generate_world, read_manifest

    end = default_world_end()
    manifest = read_manifest(settings)
    if _world_is_current(manifest, seed, days, end.isoformat()):
        log(f"== world: seed {seed} up to {end.date()} already generated")
    else:
        log(f"== world: generating seed {seed}, {days} days up to {end.date()}")
        generate_world(settings, seed=seed, end=end, days=days, progress=log)


def _run_demo(seed: int, days: int, started: list[str] | None = None) -> dict[str, Any]:
    from ctscan_ops.sandbox import services

    t_start = time.monotonic()
    log("== sandbox: starting local stand-ins (the rest start while the world is generated)")
    before = _already_running()
    state = services.up(services=WORLD_SERVICES, log=log)
    _note_started(state, before, started)
    os.environ.update(services.sandbox_env(state))
    settings = get_settings()
    later = [name for name in services.SERVICE_ORDER if name not in WORLD_SERVICES]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-up") as pool:
        rest = pool.submit(services.up, services=later, log=log)
        try:
            _ensure_world(settings, seed, days)
        except BaseException:
            # the world failed: still record what the other thread started, so it is stopped
            with contextlib.suppress(Exception):
                _note_started(rest.result(), before, started)
            raise
        state = rest.result()  # a service that failed to start was stopped by `up`
    _note_started(state, before, started)
    os.environ.update(services.sandbox_env(state))
    settings = get_settings()
    home = prepare_dagster_home(settings.sandbox_dir)

    from ctscan_ops.definitions import build_defs
    from ctscan_ops.sandbox import demo_steps

    setup_seconds = time.monotonic() - t_start
    t_runs = time.monotonic()
    defs = build_defs(settings)
    instance = dg.DagsterInstance.get()
    runner = DemoRunner(instance, defs, log=log)
    now = datetime.now(UTC)
    # The automation sensor's first evaluation, as when the daemon started a day ago: it only
    # records where things stand (cron ticks and updates are counted from here on).
    runner.automate(now - timedelta(days=1))

    def phase(steps: Sequence[demo_steps.DemoStep]) -> None:
        for domain, title, step in steps:
            if domain_module(domain, "definitions") is None:
                log(f"== {domain}: not built yet")
                continue
            log(f"== {domain}: {title}")
            step(runner, settings)

    def automation(title: str) -> None:
        log(f"== automation: {title}")
        ticks = runner.automate_until_quiet(datetime.now(UTC))
        log(
            f"  {sum(len(t.outcomes) for t in ticks)} run(s) requested "
            f"in {len(ticks)} evaluation(s)"
        )

    phase(demo_steps.BEFORE_AUTOMATION)
    automation("every asset whose condition is true (conditions: ctscan_ops/automation.py)")
    phase(demo_steps.AFTER_FIRST_AUTOMATION)
    automation("what the new inputs made true")
    phase(demo_steps.AFTER_SECOND_AUTOMATION)
    automation("what the tuning reports made true (threshold_tuning_plots draws their images)")

    runs_seconds = time.monotonic() - t_runs
    failed = [o for o in runner.outcomes if o.status not in ("RUN_SUCCESS", "BLOCKED")]
    blocked = [o for o in runner.outcomes if o.status == "BLOCKED"]
    seconds = time.monotonic() - t_start
    log(
        f"\n== {len(runner.outcomes)} run(s), {len(failed)} failed, {len(blocked)} stopped by a "
        f"gate as expected; runs phase {runs_seconds:.0f}s (setup: emulators + world "
        f"{setup_seconds:.0f}s; total {seconds:.0f}s)"
    )
    for o in blocked:
        log(f"  BLOCKED {o.label}: {o.reason}")
    for o in failed:
        log(f"  FAILED  {o.label}: {o.reason or 'see run ' + o.run_id}")
    log(f"""
What to open first:
  1. The UI        : DAGSTER_HOME={home} dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml
  2. alert_quality : http://127.0.0.1:3000/assets/alert_quality
                     per-policy false discovery rate, recall, readiness (the shadow-mode answer)
  3. threshold_tuning_report [prod]: recommended thresholds and the proposed tfvars change
                     (its curves and timelines are drawn by threshold_tuning_plots [prod])
  4. champion_model and its check challenger_beats_champion: why the weaker model was refused
  5. drift_report  : the daily Evidently report and the drift_share check
  6. Automation    : http://127.0.0.1:3000/automation (what runs by itself, and why)
Also:
  Artifacts        : {settings.endpoints.gcs_url}/storage/v1/b/{settings.artifacts_bucket}/o
  World manifest   : {settings.data_dir / "world.json"}
  Stop the sandbox : ctscan-ops sandbox down""")
    return {
        "ok": not failed,
        "runs": [_outcome(o) for o in runner.outcomes],
        "failed": [o.label for o in failed],
        "blocked": {o.label: o.reason for o in blocked},
        "seconds": round(seconds, 1),
        "runs_seconds": round(runs_seconds, 1),
        "setup_seconds": round(setup_seconds, 1),
        "dagster_home": str(home),
        "artifacts_bucket": settings.artifacts_bucket,
        "world_manifest": str(settings.data_dir / "world.json"),
    }


def _outcome(o: RunOutcome) -> dict[str, str]:
    return {"label": o.label, "run_id": o.run_id, "status": o.status, "reason": o.reason}


def log(message: str) -> None:
    """Demo progress is human text: stderr (stdout carries the one JSON document)."""
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(0 if run_demo()["ok"] else 1)
