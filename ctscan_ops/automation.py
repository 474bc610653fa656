"""How the graph runs itself: each asset's automation condition, with the reason next to it.

One place to read why an asset runs when it does. Assets take their condition from here
(``automation_condition=automation.ALERT_QUALITY``); what a cursor or dynamic partitions need
stays a sensor (named in ``SENSOR_DRIVEN``), a daily partitioned job stays a schedule, and what
must never run without a person is listed in ``MANUAL_BY_DESIGN`` with the reason.
``tests/automation/test_coverage.py`` fails for an asset that is in none of these.

The conditions are evaluated by the default automation-condition sensor, declared here
(``automation_sensor``, RUNNING by default: nothing needs a click in the UI to start it), and
registered by ``ctscan_ops.definitions``. Freshness is expressed as asset checks (they show on the
asset page as a failed check when an input is late) and run by ``freshness_sensor``, RUNNING by
default too.

No asset module is imported here (the assets import this module): everything is by asset key.
"""

from __future__ import annotations

import warnings
from datetime import timedelta

import dagster as dg

AC = dg.AutomationCondition

# -- building blocks ------------------------------------------------------------------------


def _not_busy() -> dg.AutomationCondition:
    """Never request while the asset or one of its inputs is being computed."""
    return ~AC.in_progress() & ~AC.any_deps_in_progress()


def _deps(*keys: str) -> dg.AssetSelection:
    return dg.AssetSelection.assets(*keys)


# -- infra ----------------------------------------------------------------------------------

TERRAFORM_STATE_CRON = "0 * * * *"
# Hourly per environment: reading a state object is a few kB. An observable source asset on the
# bucket object (data version = GCS generation) would add a node to the graph and an observation
# schedule of its own for the same hourly look; a cron on the asset keeps the graph as it is.
# The state's data version (lineage + serial) only changes when Terraform wrote a new state, so
# content-based conditions downstream (alert_quality) do not re-run on an unchanged state.
TERRAFORM_STATE = AC.on_cron(TERRAFORM_STATE_CRON).with_label(
    "hourly read of the GCS backend's state object"
)

# The plan and the deployed alert settings follow the state they are computed from.
TERRAFORM_PLAN = AC.eager().with_label("when terraform_state updates")
ALERT_POLICY_DRIFT = AC.eager().with_label("when terraform_state updates")

# -- alerting -------------------------------------------------------------------------------

INCIDENT_REGISTER_CRON = "15 * * * *"
# Hourly: on-call labels incidents with `ctscan-ops alerts label` (an object in the artifact
# bucket, no event to observe). Its data version is the register's content hash, so an
# unchanged register does not re-trigger alert_quality.
INCIDENT_REGISTER = AC.on_cron(INCIDENT_REGISTER_CRON).with_label(
    "hourly read of the incident register"
)

# Recompute false-positive rates when a shadow_incidents day lands (any partition newly
# updated), or when the incident register or the deployed settings (alert_policy_drift)
# changed content (data version), never while an input is being written. An input requested
# on the same tick (the hourly register read) runs in the same run, before it.
# A trigger stays pending until alert_quality itself updates (``.since(newly_updated())``, not
# ``since_last_handled()``): both carry timestamps, so a day landing while alert_quality runs
# is not lost (``since_last_handled``'s reset has none and would win the tie). A failed run is
# not retried in a loop: automation resumes after the next successful materialization.
ALERT_QUALITY = (
    (
        AC.any_deps_match(AC.newly_updated())
        .allow(_deps("shadow_incidents"))
        .since(AC.newly_updated())
        | AC.any_deps_match(AC.data_version_changed())
        .allow(_deps("incident_register", "alert_policy_drift"))
        .since(AC.newly_updated())
    )
    & ~AC.execution_failed()
    & _not_busy()
).with_label("when a shadow day lands or the register / deployed settings change")

# The tuning report's pictures follow each report of the same environment: drawing 20-odd
# matplotlib figures took longer than the report's sweeps, so they are drawn in their own run,
# from the plot data the report stored (the report's page links to them by their fixed keys).
THRESHOLD_TUNING_PLOTS = AC.eager().with_label("when threshold_tuning_report updates")

# -- drift ----------------------------------------------------------------------------------

# The reference profile is versioned with the serving model: rebuild when the champion moves.
REFERENCE_PROFILE = (
    AC.any_deps_match(AC.data_version_changed() | AC.newly_updated()).since_last_handled()
    & ~AC.any_deps_missing()
    & _not_busy()
).with_label("when the champion changes")

