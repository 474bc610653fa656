"""Small toy definitions for the PostgreSQL instance tests (loaded by path as a code location).

Cheap on purpose: the point is the instance's storage and daemons, not ctscan_ops's assets.
Every feature the production instance must carry appears once: daily partitions, a pool, a
blocking asset check, a sensor with a cursor, a schedule.
"""

import dagster as dg

TOY_POOL = "toy_pool"
daily = dg.DailyPartitionsDefinition(start_date="2026-01-01")


@dg.asset(partitions_def=daily, pool=TOY_POOL)
def toy_daily(context: dg.AssetExecutionContext) -> int:
    return int(context.partition_key.replace("-", ""))


@dg.asset
def toy_plain() -> int:
    return 1


@dg.asset(config_schema={"value": int})
def toy_gated(context: dg.AssetExecutionContext) -> int:
    return context.op_config["value"]


@dg.asset_check(asset=toy_gated, blocking=True)
def toy_gated_is_positive(toy_gated: int) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=toy_gated > 0, metadata={"value": toy_gated})


@dg.asset(deps=[toy_gated])
def toy_downstream() -> int:
    return 2


toy_job = dg.define_asset_job("toy_job", selection=[toy_plain])


@dg.sensor(job=toy_job, minimum_interval_seconds=1, default_status=dg.DefaultSensorStatus.RUNNING)
def toy_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    """Counts its evaluations in the cursor; one run per evaluation (run_key = the count)."""
    n = int(context.cursor or 0) + 1
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"tick-{n}")], cursor=str(n))


toy_schedule = dg.ScheduleDefinition(
    name="toy_schedule",
    job=toy_job,
    cron_schedule="*/5 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

defs = dg.Definitions(
    assets=[toy_daily, toy_plain, toy_gated, toy_downstream],
    asset_checks=[toy_gated_is_positive],
    jobs=[toy_job],
    sensors=[toy_sensor],
    schedules=[toy_schedule],
)
