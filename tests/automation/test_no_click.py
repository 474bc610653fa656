"""Nothing needs a click: simulated days driven by the real automation machinery.

The project's alerting definitions (real assets, real conditions from ``ctscan_ops.automation``,
real sensors) run on a generated world through the real emulators: GCS (fake-gcs-server) and
the sandbox MetricService behind the unmodified google-cloud-monitoring client. Per simulated
day the only inputs are sensor ticks (the shadow sensor completing a day, the tuning sensor
reading the newest quality report); everything else is requested by
``dg.evaluate_automation_conditions`` at that simulated time and executed as requested.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from ctscan_ops import automation
from ctscan_ops.alerting.definitions import defs as alerting_defs
from ctscan_ops.alerting.sensors import shadow_alert_sensor
from ctscan_ops.alerting.settings import AlertingSettings
from ctscan_ops.alerting.tuning_assets import TuningOutput
from ctscan_ops.config import get_settings
from ctscan_ops.resources import ArtifactStore, MonitoringResource, make_storage_client
from ctscan_ops.sandbox.demo import DemoRunner
from ctscan_ops.sandbox.metric_service import build_server
from ctscan_ops.sandbox.metric_store import MetricStore
from ctscan_ops.sandbox.world import generate_world

END = datetime(2026, 11, 20, tzinfo=UTC)
DAYS = 8
DAY_KEYS = [(END - timedelta(days=DAYS - i)).strftime("%Y-%m-%d") for i in range(DAYS)]


def _start(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def world(tmp_path_factory, gcs_emulator):
    root = tmp_path_factory.mktemp("no-click-world")
    settings = get_settings(
        {
            "CTSCAN_SANDBOX_DIR": str(root),
            "STORAGE_EMULATOR_HOST": gcs_emulator,
            "CTSCAN_PROJECT_ID": "ctscan-no-click",
        }
    )
    client = make_storage_client(settings.project_id, gcs_emulator)
    if not client.bucket(settings.artifacts_bucket).exists():
        client.create_bucket(settings.artifacts_bucket)
    generate_world(
        settings, seed=5, end=END, days=DAYS, parts=("alerting",), progress=lambda _: None
    )
    store = MetricStore(root / "monitoring.sqlite3")
    server, port = build_server(store)
    server.start()
    resources = {
        "monitoring": MonitoringResource(project=settings.project_id, endpoint=f"127.0.0.1:{port}"),
        "artifacts": ArtifactStore(
            bucket=settings.artifacts_bucket, project=settings.project_id, endpoint=gcs_emulator
        ),
        "alerting": AlertingSettings(environments=["prod"], min_days=7),
        "tuning_output": TuningOutput(terraform_dir=str(root / "tf")),
    }
    yield resources
    server.stop(None)
    store.close()


def _alert_quality_freshness() -> dg.AssetChecksDefinition:
    (check,) = [
        c
        for c in automation.FRESHNESS_CHECKS
        if {k.asset_key for k in c.check_keys} == {dg.AssetKey("alert_quality")}
    ]
    return check


def _defs(resources) -> dg.Definitions:
    """The project's alerting definitions and automation sensor, resources on the emulators."""
    return dg.Definitions.merge(
        alerting_defs,
        dg.Definitions(
            sensors=[automation.automation_sensor],
            asset_checks=[_alert_quality_freshness()],
            resources=resources,
        ),
    )


