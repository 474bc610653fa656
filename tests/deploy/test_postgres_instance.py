"""A real Dagster instance on a real PostgreSQL 15 server, configured by deploy/dagster.prod.yaml.

Every instance here is the production file with only the connection values changed (hostname,
port, username, password, db_name), so the storage path production uses -- dagster-postgres for
runs, event log and schedules, the psycopg2 driver it names, the QueuedRunCoordinator, the pool
limits, GCS compute logs (into the fake-gcs-server emulator) -- is the one tested. Only the
queued-run test also swaps the run launcher (see its docstring).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef
from dagster._core.scheduler.instigation import InstigatorType, TickStatus
from dagster._core.storage.dagster_run import DagsterRunStatus
from dagster._core.test_utils import (
    create_test_daemon_workspace_context,
    freeze_time,
    wait_for_futures,
)
from dagster._core.workspace.load_target import PythonFileTarget

from tests.deploy.conftest import (
    CONNECTION_KEYS,
    PG_PASSWORD,
    PgServer,
    changed_paths,
    load_prod_config,
    with_connection,
    write_instance_yaml,
)

TOY_DEFS = Path(__file__).with_name("toy_defs.py")
pytestmark = pytest.mark.usefixtures("prod_env")


def _toy():
    """The toy definitions module, imported by path (the same file the daemons load)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("ctscan_deploy_toy_defs", TOY_DEFS)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def prod_instance(
    home: Path, pg: PgServer, db: str, **replace: Any
) -> Iterator[dg.DagsterInstance]:
    config = with_connection(load_prod_config(), pg, db)
    config.update(replace)
    write_instance_yaml(home, config)
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    try:
        yield instance
    finally:
        instance.dispose()


def sql(pg: PgServer, db: str, query: str, *args: Any) -> list[tuple]:
    """Ask PostgreSQL directly (independent of Dagster's storage classes)."""
    conn = pg.connect(db)
    try:
        with conn.cursor() as cur:
            cur.execute(query, args)
            return cur.fetchall()
    finally:
        conn.close()


def test_only_connection_values_differ_from_the_prod_file(postgres_server, pg_database):
    prod = load_prod_config()
    tested = with_connection(prod, postgres_server, pg_database)
    diff = changed_paths(prod, tested)
    allowed = {("storage", "postgres", "postgres_db", k) for k in CONNECTION_KEYS}
    assert diff and diff <= allowed, diff
    assert prod["storage"]["postgres"]["postgres_db"]["scheme"] == "postgresql+psycopg2"
    assert prod["run_launcher"]["class"] == "K8sRunLauncher"


def test_the_server_rejects_connections_without_tls(postgres_server):
    import psycopg2

    with pytest.raises(psycopg2.OperationalError, match="no encryption"):
        psycopg2.connect(
            host=postgres_server.host,
            port=postgres_server.port,
            user=postgres_server.user,
            password=postgres_server.password,
            dbname="postgres",
            sslmode="disable",
        )


def test_storages_are_postgres_and_write_to_the_server(postgres_server, pg_database, dagster_home):
    from dagster_gcp.gcs.compute_log_manager import GCSComputeLogManager
    from dagster_postgres import (
        PostgresEventLogStorage,
        PostgresRunStorage,
        PostgresScheduleStorage,
    )

    with prod_instance(dagster_home, postgres_server, pg_database) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert isinstance(instance.compute_log_manager, GCSComputeLogManager)
        url = instance.run_storage.postgres_url
        assert url.startswith("postgresql+psycopg2://") and url.endswith("?sslmode=require")
        assert PG_PASSWORD not in url  # URL-quoted
        toy = _toy()
        result = dg.materialize([toy.toy_plain], instance=instance)
        assert result.success
    rows = sql(postgres_server, pg_database, "SELECT run_id, status FROM runs")
    assert rows == [(result.run_id, "SUCCESS")]
    (n_events,) = sql(
        postgres_server,
        pg_database,
        "SELECT count(*) FROM event_logs WHERE run_id = %s AND dagster_event_type = %s",
        result.run_id,
        "ASSET_MATERIALIZATION",
    )[0]
    assert n_events == 1


