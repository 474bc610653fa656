"""Every asset runs by itself (a condition, a schedule, a sensor) or says why it is manual."""

from __future__ import annotations

import dagster as dg

from ctscan_ops import automation


def _defs() -> dg.Definitions:
    from ctscan_ops.definitions import defs

    return defs


def _targets_of_sensors_and_schedules(defs: dg.Definitions) -> dict[str, list[str]]:
    """Asset key -> names of the sensors/schedules (other than the automation sensor)
    whose targets include it."""
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    found: dict[str, list[str]] = {}
    for sensor in repo.sensor_defs:
        if isinstance(sensor, dg.AutomationConditionSensorDefinition):
            continue
        if sensor.asset_selection is not None:
            keys = sensor.asset_selection.resolve(graph)
        else:
            keys = set()
            for target in sensor.targets:
                job = repo.get_job(target.job_name)
                keys |= set(job.asset_layer.executable_asset_keys)
        for key in keys:
            found.setdefault(key.to_user_string(), []).append(sensor.name)
    for schedule in repo.schedule_defs:
        job = repo.get_job(schedule.job_name)
        for key in job.asset_layer.executable_asset_keys:
            found.setdefault(key.to_user_string(), []).append(schedule.name)
    return found


def test_every_asset_has_automation_a_schedule_a_sensor_or_a_written_reason():
    defs = _defs()
    graph = defs.resolve_asset_graph()
    driven = _targets_of_sensors_and_schedules(defs)
    orphans = []
    for key in graph.materializable_asset_keys:
        name = key.to_user_string()
        condition = graph.get(key).automation_condition
        if condition is None and name not in driven and name not in automation.MANUAL_BY_DESIGN:
            orphans.append(name)
    assert not orphans, f"no automation, schedule, sensor or MANUAL_BY_DESIGN reason: {orphans}"


def test_the_written_reasons_match_the_definitions():
    """SENSOR_DRIVEN / SCHEDULED / MANUAL_BY_DESIGN say what the definitions really do."""
    defs = _defs()
    graph = defs.resolve_asset_graph()
    driven = _targets_of_sensors_and_schedules(defs)
    keys = {k.to_user_string() for k in graph.materializable_asset_keys}
    for name, why in {**automation.SENSOR_DRIVEN, **automation.SCHEDULED}.items():
        assert name in keys
        assert any(s in why for s in driven.get(name, [])), (
            name,
            why,
            driven.get(name),
        )
    for name in automation.MANUAL_BY_DESIGN:
        assert name in keys
        assert graph.get(dg.AssetKey(name)).automation_condition is None
        assert name not in driven


def test_automation_and_freshness_sensors_start_without_a_click():
    defs = _defs()
    repo = defs.get_repository_def()
    sensors = {s.name: s for s in repo.sensor_defs}
    auto = [s for s in sensors.values() if isinstance(s, dg.AutomationConditionSensorDefinition)]
    assert [s.name for s in auto] == ["default_automation_condition_sensor"]
    for sensor in sensors.values():
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING, sensor.name
    for schedule in repo.schedule_defs:
        assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING, schedule.name


def test_firestore_writers_run_in_the_firestore_pool_the_instance_declares():
    import yaml

    from ctscan_ops.config import REPO_ROOT

    defs = _defs()
    graph = defs.resolve_asset_graph()
    pools = {key.to_user_string(): graph.get(key).pools for key in graph.materializable_asset_keys}
    assert pools["firestore_feedback"] == {"firestore"}
    local = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    assert local["concurrency"]["pools"]["default_limit"] >= 1
    prod = yaml.safe_load((REPO_ROOT / "deploy" / "dagster.prod.yaml").read_text())
    assert "pools" in prod["concurrency"]


def test_freshness_checks_cover_the_inputs_whose_staleness_matters():
    defs = _defs()
    graph = defs.resolve_asset_graph()
    stale_watch = {
        ck.asset_key.to_user_string()
        for ck in graph.asset_check_keys
        if ck.name.startswith("freshness_check")
    }
    assert stale_watch == {"terraform_state", "drift_report", "alert_quality"}