class Day:
    """The sensor-driven inputs of one simulated time: shadow ticks and the tuning sensor."""

    def __init__(self, runner: DemoRunner, resources: dict) -> None:
        self.runner = runner
        self.resources = resources
        self.shadow_cursor = None

    def shadow_tick(self, now: datetime) -> list[str]:
        """The shadow sensor at ``now`` (a fixed clock); its day requests are executed."""
        alerting = AlertingSettings(
            environments=["prod"],
            min_days=7,
            now_override=now.timestamp(),
            max_span_per_tick_s=DAYS * 86400,
        )
        cursor = self.shadow_cursor or f'{{"start": {_start(DAY_KEYS[0]).timestamp()}}}'
        ctx = dg.build_sensor_context(
            instance=self.runner.instance,
            cursor=cursor,
            resources={"monitoring": self.resources["monitoring"], "alerting": alerting},
        )
        result = shadow_alert_sensor(ctx)
        self.shadow_cursor = result.cursor
        days = [r.partition_key for r in result.run_requests]
        for day in days:
            out = self.runner.materialize(
                ["shadow_incidents"],
                partition_key=day,
                label=f"shadow_alert_sensor -> shadow_incidents [{day}]",
            )
            assert out.status == "RUN_SUCCESS", out
        return days

    def tuning_tick(self) -> list[str]:
        """The threshold-tuning sensor on the newest alert_quality; its requests executed."""
        runner = self.runner
        return [
            r.partition_key
            for r in (runner.tick_sensor("threshold_tuning_sensor").run_requests or [])
        ]


def _requested(tick) -> set[tuple[str | None, str]]:
    return {(p, k) for p, keys in tick.requested.items() for k in keys}


def _ran(ticks) -> list[tuple[str | None, str]]:
    """Every (partition, asset) requested over a run of evaluations, in order."""
    return [pk for tick in ticks for pk in sorted(_requested(tick), key=str)]


def test_shadow_days_flow_to_quality_and_tuning_without_a_click(world):
    resources = world
    with dg.instance_for_test() as instance:
        runner = DemoRunner(instance, _defs(resources), log=lambda _: None)
        day = Day(runner, resources)

        # t0: the automation sensor's first evaluation (the daemon starting): nothing to do
        t0 = _start(DAY_KEYS[5]) + timedelta(minutes=30)
        assert runner.automate(t0).requested == {}

        # t1 (an hour later): the shadow sensor completes days 0-4 -> five daily runs; the
        # automation requests the incident register (hourly cron passed) and alert_quality
        # (shadow days landed) on one evaluation: one run, the register first
        t1 = t0 + timedelta(hours=1)
        assert day.shadow_tick(t1) == DAY_KEYS[:5]
        ticks = runner.automate_until_quiet(t1)
        assert [_requested(t) for t in ticks] == [
            {(None, "incident_register"), (None, "alert_quality")},
            set(),
        ]
        assert all(o.status == "RUN_SUCCESS" for t in ticks for o in t.outcomes), ticks
        assert day.tuning_tick() == []  # 5 days of shadow data: not enough to tune

        # nothing new at the same time: nothing requested (no run per evaluation)
        assert runner.automate(t1 + timedelta(minutes=1)).requested == {}

        # the next hour: the register is re-read (cron) but unchanged, so its data version
        # is the same and alert_quality is NOT recomputed for it
        t1b = t1 + timedelta(hours=1)
        assert _ran(runner.automate_until_quiet(t1b)) == [(None, "incident_register")]

        # an on-call verdict changes the register: its next read triggers alert_quality (on
        # the evaluation after the read, when the new data version exists)
        from ctscan_ops.alerting.shadow.incidents import RegisterStore, Verdict

        store = RegisterStore(resources["artifacts"])
        register = store.load().with_verdict(
            Verdict("no-click-test", "false_positive", who="on-call", when=t1b.timestamp())
        )
        resources["artifacts"].put_json("alerting/incident_register.json", register.to_json())
        t1c = t1b + timedelta(hours=1)
        assert _ran(runner.automate_until_quiet(t1c)) == [
            (None, "incident_register"),
            (None, "alert_quality"),
        ]

        quality_runs = 2
        tuned: dict[str, list[str]] = {}
        drawn: list[tuple[str | None, str]] = []
        for index in (5, 6, 7):  # three more simulated days, one shadow day each
            now = _start(DAY_KEYS[index]) + timedelta(days=1, minutes=90)
            assert day.shadow_tick(now) == [DAY_KEYS[index]]
            ran = _ran(runner.automate_until_quiet(now))
            # the pictures of a tuning report follow it (eager), on the next evaluation
            drawn += [pk for pk in ran if pk[1] == "threshold_tuning_plots"]
            ran = [pk for pk in ran if pk[1] != "threshold_tuning_plots"]
            assert ran == [(None, "alert_quality"), (None, "incident_register")], ran
            quality_runs += 1
            tuned[DAY_KEYS[index]] = day.tuning_tick()

        # the tuning report comes when the shadow data reaches 7 days, for prod (the one
        # environment evaluated), and again only when prod's figures change materially
        assert tuned[DAY_KEYS[5]] == []
        assert tuned[DAY_KEYS[6]] == ["prod"]
        assert set(tuned[DAY_KEYS[7]]) <= {"prod"}
        assert instance.get_materialized_partitions(dg.AssetKey("threshold_tuning_report")) == {
            "prod"
        }
        assert drawn == [("prod", "threshold_tuning_plots")], drawn  # after day 6's report
        report = instance.get_latest_materialization_event(dg.AssetKey("threshold_tuning_report"))
        assert report.asset_materialization.metadata["days"].value >= 7
        quality = instance.fetch_materializations(dg.AssetKey("alert_quality"), limit=100)
        assert len(quality.records) == quality_runs
        assert set(instance.get_materialized_partitions(dg.AssetKey("shadow_incidents"))) == set(
            DAY_KEYS
        )
        # no run in this test was launched by hand: each one is a sensor's or the automation's
        labels = [o.label for o in runner.outcomes]
        assert all(
            lbl.startswith(("automation -> ", "threshold_tuning_sensor -> ", "shadow_alert_sensor"))
            for lbl in labels
        ), labels


