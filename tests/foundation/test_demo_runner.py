"""The demo runner: blocked-by-design runs, partition ranges, automation, quiet console, and
cleanup on failure."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from ctscan_ops.sandbox import demo


@dg.asset(
    partitions_def=dg.DailyPartitionsDefinition(start_date="2026-11-01"),
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def daily(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"days": len(context.partition_keys)})


@dg.asset
def gated() -> dg.MaterializeResult:
    return dg.MaterializeResult()


@dg.asset_check(asset=gated, blocking=True)
def never_passes() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=False,
        severity=dg.AssetCheckSeverity.ERROR,
        description="2 resources would be destroyed\n(second line not shown)",
    )


@dg.asset
def broken() -> None:
    raise dg.Failure(description="no plan uploaded for dev: upload it first")


@dg.asset(
    deps=["daily"],
    automation_condition=dg.AutomationCondition.any_deps_updated().since_last_handled(),
)
def follows_daily() -> None:
    return None


@dg.asset(deps=[gated])
def downstream() -> None:
    return None


@dg.sensor(target=[broken])
def asks_for_broken(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key="once")], cursor="1")


def _runner(instance):
    defs = dg.Definitions(
        assets=[daily, gated, downstream, broken, follows_daily],
        asset_checks=[never_passes],
        sensors=[asks_for_broken],
    )
    return demo.DemoRunner(instance, defs, log=lambda _: None)


def test_expected_block_is_recorded_as_blocked_and_a_pass_would_be_a_failure():
    with dg.instance_for_test() as instance:
        runner = _runner(instance)
        out = runner.materialize(["gated", "downstream"], expect_blocked=True)
        assert out.status == "BLOCKED"
        assert instance.get_latest_materialization_event(dg.AssetKey("downstream")) is None
        out = runner.materialize(["daily"], partition_key="2026-11-02", expect_blocked=True)
        assert out.status == "NOT_BLOCKED"  # it was meant to be stopped: counted as a failure


def test_a_block_and_a_failure_print_one_line_of_reason_and_no_stack_trace(capfd):
    with dg.instance_for_test() as instance:
        lines: list[str] = []
        runner = demo.DemoRunner(instance, _runner(instance).defs, log=lines.append)
        blocked = runner.materialize(["gated", "downstream"], expect_blocked=True)
        assert blocked.reason == (
            "check never_passes on gated failed: 2 resources would be destroyed"
        )
        failed = runner.materialize(["broken"])
        assert failed.status == "RUN_FAILURE"
        assert failed.reason == "broken failed: no plan uploaded for dev: upload it first"
    printed = capfd.readouterr()
    console = printed.out + printed.err + "\n".join(lines)
    for trace_marker in ("Traceback", "Stack Trace", "DagsterAssetCheckFailedError", 'File "'):
        assert trace_marker not in console
    assert "2 resources would be destroyed" in "\n".join(lines)
    assert "second line" not in console


def test_automation_requests_are_run_and_the_cursor_carries_over():
    with dg.instance_for_test() as instance:
        runner = _runner(instance)
        t0 = datetime(2026, 11, 3, 1, tzinfo=UTC)
        assert runner.automate(t0).requested == {}  # first evaluation: nothing updated yet
        runner.materialize(["daily"], partition_key="2026-11-02")
        tick = runner.automate(t0 + timedelta(minutes=1))
        assert tick.requested == {None: ("follows_daily",)}
        assert [o.status for o in tick.outcomes] == ["RUN_SUCCESS"]
        assert instance.get_latest_materialization_event(dg.AssetKey("follows_daily"))
        # handled: the next evaluation requests nothing
        assert runner.automate_until_quiet(t0 + timedelta(minutes=2))[-1].requested == {}


def test_a_sensor_targeting_an_asset_runs_that_asset():
    with dg.instance_for_test() as instance:
        runner = _runner(instance)
        runner.tick_sensor("asks_for_broken")
        (outcome,) = runner.outcomes
        assert outcome.label == "asks_for_broken -> broken"
        assert outcome.reason.startswith("broken failed: no plan uploaded")


def test_partition_range_runs_once_over_all_days():
    with dg.instance_for_test() as instance:
        runner = _runner(instance)
        days = runner.world_days(
            {"start": "2026-11-01T00:00:00+00:00", "end": "2026-11-05T00:00:00+00:00"}
        )
        assert days == ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"]
        out = runner.materialize_range(["daily"], days[0], days[-1])
        assert out.status == "RUN_SUCCESS"
        assert instance.get_materialized_partitions(dg.AssetKey("daily")) == set(days)


def test_down_after_stops_the_sandbox_even_when_a_step_raises(monkeypatch):
    calls = []

    def boom(seed, days, started=None):
        raise RuntimeError("world generation failed")

    monkeypatch.setattr(demo, "_run_demo", boom)
    monkeypatch.setattr("ctscan_ops.sandbox.services.down", lambda *a, **k: calls.append("down"))
    with pytest.raises(RuntimeError, match="world generation failed"):
        demo.run_demo(keep_running=False)
    assert calls == ["down"]
