"""The demo runner: blocked-by-design runs, partition ranges, and cleanup on failure."""

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
    return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR)


@dg.asset(deps=[gated])
def downstream() -> None:
    return None


def _runner(instance):
    defs = dg.Definitions(assets=[daily, gated, downstream], asset_checks=[never_passes])
    return demo.DemoRunner(instance, defs, log=lambda _: None)


def test_expected_block_is_recorded_as_blocked_and_a_pass_would_be_a_failure():
    with dg.instance_for_test() as instance:
        runner = _runner(instance)
        out = runner.materialize(["gated", "downstream"], expect_blocked=True)
        assert out.status == "BLOCKED"
        assert instance.get_latest_materialization_event(dg.AssetKey("downstream")) is None
        out = runner.materialize(["daily"], partition_key="2026-11-02", expect_blocked=True)
        assert out.status == "NOT_BLOCKED"  # it was meant to be stopped: counted as a failure


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
