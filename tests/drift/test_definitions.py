"""The drift domain's wiring: jobs, schedules and partitions, without running anything heavy."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from ctscan_ops.drift.definitions import defs
from ctscan_ops.drift.schedules import drift_daily_schedule


def test_assets_jobs_and_schedules_are_declared():
    from ctscan_ops.definitions import defs as root  # shared resources live in the root

    keys = {a.key.to_user_string() for a in defs.assets}
    assert keys == {"reference_profile", "prediction_features", "drift_report", "drift_calibration"}
    job = root.resolve_job_def("drift_daily_job")
    assert job.partitions_def is not None
    # drift_calibration runs by its automation condition (ctscan_ops/automation.py)
    assert {s.name for s in defs.schedules} == {drift_daily_schedule.name}
    assert "drift_logs" in root.resources  # built from the settings by the root


def test_daily_schedule_runs_yesterdays_partition():
    with dg.instance_for_test() as instance:
        ctx = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=datetime(2026, 10, 10, 3, 0, tzinfo=UTC)
        )
        requests = list(drift_daily_schedule.evaluate_tick(ctx).run_requests or [])
    assert [r.partition_key for r in requests] == ["2026-10-09"]
    assert drift_daily_schedule.cron_schedule == "0 3 * * *"


def test_root_definitions_include_drift_with_shared_resources():
    from ctscan_ops.definitions import defs as root

    dg.Definitions.validate_loadable(root)
    graph = root.resolve_asset_graph()
    spec = graph.get(dg.AssetKey("drift_report"))
    assert spec.partitions_def is not None
    checks = {c.name for c in graph.get_check_keys_for_assets({dg.AssetKey("drift_report")})}
    assert "drift_share_below_threshold" in checks  # + the freshness check (automation.py)