def test_compute_logs_reach_the_gcs_bucket(postgres_server, pg_database, dagster_home, prod_env):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    with prod_instance(dagster_home, postgres_server, pg_database) as instance:
        result = dg.materialize([_toy().toy_plain], instance=instance)
        assert result.success
    client = storage.Client(project="ctscan-test", credentials=AnonymousCredentials())
    names = [b.name for b in client.list_blobs(prod_env["DAGSTER_COMPUTE_LOG_BUCKET"])]
    assert any(n.startswith("dagster-compute-logs/") for n in names), names


def test_partitioned_runs(postgres_server, pg_database, dagster_home):
    toy = _toy()
    keys = ["2026-01-01", "2026-01-02", "2026-01-03"]
    with prod_instance(dagster_home, postgres_server, pg_database) as instance:
        for key in keys:
            assert dg.materialize([toy.toy_daily], partition_key=key, instance=instance).success
        got = instance.get_materialized_partitions(dg.AssetKey("toy_daily"))
        assert got == set(keys)
        records = instance.fetch_materializations(dg.AssetKey("toy_daily"), limit=10).records
        values = sorted(r.partition_key for r in records)
    assert values == keys
    tags = sql(
        postgres_server,
        pg_database,
        "SELECT value FROM run_tags WHERE key = 'dagster/partition' ORDER BY value",
    )
    assert [t[0] for t in tags] == keys


def test_blocking_asset_check_stops_downstream(postgres_server, pg_database, dagster_home):
    toy = _toy()
    assets = [toy.toy_gated, toy.toy_downstream, toy.toy_gated_is_positive]

    def run(value: int) -> dg.ExecuteInProcessResult:
        return dg.materialize(
            assets,
            instance=instance,
            run_config={"ops": {"toy_gated": {"config": {"value": value}}}},
            raise_on_error=False,
        )

    check_key = dg.AssetCheckKey(dg.AssetKey("toy_gated"), "toy_gated_is_positive")
    with prod_instance(dagster_home, postgres_server, pg_database) as instance:
        bad = run(-1)
        assert not bad.success
        assert [e.passed for e in bad.get_asset_check_evaluations()] == [False]
        assert instance.get_latest_materialization_event(dg.AssetKey("toy_downstream")) is None
        good = run(3)
        assert good.success
        assert instance.get_latest_materialization_event(dg.AssetKey("toy_downstream"))
        history = instance.event_log_storage.get_asset_check_execution_history(check_key, limit=5)
        assert sorted(h.status.value for h in history) == ["FAILED", "SUCCEEDED"]
    rows = sql(
        postgres_server,
        pg_database,
        "SELECT execution_status FROM asset_check_executions ORDER BY id",
    )
    assert [r[0] for r in rows] == ["FAILED", "SUCCEEDED"]


def test_concurrency_pool_uses_the_prod_default_limit(postgres_server, pg_database, dagster_home):
    """pools.default_limit: 2 in the prod file; the third claim of the pool must wait."""
    toy = _toy()
    with prod_instance(dagster_home, postgres_server, pg_database) as instance:
        assert dg.materialize([toy.toy_daily], partition_key="2026-01-05", instance=instance)
        store = instance.event_log_storage
        assert store.get_concurrency_info(toy.TOY_POOL).slot_count == 2
        claims = [store.claim_concurrency_slot(toy.TOY_POOL, f"run{i}", "step") for i in range(3)]
        assert [c.is_claimed for c in claims] == [True, True, False]
        store.free_concurrency_slot_for_step("run0", "step")
        assert store.claim_concurrency_slot(toy.TOY_POOL, "run2", "step").is_claimed
    rows = sql(
        postgres_server,
        pg_database,
        "SELECT run_id FROM concurrency_slots WHERE concurrency_key = %s ORDER BY run_id",
        toy.TOY_POOL,
    )
    assert [r[0] for r in rows] == ["run1", "run2"]


def _grpc_children() -> list:
    import psutil

    out = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "grpc" in " ".join(child.cmdline()):
                out.append(child)
        except psutil.NoSuchProcess:
            continue
    return out


@contextmanager
def _workspace(instance: dg.DagsterInstance):
    """The toy code location served by a managed gRPC server, as the daemons load it. At exit
    the servers this test started are waited for (and stopped by PID if they linger): a server
    outliving the PostgreSQL server never exits (its cleanup thread dies on the lost database)."""
    import psutil

    before = {p.pid for p in _grpc_children()}
    target = PythonFileTarget(
        python_file=str(TOY_DEFS),
        attribute="defs",
        working_directory=str(TOY_DEFS.parent),
        location_name="toy",
    )
    try:
        with create_test_daemon_workspace_context(target, instance) as ctx:
            yield ctx
    finally:
        mine = [p for p in _grpc_children() if p.pid not in before]
        _, alive = psutil.wait_procs(mine, timeout=20)
        for proc in alive:
            proc.terminate()
        psutil.wait_procs(alive, timeout=10)