def _run_freshness_sensor(runner: DemoRunner, now: datetime) -> dict[str, bool]:
    """Tick the real freshness sensor at ``now`` and run the checks it requests."""
    from dagster._core.test_utils import freeze_time

    with freeze_time(now):
        ctx = dg.build_sensor_context(instance=runner.instance, definitions=runner.defs)
        data = automation.freshness_sensor.evaluate_tick(ctx)
        verdicts = {}
        for request in data.run_requests or []:
            result = dg.materialize(
                runner._assets,
                selection=dg.AssetSelection.checks(*request.asset_check_keys),
                instance=runner.instance,
                raise_on_error=False,
            )
            for ev in result.get_asset_check_evaluations():
                verdicts[ev.asset_key.to_user_string()] = ev.passed
    return verdicts


def test_a_drift_report_that_does_not_arrive_fails_its_freshness_check(tmp_path):
    """The drift_report freshness check of the code location, run by its freshness sensor at
    simulated times (no drift run is needed to show a report that did not come)."""
    from ctscan_ops.definitions import defs

    (check,) = [
        c
        for c in automation.FRESHNESS_CHECKS
        if {k.asset_key for k in c.check_keys} == {dg.AssetKey("drift_report")}
    ]
    with dg.instance_for_test() as instance:
        runner = DemoRunner(instance, defs, log=lambda _: None)
        # 2026-11-10 06:00: the report for 11-09 was due at 05:00 and arrived (recorded as the
        # daily run records it: a materialization of that partition)
        instance.report_runless_asset_event(
            dg.AssetMaterialization("drift_report", partition="2026-11-09")
        )
        verdicts = _run_freshness_sensor(runner, datetime(2026, 11, 10, 6, tzinfo=UTC))
        assert verdicts["drift_report"] is True
        # a day later, the 11-10 report never came: the check fails on the asset page
        verdicts = _run_freshness_sensor(runner, datetime(2026, 11, 11, 6, tzinfo=UTC))
        assert verdicts["drift_report"] is False
        # what the asset page shows: the latest evaluation of the check, failed, with the
        # deadline it missed
        (key,) = check.check_keys
        record = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
        assert record.status.value == "FAILED"
