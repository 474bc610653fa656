"""Where ctscan_ops runs: the explicit mode and the names it derives from the environment.

The mode is chosen by ``CTSCAN_MODE`` (``sandbox``, the default, or ``gcp``) and never guessed
from Dagster's own variables (``dg`` sets ``DAGSTER_IS_DEV_CLI`` for every command, so it says
nothing about where we are). Everything else has a default derived from the project id, so a
real project needs only ``CTSCAN_MODE=gcp`` and ``CTSCAN_PROJECT_ID`` (credentials via ADC).

In sandbox mode the emulator endpoints come from the environment when set (tests, CI) and
otherwise from the state file that ``ctscan-ops sandbox up`` writes, so ``dagster dev`` works
after ``sandbox up`` without exporting anything.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

ENVIRONMENTS: tuple[str, ...] = ("dev", "staging", "prod")
SANDBOX_PROJECT_ID = "ctscan-sandbox"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ALERT_CATALOG = REPO_ROOT / "terraform" / "alert_policies.yaml"
FEEDBACK_BACKENDS: tuple[str, ...] = ("sqlite", "firestore")


class Mode(StrEnum):
    SANDBOX = "sandbox"
    GCP = "gcp"


class ConfigError(ValueError):
    """The environment does not describe a usable ctscan_ops deployment."""


@dataclass(frozen=True)
class Endpoints:
    """Local emulator endpoints (sandbox mode only; all None in gcp mode)."""

    gcs_url: str | None = None  # http://127.0.0.1:PORT (fake-gcs-server)
    firestore_host: str | None = None  # 127.0.0.1:PORT, no scheme (Google's emulator)
    monitoring_address: str | None = None  # 127.0.0.1:PORT (sandbox gRPC MetricService)


@dataclass(frozen=True)
class Settings:
    mode: Mode
    project_id: str
    region: str
    environment: str  # the deployment environment this code location reports for by default
    artifacts_bucket: str
    models_bucket: str
    drift_logs_bucket: str
    tf_state_bucket: str
    feedback_sqlite_path: Path
    data_dir: Path
    sandbox_dir: Path
    endpoints: Endpoints = field(default_factory=Endpoints)
    environments: tuple[str, ...] = ENVIRONMENTS
    # the alert policy catalog (``CTSCAN_ALERT_CATALOG``; default: the repository's terraform/)
    alert_catalog_path: Path = DEFAULT_ALERT_CATALOG
    # where the app writes feedback: "sqlite" before the cut-over, "firestore" after
    feedback_backend: str = "sqlite"
    # the classifier's held-out set (docs/data-contracts.md); "" = gs://<models_bucket>/registry/holdout/
    holdout_uri: str = ""
    # one Kubernetes pod per step (dagster-k8s k8s_job_executor; CTSCAN_K8S_STEP_PODS=1), so the
    # heavy steps get the pod sizes of their op tags (ctscan_ops/k8s_resources.py)
    k8s_step_pods: bool = False

    @property
    def holdout_location(self) -> str:
        """``gs://bucket/prefix/`` of the held-out set (``CTSCAN_HOLDOUT_URI``)."""
        return self.holdout_uri or f"gs://{self.models_bucket}/registry/holdout/"

    @property
    def buckets(self) -> tuple[str, ...]:
        return (
            self.artifacts_bucket,
            self.models_bucket,
            self.drift_logs_bucket,
            self.tf_state_bucket,
        )