DRIFT_CALIBRATION_CRON = "0 4 * * *"
# Daily at 04:00 UTC, once drift_report has a new day since that tick: a report that is late
# delays calibration instead of calibrating on yesterday's data (was a fixed 03:30 schedule).
DRIFT_CALIBRATION = AC.on_cron(DRIFT_CALIBRATION_CRON).with_label(
    "daily 04:00 UTC, after a new drift report"
)

# -- registry -------------------------------------------------------------------------------

# A new evaluation (a model_versions_sensor run) may make a new candidate.
CHALLENGER_MODEL = (
    AC.any_deps_match(AC.newly_updated()).since_last_handled() & _not_busy()
).with_label("when a model evaluation lands")

# Promotion only when the challenger changed and every blocking check upstream
# (challenger_beats_champion) passed on it: a refused challenger never moves the alias.
CHAMPION_MODEL = (
    AC.any_deps_updated().since_last_handled() & AC.all_deps_blocking_checks_passed() & _not_busy()
).with_label("when the challenger changed and every blocking check passed")

LIVE_MODEL_METRICS_CRON = "0 * * * *"
# Hourly (a rolling accuracy gauge for the alert policy), once the champion is known.
LIVE_MODEL_METRICS = (
    AC.in_latest_time_window()
    & AC.cron_tick_passed(LIVE_MODEL_METRICS_CRON).since_last_handled()
    & ~AC.any_deps_missing()
    & _not_busy()
).with_label("hourly, once a champion exists")

# -- feedback -------------------------------------------------------------------------------

SQLITE_FEEDBACK_CRON = "30 * * * *"
# Hourly look at the app's SQLite store (row counts, max id) until the cut-over; the migration
# itself is sensor-driven (feedback_incremental_sync).
SQLITE_FEEDBACK = AC.on_cron(SQLITE_FEEDBACK_CRON).with_label("hourly look at the SQLite store")

# -- sensors, schedules, manual ---------------------------------------------------------------

SENSOR_DRIVEN: dict[str, str] = {
    "shadow_incidents": "shadow_alert_sensor: a cursor of evaluated data time per policy; "
    "it requests a day's partition when the day is complete",
    "threshold_tuning_report": "threshold_tuning_sensor: per environment whose quality figures "
    "changed materially since the last report (the cursor keeps those figures); a condition "
    "cannot compare figures inside a report",
    "model_versions": "model_versions_sensor: adds a dynamic partition per new checkpoint",
    "model_evaluation": "model_versions_sensor: evaluated in the same run as the verification",
    "firestore_feedback": "feedback_incremental_sync: SQLite max id vs the Firestore checkpoint",
}

SCHEDULED: dict[str, str] = {
    "prediction_features": "drift_daily_job_schedule, 03:00 UTC for the day that ended",
    "drift_report": "drift_daily_job_schedule, 03:00 UTC for the day that ended",
}

MANUAL_BY_DESIGN: dict[str, str] = {
    "terraform_apply": "changes production: a person approves a reviewed plan "
    "(and the blocking plan_has_no_destroys check gates it)",
}

# -- freshness --------------------------------------------------------------------------------


def _freshness() -> tuple[list[dg.AssetChecksDefinition], dg.SensorDefinition]:
    checks = [
        # Terraform state read hourly: three missed reads are an outage of the reader.
        *dg.build_last_update_freshness_checks(
            assets=[dg.AssetKey("terraform_state")], lower_bound_delta=timedelta(hours=3)
        ),
        # Yesterday's drift report is due by 05:00 UTC (schedule at 03:00 + run time).
        *dg.build_time_partition_freshness_checks(
            assets=[dg.AssetKey("drift_report")], deadline_cron=DRIFT_REPORT_DEADLINE_CRON
        ),
        # alert_quality follows each shadow day: no update in 26 h means the chain stopped.
        *dg.build_last_update_freshness_checks(
            assets=[dg.AssetKey("alert_quality")], lower_bound_delta=timedelta(hours=26)
        ),
    ]
    sensor = dg.build_sensor_for_freshness_checks(
        freshness_checks=checks,
        name="freshness_checks_sensor",
        minimum_interval_seconds=600,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    return checks, sensor


DRIFT_REPORT_DEADLINE_CRON = "0 5 * * *"

# Check-based freshness (1.13 calls these factories "superseded" by FreshnessPolicy): a late
# input shows as a failed check on the asset page, run by a RUNNING sensor, and can be
# evaluated at any simulated time in a test (tests/automation/test_no_click.py).
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*superseded.*")
    FRESHNESS_CHECKS, freshness_sensor = _freshness()

automation_sensor = dg.AutomationConditionSensorDefinition(
    "default_automation_condition_sensor",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    description="Evaluates every asset's automation condition (ctscan_ops/automation.py).",
)

defs = dg.Definitions(asset_checks=FRESHNESS_CHECKS, sensors=[automation_sensor, freshness_sensor])