def _instigator(ctx, name: str, kind: InstigatorType):
    location = next(iter(ctx.create_request_context().get_code_location_entries().values()))
    repo = next(iter(location.code_location.get_repositories().values()))
    if kind is InstigatorType.SENSOR:
        return repo.get_sensor(name)
    return repo.get_schedule(name)


def test_sensor_ticks_keep_their_cursor(postgres_server, pg_database, dagster_home):
    from dagster._daemon.sensor import execute_sensor_iteration

    logger = logging.getLogger("test.sensor")
    start = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    with (
        prod_instance(dagster_home, postgres_server, pg_database) as instance,
        _workspace(instance) as ctx,
        ThreadPoolExecutor(2) as pool,
    ):
        sensor = _instigator(ctx, "toy_sensor", InstigatorType.SENSOR)
        for i in range(3):
            with freeze_time(start + timedelta(seconds=30 * i)):
                futures: dict = {}
                list(execute_sensor_iteration(ctx, logger, pool, None, futures))
                wait_for_futures(futures, timeout=120)
        state = instance.get_instigator_state(sensor.get_remote_origin_id(), sensor.selector_id)
        assert state is not None and state.instigator_data.cursor == "3"
        ticks = instance.get_ticks(sensor.get_remote_origin_id(), sensor.selector_id)
        assert [t.status for t in ticks] == [TickStatus.SUCCESS] * 3
        assert sorted(t.tick_data.cursor for t in ticks) == ["1", "2", "3"]
        runs = instance.get_runs()
        # The QueuedRunCoordinator queues what sensors submit; the run daemon launches it.
        assert sorted(r.tags["dagster/run_key"] for r in runs) == ["tick-1", "tick-2", "tick-3"]
        assert {r.status for r in runs} == {DagsterRunStatus.QUEUED}
    (n_ticks,) = sql(postgres_server, pg_database, "SELECT count(*) FROM job_ticks")[0]
    assert n_ticks == 3


def test_schedule_tick(postgres_server, pg_database, dagster_home):
    from dagster._scheduler.scheduler import launch_scheduled_runs

    logger = logging.getLogger("test.schedule")
    t0 = datetime(2026, 3, 1, 10, 1, tzinfo=UTC)
    with (
        prod_instance(dagster_home, postgres_server, pg_database) as instance,
        _workspace(instance) as ctx,
    ):
        schedule = _instigator(ctx, "toy_schedule", InstigatorType.SCHEDULE)
        for now in (t0, t0 + timedelta(minutes=5)):
            with freeze_time(now):
                list(launch_scheduled_runs(ctx, logger, now, iteration_times={}))
        ticks = instance.get_ticks(schedule.get_remote_origin_id(), schedule.selector_id)
        assert [t.status for t in ticks] == [TickStatus.SUCCESS]
        assert ticks[0].timestamp == datetime(2026, 3, 1, 10, 5, tzinfo=UTC).timestamp()
        (run,) = instance.get_runs()
        assert run.run_id == ticks[0].run_ids[0]
        assert run.tags["dagster/schedule_name"] == "toy_schedule"
        assert run.status is DagsterRunStatus.QUEUED