def sandbox_dir_from_env(env: dict[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("CTSCAN_SANDBOX_DIR", str(REPO_ROOT / ".sandbox"))).resolve()


def sandbox_state_path(sandbox_dir: Path) -> Path:
    return sandbox_dir / "state.json"


def _endpoints_from_state(sandbox_dir: Path) -> Endpoints:
    path = sandbox_state_path(sandbox_dir)
    if not path.exists():
        return Endpoints()
    try:
        state = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return Endpoints()
    services = state.get("services", {})
    return Endpoints(
        gcs_url=services.get("gcs", {}).get("endpoint"),
        firestore_host=services.get("firestore", {}).get("endpoint"),
        monitoring_address=services.get("monitoring", {}).get("endpoint"),
    )


def alert_catalog_path_from_env(env: Mapping[str, str] | None = None) -> Path:
    """``CTSCAN_ALERT_CATALOG``, else the repository's ``terraform/alert_policies.yaml``."""
    env = os.environ if env is None else env
    return Path(env.get("CTSCAN_ALERT_CATALOG") or DEFAULT_ALERT_CATALOG)


def feedback_backend_from_env(env: Mapping[str, str]) -> str:
    """The one rule for the feedback backend, as the app itself applies it.

    ``CTSCAN_FEEDBACK_BACKEND`` (sqlite|firestore, any case) wins; without it the original
    app's ``USE_FIRESTORE=1`` means Firestore; otherwise SQLite.
    """
    explicit = env.get("CTSCAN_FEEDBACK_BACKEND", "").strip().lower()
    if explicit:
        if explicit not in FEEDBACK_BACKENDS:
            raise ConfigError(f"CTSCAN_FEEDBACK_BACKEND={explicit!r}; use 'sqlite' or 'firestore'")
        return explicit
    return "firestore" if env.get("USE_FIRESTORE") == "1" else "sqlite"


def get_settings(env: dict[str, str] | None = None) -> Settings:
    """Read the settings from ``env`` (default: ``os.environ``); cheap and side-effect free."""
    env = dict(os.environ if env is None else env)
    raw_mode = env.get("CTSCAN_MODE", Mode.SANDBOX.value).strip().lower()
    try:
        mode = Mode(raw_mode)
    except ValueError:
        raise ConfigError(
            f"CTSCAN_MODE={raw_mode!r} is not a mode; use 'sandbox' (local emulators) or 'gcp'"
        ) from None

    sandbox_dir = sandbox_dir_from_env(env)
    if mode is Mode.GCP:
        project_id = env.get("CTSCAN_PROJECT_ID") or env.get("GOOGLE_CLOUD_PROJECT") or ""
        if not project_id:
            # Loading definitions must not need credentials, but it does need a project name to
            # derive bucket names from; a placeholder would silently point at the wrong buckets.
            project_id = "unset-project"
        endpoints = Endpoints()
        data_dir = Path(env.get("CTSCAN_DATA_DIR", str(Path.home() / ".ctscan_ops"))).resolve()
    else:
        project_id = env.get("CTSCAN_PROJECT_ID", SANDBOX_PROJECT_ID)
        state_endpoints = _endpoints_from_state(sandbox_dir)
        endpoints = Endpoints(
            gcs_url=env.get("STORAGE_EMULATOR_HOST") or state_endpoints.gcs_url,
            firestore_host=env.get("FIRESTORE_EMULATOR_HOST") or state_endpoints.firestore_host,
            monitoring_address=env.get("CTSCAN_MONITORING_ENDPOINT")
            or state_endpoints.monitoring_address,
        )
        data_dir = Path(env.get("CTSCAN_DATA_DIR", str(sandbox_dir / "data"))).resolve()

    environment = env.get("CTSCAN_ENVIRONMENT", "prod")
    if environment not in ENVIRONMENTS:
        raise ConfigError(f"CTSCAN_ENVIRONMENT={environment!r}; expected one of {ENVIRONMENTS}")

    return Settings(
        mode=mode,
        project_id=project_id,
        region=env.get("CTSCAN_REGION", "europe-west1"),
        environment=environment,
        artifacts_bucket=env.get("CTSCAN_ARTIFACTS_BUCKET", f"{project_id}-ctscan-artifacts"),
        models_bucket=env.get("CTSCAN_MODELS_BUCKET", f"{project_id}-models"),
        drift_logs_bucket=env.get("CTSCAN_DRIFT_LOGS_BUCKET", f"{project_id}-drift-logs"),
        tf_state_bucket=env.get("CTSCAN_TF_STATE_BUCKET", f"{project_id}-tfstate"),
        feedback_sqlite_path=Path(
            env.get("CTSCAN_FEEDBACK_DB", str(data_dir / "feedback" / "feedback.db"))
        ),
        data_dir=data_dir,
        sandbox_dir=sandbox_dir,
        endpoints=endpoints,
        alert_catalog_path=alert_catalog_path_from_env(env),
        feedback_backend=feedback_backend_from_env(env),
        holdout_uri=env.get("CTSCAN_HOLDOUT_URI", ""),
        k8s_step_pods=env.get("CTSCAN_K8S_STEP_PODS", "").strip().lower() in ("1", "true", "yes"),
    )