def test_queued_run_is_launched_and_succeeds(postgres_server, pg_database, dagster_home):
    """A run submitted to the QueuedRunCoordinator is dequeued by the run-queue daemon and runs.

    The prod file's run launcher is the K8sRunLauncher, which needs a Kubernetes cluster; this
    test (and only this one) replaces ``run_launcher`` with Dagster's ``DefaultRunLauncher`` so
    the dequeued run can execute here. Everything else is the prod file, connection values aside.
    """
    from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
        QueuedRunCoordinatorDaemon,
    )

    default_launcher = {"module": "dagster", "class": "DefaultRunLauncher"}
    with (
        prod_instance(
            dagster_home, postgres_server, pg_database, run_launcher=default_launcher
        ) as instance,
        _workspace(instance) as ctx,
    ):
        location = next(iter(ctx.create_request_context().get_code_location_entries().values()))
        repo = next(iter(location.code_location.get_repositories().values()))
        remote_job = repo.get_full_job("toy_job")
        toy = _toy()
        run = instance.create_run_for_job(
            job_def=toy.defs.resolve_job_def("toy_job"),
            remote_job_origin=remote_job.get_remote_origin(),
            job_code_origin=remote_job.get_python_origin(),
        )
        instance.submit_run(run.run_id, ctx.create_request_context())
        assert instance.get_run_by_id(run.run_id).status is DagsterRunStatus.QUEUED
        daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)
        list(daemon.run_iteration(ctx))
        deadline = time.monotonic() + 180
        status = instance.get_run_by_id(run.run_id).status
        while status not in (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE):
            assert time.monotonic() < deadline, f"run still {status}"
            time.sleep(0.5)
            status = instance.get_run_by_id(run.run_id).status
        assert status is DagsterRunStatus.SUCCESS
        assert instance.get_latest_materialization_event(dg.AssetKey("toy_plain"))
    rows = sql(
        postgres_server,
        pg_database,
        "SELECT dagster_event_type FROM event_logs WHERE run_id = %s AND dagster_event_type"
        " LIKE 'PIPELINE_%%' ORDER BY id",
        run.run_id,
    )
    types = [r[0] for r in rows]
    order = ["PIPELINE_ENQUEUED", "PIPELINE_STARTING", "PIPELINE_START", "PIPELINE_SUCCESS"]
    assert [t for t in types if t in order] == order, types


# `dagster` CLI as it runs in a pod: the prod file's K8sRunLauncher loads the in-cluster config
# (service-account token and CA under /var/run/secrets/..., KUBERNETES_SERVICE_HOST/PORT) when
# the instance is printed. These stand-in files only let it build its client configuration;
# nothing talks to a cluster. The CLI itself is Dagster's, unmodified.
_POD_CLI = """
import sys
import kubernetes.config.incluster_config as incluster
incluster.SERVICE_TOKEN_FILENAME, incluster.SERVICE_CERT_FILENAME = sys.argv[1], sys.argv[2]
from dagster._cli import main
sys.argv = ["dagster", *sys.argv[3:]]
main()
"""


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    sa = home.parent / "serviceaccount"
    sa.mkdir(exist_ok=True)
    (sa / "token").write_text("test-token")
    (sa / "ca.crt").write_text("not a real CA: no cluster is contacted\n")
    env |= {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "6443"}
    cmd = [sys.executable, "-c", _POD_CLI, str(sa / "token"), str(sa / "ca.crt")]
    return subprocess.run(
        [*cmd, "instance", *args], capture_output=True, text=True, env=env, timeout=180
    )


def test_cli_instance_migrate_and_info_report_postgres(postgres_server, pg_database, dagster_home):
    """What a new user types first (in the pod, as the chart's migrate job does), on the prod
    file with test connection values: migrate creates the schema, info names Postgres storage."""
    config = with_connection(load_prod_config(), postgres_server, pg_database)
    write_instance_yaml(dagster_home, config)
    migrate = _cli(dagster_home, "migrate")
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    info = _cli(dagster_home, "info")
    assert info.returncode == 0, info.stderr[-3000:]
    for storage in ("PostgresRunStorage", "PostgresEventLogStorage", "PostgresScheduleStorage"):
        assert storage in info.stdout, info.stdout[-3000:]
    assert PG_PASSWORD not in info.stdout + info.stderr
    (n_tables,) = sql(
        postgres_server,
        pg_database,
        "SELECT count(*) FROM information_schema.tables WHERE table_name IN"
        " ('runs', 'event_logs', 'jobs', 'job_ticks', 'alembic_version')",
    )[0]
    assert n_tables == 5


def test_bare_postgresql_scheme_is_the_bug_the_prod_file_avoids(
    postgres_server, pg_database, dagster_home
):
    """Regression guard: without ``scheme: postgresql+psycopg2`` SQLAlchemy 2.1 picks psycopg 3.

    If this starts passing migrate, psycopg 3 was installed (or SQLAlchemy changed) and the
    explicit scheme may be revisited."""
    config = with_connection(load_prod_config(), postgres_server, pg_database)
    del config["storage"]["postgres"]["postgres_db"]["scheme"]
    write_instance_yaml(dagster_home, config)
    migrate = _cli(dagster_home, "migrate")
    assert migrate.returncode != 0
    assert "psycopg" in migrate.stderr
