"""Sandbox world part: Terraform state and plan JSON for dev, staging and prod.

Writes ``<data_dir>/terraform/<env>/state.json`` (the raw state file, as the GCS backend stores
``environments/<env>/default.tfstate``: version 4, serial, lineage) and ``plan.json``
(``terraform show -json PLANFILE``, format 1.2) in the shapes Terraform 1.11 emits (templated
from real Terraform output; instance keys, provider addresses, ``action_reason`` values and the
plan's top-level blocks as Terraform writes them). The resource inventory mirrors
``terraform/environments/<env>``:

* prod: the imported project (state serial in the 50s), a small drift -- a label added to the
  models bucket in the console (``resource_drift`` + an update) -- the ``high_latency`` alert
  policy persisted with a console-tuned threshold/duration (semantic drift against the catalog),
  and one Firestore index not yet imported (import progress below 100 %);
* staging: clean (every change a no-op);
* dev: a pending destroy (the Slack secret container and its accessor: ``count`` went 1 -> 0).
"""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

TERRAFORM_VERSION = "1.11.4"
PROVIDER = 'provider["registry.terraform.io/hashicorp/google"]'
PROVIDER_NAME = "registry.terraform.io/hashicorp/google"
PROJECT = "dtu-mlops-data-482907"
PROJECT_NUMBER = "777769481436"
REGION = "europe-west1"
SUFFIX = {"dev": "-dev", "staging": "-staging", "prod": ""}
ENABLE_P1P2 = {"dev": False, "staging": True, "prod": False}
DRIFTED_POLICY = "high_latency"
DRIFTED_POLICY_VALUES = {"threshold_value": 2500.0, "duration": "600s"}
STATE_SERIAL = {"dev": 14, "staging": 6, "prod": 57}


@dataclass
class Res:
    """One resource instance of the inventory."""

    module: str
    type: str
    name: str
    attrs: dict[str, Any]
    index: Any = None
    schema_version: int = 0
    sensitive_paths: list[list[str]] = field(default_factory=list)
    depends_on: list[str] = field(default_factory=list)

    @property
    def address(self) -> str:
        idx = ""
        if isinstance(self.index, int):
            idx = f"[{self.index}]"
        elif isinstance(self.index, str):
            idx = "[" + json.dumps(self.index) + "]"
        return f"{self.module}.{self.type}.{self.name}{idx}"


def _labels(env: str, purpose: str | None = None) -> dict[str, str]:
    labels = {"environment": env, "managed_by": "terraform", "project": "ct-scan-mlops"}
    if purpose:
        labels["purpose"] = purpose
    return labels


def _effective(labels: dict[str, str]) -> dict[str, str]:
    return {**labels, "goog-terraform-provisioned": "true"}


def _bucket(env: str, name: str, bucket: str, purpose: str, location: str, rules: list) -> Res:
    labels = _labels(env, purpose)
    return Res(
        "module.storage",
        "google_storage_bucket",
        name,
        {
            "autoclass": [],
            "cors": [],
            "custom_placement_config": [],
            "default_event_based_hold": False,
            "effective_labels": _effective(labels),
            "enable_object_retention": False,
            "encryption": [],
            "force_destroy": False,
            "id": bucket,
            "labels": labels,
            "lifecycle_rule": rules,
            "location": location.upper(),
            "logging": [],
            "name": bucket,
            "project": PROJECT,
            "project_number": int(PROJECT_NUMBER),
            "public_access_prevention": "enforced",
            "requester_pays": False,
            "retention_policy": [],
            "rpo": None,
            "self_link": f"https://www.googleapis.com/storage/v1/b/{bucket}",
            "soft_delete_policy": [{"effective_time": "", "retention_duration_seconds": 604800}],
            "storage_class": "STANDARD",
            "terraform_labels": labels,
            "timeouts": None,
            "uniform_bucket_level_access": True,
            "url": f"gs://{bucket}",
            "versioning": [{"enabled": True}],
            "website": [],
        },
        schema_version=1,
    )


def _rule(action: str = "Delete", **condition: Any) -> dict[str, Any]:
    base = {
        "age": 0,
        "created_before": "",
        "custom_time_before": "",
        "days_since_custom_time": 0,
        "days_since_noncurrent_time": 0,
        "matches_prefix": [],
        "matches_storage_class": [],
        "matches_suffix": [],
        "no_age": False,
        "noncurrent_time_before": "",
        "num_newer_versions": 0,
        "send_age_if_zero": False,
        "send_days_since_custom_time_if_zero": False,
        "send_days_since_noncurrent_time_if_zero": False,
        "send_num_newer_versions_if_zero": False,
        "with_state": "ANY",
    }
    base.update(condition)
    return {"action": [{"storage_class": "", "type": action}], "condition": [base]}


def _member(module: str, rtype: str, name: str, index: str, target: dict, role: str, member: str):
    target_id = "/".join(str(v) for v in target.values())
    return Res(
        module,
        rtype,
        name,
        {
            **target,
            "condition": [],
            "etag": "BwYk" + hashlib.sha1(f"{target_id}{member}".encode()).hexdigest()[:8],
            "id": f"{target_id}/{role}/{member}",
            "member": member,
            "role": role,
        },
        index=index,
    )


def _sa_email(account: str, env: str) -> str:
    return f"{account}{SUFFIX[env]}@{PROJECT}.iam.gserviceaccount.com"


def inventory(env: str, catalog_policies: dict[str, dict[str, Any]], rng_id: Callable) -> list:
    """All resource instances ``terraform/environments/<env>`` manages once applied."""
    sfx = SUFFIX[env]
    gha = "serviceAccount:" + _sa_email("github-actions", env)
    cloud_run = "serviceAccount:" + _sa_email("cloud-run", env)
    drift = "serviceAccount:" + _sa_email("drift-detection", env)
    monitoring = "serviceAccount:" + _sa_email("monitoring", env)
    out: list[Res] = []

    # storage
    if env == "prod":
        dvc, models, drift_b = (
            "dtu-mlops-dvc-storage-482907",
            "dtu-mlops-data-482907_cloudbuild",
            "ct-scan-drift-logs-482907",
        )
        st = _bucket(
            env,
            "terraform_state",
            "dtu-mlops-terraform-state-482907",
            "terraform-state",
            REGION,
            [
                _rule(num_newer_versions=10, with_state="ARCHIVED"),
                _rule(days_since_noncurrent_time=90, with_state="ARCHIVED"),
            ],
        )
        st.index = 0
        out.append(st)
    else:
        dvc, models, drift_b = (
            f"dtu-mlops-dvc-storage-482907{sfx}",
            f"dtu-mlops-models-482907{sfx}",
            f"ct-scan-drift-logs-482907{sfx}",
        )
    out.append(_bucket(env, "dvc", dvc, "dvc-storage", REGION, [_rule(age=365)]))
    out.append(
        _bucket(
            env,
            "models",
            models,
            "model-artifacts",
            "US" if env == "prod" else REGION,
            [_rule(days_since_noncurrent_time=180, with_state="ARCHIVED")],
        )
    )
    out.append(
        _bucket(
            env,
            "drift_logs",
            drift_b,
            "drift-logs",
            REGION,
            [_rule(age=90), _rule(days_since_noncurrent_time=7, with_state="ARCHIVED")],
        )
    )
    sb = "module.storage"
    bmember = "google_storage_bucket_iam_member"
    out.append(
        _member(
            sb, bmember, "dvc_admin", gha, {"bucket": f"b/{dvc}"}, "roles/storage.objectAdmin", gha
        )
    )
    models_admins = [gha, cloud_run] if env == "prod" else [gha]
    models_readers = [drift] if env == "prod" else [cloud_run, drift]
    for m in models_admins:
        out.append(
            _member(
                sb,
                bmember,
                "models_admin",
                m,
                {"bucket": f"b/{models}"},
                "roles/storage.objectAdmin",
                m,
            )
        )
    for m in models_readers:
        out.append(
            _member(
                sb,
                bmember,
                "models_reader",
                m,
                {"bucket": f"b/{models}"},
                "roles/storage.objectViewer",
                m,
            )
        )
    out.append(
        _member(
            sb,
            bmember,
            "drift_logs_writer",
            drift,
            {"bucket": f"b/{drift_b}"},
            "roles/storage.objectCreator",
            drift,
        )
    )

    # artifact registry
    repo = f"ct-scan-mlops{sfx}"
    days, keep = {"dev": (30, 3), "staging": (60, 4), "prod": (90, 5)}[env]
    repo_id = f"projects/{PROJECT}/locations/{REGION}/repositories/{repo}"
    labels = _labels(env, "docker-registry")
    out.append(
        Res(
            "module.artifact_registry",
            "google_artifact_registry_repository",
            "docker",
            {
                "cleanup_policies": [
                    {
                        "action": "DELETE",
                        "condition": [
                            {
                                "newer_than": "",
                                "older_than": f"{days * 86400}s",
                                "package_name_prefixes": [],
                                "tag_prefixes": [],
                                "tag_state": "ANY",
                                "version_name_prefixes": [],
                            }
                        ],
                        "id": "delete-old-images",
                        "most_recent_versions": [],
                    },
                    {
                        "action": "KEEP",
                        "condition": [],
                        "id": "keep-minimum-versions",
                        "most_recent_versions": [{"keep_count": keep, "package_name_prefixes": []}],
                    },
                ],
                "cleanup_policy_dry_run": False,
                "create_time": "2025-11-03T10:12:44.101Z",
                "description": "Docker images for the CT scan API and training jobs",
                "docker_config": [],
                "effective_labels": _effective(labels),
                "format": "DOCKER",
                "id": repo_id,
                "kms_key_name": "",
                "labels": labels,
                "location": REGION,
                "maven_config": [],
                "mode": "STANDARD_REPOSITORY",
                "name": repo,
                "project": PROJECT,
                "remote_repository_config": [],
                "repository_id": repo,
                "terraform_labels": labels,
                "timeouts": None,
                "update_time": "2026-02-05T14:02:10.554Z",
                "virtual_repository_config": [],
            },
        )
    )
    arm = "google_artifact_registry_repository_iam_member"
    tgt = {"location": REGION, "project": PROJECT, "repository": repo_id}
    out.append(
        _member(
            "module.artifact_registry",
            arm,
            "docker_writer",
            gha,
            tgt,
            "roles/artifactregistry.writer",
            gha,
        )
    )
    out.append(
        _member(
            "module.artifact_registry",
            arm,
            "docker_reader",
            cloud_run,
            tgt,
            "roles/artifactregistry.reader",
            cloud_run,
        )
    )
    cb = _member(
        "module.artifact_registry",
        arm,
        "cloud_build",
        "x",
        tgt,
        "roles/artifactregistry.writer",
        f"serviceAccount:{PROJECT_NUMBER}@cloudbuild.gserviceaccount.com",
    )
    cb.index = 0
    out.append(cb)

    # iam
    sa_roles = {
        "github_actions": (
            [
                "roles/artifactregistry.writer",
                "roles/run.admin",
                "roles/storage.admin",
                "roles/secretmanager.admin",
                "roles/monitoring.admin",
                "roles/logging.configWriter",
                "roles/datastore.owner",
                "roles/iam.serviceAccountAdmin",
                "roles/iam.workloadIdentityPoolAdmin",
                "roles/resourcemanager.projectIamAdmin",
                "roles/pubsub.admin",
            ]
            if env == "prod"
            else ["roles/artifactregistry.writer", "roles/run.developer"]
        ),
        "cloud_run": [
            "roles/datastore.user",
            "roles/logging.logWriter",
            "roles/monitoring.metricWriter",
        ],
        "drift_detection": ["roles/monitoring.metricWriter", "roles/datastore.viewer"],
        "monitoring": [
            "roles/monitoring.metricWriter",
            "roles/monitoring.viewer",
            "roles/logging.logWriter",
        ],
    }
    accounts = {
        "github_actions": "github-actions",
        "cloud_run": "cloud-run",
        "drift_detection": "drift-detection",
        "monitoring": "monitoring",
    }
    for key, account in accounts.items():
        email = _sa_email(account, env)
        out.append(
            Res(
                "module.iam",
                "google_service_account",
                key,
                {
                    "account_id": f"{account}{sfx}",
                    "create_ignore_already_exists": None,
                    "description": "",
                    "disabled": False,
                    "display_name": account.replace("-", " ").title(),
                    "email": email,
                    "id": f"projects/{PROJECT}/serviceAccounts/{email}",
                    "member": f"serviceAccount:{email}",
                    "name": f"projects/{PROJECT}/serviceAccounts/{email}",
                    "project": PROJECT,
                    "timeouts": None,
                    "unique_id": str(100000000000000000000 + rng_id() % 10**20),
                },
            )
        )
    for key, roles in sa_roles.items():
        member = "serviceAccount:" + _sa_email(accounts[key], env)
        for role in roles:
            out.append(
                _member(
                    "module.iam",
                    "google_project_iam_member",
                    "sa_roles",
                    f"{key}/{role}",
                    {"project": PROJECT},
                    role,
                    member,
                )
            )
    act_as = _member(
        "module.iam",
        "google_service_account_iam_member",
        "github_actions_act_as_cloud_run",
        "x",
        {"service_account_id": f"projects/{PROJECT}/serviceAccounts/{_sa_email('cloud-run', env)}"},
        "roles/iam.serviceAccountUser",
        gha,
    )
    act_as.index = None
    out.append(act_as)

    # workload identity
    pool = f"github-pool{sfx}"
    provider = f"github-provider{sfx}"
    pool_name = f"projects/{PROJECT_NUMBER}/locations/global/workloadIdentityPools/{pool}"
    out.append(
        Res(
            "module.workload_identity",
            "google_iam_workload_identity_pool",
            "github",
            {
                "description": "Identity pool for GitHub Actions OIDC tokens",
                "disabled": False,
                "display_name": "GitHub Actions Pool",
                "id": f"projects/{PROJECT}/locations/global/workloadIdentityPools/{pool}",
                "name": pool_name,
                "project": PROJECT,
                "state": "ACTIVE",
                "timeouts": None,
                "workload_identity_pool_id": pool,
            },
        )
    )
    subjects = [
        "pull_request",
        "ref:refs/heads/main",
        "ref:refs/heads/master",
        "environment:production",
    ]
    condition = " || ".join(
        f"assertion.sub == 'repo:SalisMaxima/ct_scan_mlops:{s}'" for s in subjects
    )
    out.append(
        Res(
            "module.workload_identity",
            "google_iam_workload_identity_pool_provider",
            "github",
            {
                "attribute_condition": condition,
                "attribute_mapping": {
                    "attribute.actor": "assertion.actor",
                    "attribute.ref": "assertion.ref",
                    "attribute.repository": "assertion.repository",
                    "google.subject": "assertion.sub",
                },
                "aws": [],
                "description": "",
                "disabled": False,
                "display_name": "GitHub OIDC Provider",
                "id": f"projects/{PROJECT}/locations/global/workloadIdentityPools/{pool}"
                f"/providers/{provider}",
                "name": f"{pool_name}/providers/{provider}",
                "oidc": [
                    {
                        "allowed_audiences": [],
                        "issuer_uri": "https://token.actions.githubusercontent.com",
                        "jwks_json": "",
                    }
                ],
                "project": PROJECT,
                "saml": [],
                "state": "ACTIVE",
                "timeouts": None,
                "workload_identity_pool_id": pool,
                "workload_identity_pool_provider_id": provider,
            },
        )
    )
    wi = _member(
        "module.workload_identity",
        "google_service_account_iam_member",
        "workload_identity_user",
        "x",
        {
            "service_account_id": f"projects/{PROJECT}/serviceAccounts/"
            + _sa_email("github-actions", env)
        },
        "roles/iam.workloadIdentityUser",
        f"principalSet://iam.googleapis.com/{pool_name}/attribute.repository/SalisMaxima/ct_scan_mlops",
    )
    wi.index = None
    out.append(wi)

    # secret manager (containers only)
    def secret(name: str, secret_id: str, purpose: str, index: Any = None) -> Res:
        labels = _labels(env, purpose)
        return Res(
            "module.secret_manager",
            "google_secret_manager_secret",
            name,
            {
                "annotations": {},
                "create_time": "2026-02-05T13:40:02.318Z",
                "effective_annotations": {},
                "effective_labels": _effective(labels),
                "expire_time": "",
                "id": f"projects/{PROJECT}/secrets/{secret_id}",
                "labels": labels,
                "name": f"projects/{PROJECT_NUMBER}/secrets/{secret_id}",
                "project": PROJECT,
                "replication": [
                    {"auto": [{"customer_managed_encryption": []}], "user_managed": []}
                ],
                "rotation": [],
                "secret_id": secret_id,
                "terraform_labels": labels,
                "timeouts": None,
                "topics": [],
                "ttl": None,
                "version_aliases": {},
                "version_destroy_ttl": "",
            },
            index=index,
        )

    smm = "google_secret_manager_secret_iam_member"
    out.append(secret("wandb_api_key", f"wandb-api-key{sfx}", "wandb-api-key"))
    out.append(
        _member(
            "module.secret_manager",
            smm,
            "wandb_accessor",
            cloud_run,
            {"project": PROJECT, "secret_id": f"projects/{PROJECT}/secrets/wandb-api-key{sfx}"},
            "roles/secretmanager.secretAccessor",
            cloud_run,
        )
    )
    if env in ("staging", "prod") or env == "dev":
        # dev: still in state from an earlier apply; its config now has count = 0.
        out.append(secret("slack_webhook", f"slack-webhook-token{sfx}", "slack-webhook", index=0))
        out.append(
            _member(
                "module.secret_manager",
                smm,
                "slack_webhook_accessor",
                monitoring,
                {
                    "project": PROJECT,
                    "secret_id": f"projects/{PROJECT}/secrets/slack-webhook-token{sfx}",
                },
                "roles/secretmanager.secretAccessor",
                monitoring,
            )
        )

    # firestore
    if env != "dev":
        db = "(default)" if env == "prod" else "staging"
        db_path = f"projects/{PROJECT}/databases/{db}"
        out.append(
            Res(
                "module.firestore",
                "google_firestore_database",
                "feedback",
                {
                    "app_engine_integration_mode": "DISABLED",
                    "cmek_config": [],
                    "concurrency_mode": "OPTIMISTIC",
                    "create_time": "2026-02-05T15:21:09.441Z",
                    "delete_protection_state": "DELETE_PROTECTION_ENABLED",
                    "deletion_policy": "ABANDON",
                    "earliest_version_time": "2026-11-19T00:00:00Z",
                    "etag": "IMDQ8dWv8IkDMKbR4oGu8IkD",
                    "id": db_path,
                    "key_prefix": "",
                    "location_id": "eur3",
                    "name": db,
                    "point_in_time_recovery_enablement": "POINT_IN_TIME_RECOVERY_ENABLED",
                    "project": PROJECT,
                    "timeouts": None,
                    "type": "FIRESTORE_NATIVE",
                    "uid": str(uuid.UUID(int=rng_id())),
                    "update_time": "2026-02-05T15:21:09.441Z",
                    "version_retention_period": "604800s",
                },
            )
        )
        out.append(
            Res(
                "module.firestore",
                "google_firestore_field",
                "feedback_ttl",
                {
                    "collection": "feedback",
                    "database": db,
                    "field": "expireAt",
                    "id": f"{db_path}/collectionGroups/feedback/fields/expireAt",
                    "index_config": [{"indexes": []}],
                    "name": f"{db_path}/collectionGroups/feedback/fields/expireAt",
                    "project": PROJECT,
                    "timeouts": None,
                    "ttl_config": [{"state": "ACTIVE"}],
                },
            )
        )
        for key, first in (
            ("feedback_by_accuracy", "is_correct"),
            ("feedback_by_class", "predicted_class"),
        ):
            idx_id = "CICAgJim14AK" if first == "is_correct" else "CICAgOjXh4EK"
            out.append(
                Res(
                    "module.firestore",
                    "google_firestore_index",
                    "feedback",
                    {
                        "api_scope": "ANY_API",
                        "collection": "feedback",
                        "database": db,
                        "fields": [
                            {
                                "array_config": "",
                                "order": "ASCENDING",
                                "field_path": first,
                                "vector_config": [],
                            },
                            {
                                "array_config": "",
                                "order": "DESCENDING",
                                "field_path": "timestamp",
                                "vector_config": [],
                            },
                            {
                                "array_config": "",
                                "order": "DESCENDING",
                                "field_path": "__name__",
                                "vector_config": [],
                            },
                        ],
                        "id": f"{db_path}/collectionGroups/feedback/indexes/{idx_id}",
                        "name": f"{db_path}/collectionGroups/feedback/indexes/{idx_id}",
                        "project": PROJECT,
                        "query_scope": "COLLECTION",
                        "timeouts": None,
                    },
                    index=key,
                )
            )

    # cloud run
    service = f"ct-scan-api{sfx}"
    service_path = f"projects/{PROJECT}/locations/{REGION}/services/{service}"
    labels = _labels(env, "api-service")
    cpu, mem = {"dev": ("1000m", "2Gi"), "staging": ("2000m", "4Gi"), "prod": ("2", "4Gi")}[env]
    mn, mx = {"dev": (0, 3), "staging": (1, 5), "prod": (0, 20)}[env]
    if env == "prod":
        envs = [
            {"name": k, "value": v, "value_source": []}
            for k, v in sorted(
                {
                    "CONFIG_PATH": "/gcs/configs/config.yaml",
                    "DEPLOYMENT_ID": "20260131-102227",
                    "DRIFT_CURRENT_PATH": "/gcs/drift/current.csv",
                    "DRIFT_REFERENCE_PATH": "/gcs/drift/reference.csv",
                    "DRIFT_REPORT_PATH": "/gcs/drift/drift_report.html",
                    "FEATURES_UPDATED": "1769852116",
                    "FEATURE_METADATA_PATH": "/gcs/outputs/checkpoints/feature_metadata.json",
                    "GCP_PROJECT_ID": PROJECT,
                    "MODEL_PATH": "/gcs/outputs/checkpoints/model.pt",
                    "RELOAD_TIME": "1769851883",
                    "USE_FIRESTORE": "1",
                }.items()
            )
        ]
        volume = {"name": "gcs-bucket", "bucket": models, "mount_path": "/gcs", "read_only": False}
    else:
        envs = [
            {"name": k, "value": v, "value_source": []}
            for k, v in (("ENVIRONMENT", env), ("PROJECT_ID", PROJECT), ("REGION", REGION))
        ]
        envs.append(
            {
                "name": "WANDB_API_KEY",
                "value": "",
                "value_source": [
                    {"secret_key_ref": [{"secret": f"wandb-api-key{sfx}", "version": "latest"}]}
                ],
            }
        )
        volume = {"name": "models", "bucket": models, "mount_path": "/models", "read_only": True}
    image = f"{REGION}-docker.pkg.dev/{PROJECT}/{repo}/ct-scan-api:dd0e952"
    out.append(
        Res(
            "module.cloud_run",
            "google_cloud_run_v2_service",
            "api",
            {
                "annotations": {},
                "binary_authorization": [],
                "client": "",
                "client_version": "",
                "conditions": [],
                "create_time": "2026-01-20T09:15:31.006Z",
                "creator": _sa_email("github-actions", env),
                "custom_audiences": [],
                "deletion_time": "",
                "description": "",
                "effective_annotations": {},
                "effective_labels": _effective(labels),
                "etag": '"CMq0iLsGEKj3qYkD/cHJvamVjdHMvZHR1LW1sb3BzLWRhdGEtNDgyOTA3"',
                "expire_time": "",
                "generation": "60",
                "id": f"projects/{PROJECT}/locations/{REGION}/services/{service}",
                "ingress": "INGRESS_TRAFFIC_ALL",
                "labels": labels,
                "last_modifier": _sa_email("github-actions", env),
                "latest_created_revision": f"{service_path}/revisions/{service}-00060-ltf",
                "latest_ready_revision": f"{service_path}/revisions/{service}-00060-ltf",
                "launch_stage": "GA",
                "location": REGION,
                "name": service,
                "observed_generation": "60",
                "project": PROJECT,
                "reconciling": False,
                "template": [
                    {
                        "annotations": {},
                        "containers": [
                            {
                                "args": [],
                                "command": [],
                                "depends_on": [],
                                "env": envs,
                                "image": image,
                                "liveness_probe": [],
                                "name": "",
                                "ports": [{"container_port": 8080, "name": "http1"}],
                                "resources": [
                                    {
                                        "cpu_idle": True,
                                        "limits": {"cpu": cpu, "memory": mem},
                                        "startup_cpu_boost": True,
                                    }
                                ],
                                "startup_probe": [],
                                "volume_mounts": [
                                    {"mount_path": volume["mount_path"], "name": volume["name"]}
                                ],
                                "working_dir": "",
                            }
                        ],
                        "encryption_key": "",
                        "execution_environment": "",
                        "labels": {},
                        "max_instance_request_concurrency": 80,
                        "revision": "",
                        "scaling": [{"max_instance_count": mx, "min_instance_count": mn}],
                        "service_account": _sa_email("cloud-run", env),
                        "session_affinity": False,
                        "timeout": "300s",
                        "volumes": [
                            {
                                "cloud_sql_instance": [],
                                "empty_dir": [],
                                "gcs": [
                                    {"bucket": volume["bucket"], "read_only": volume["read_only"]}
                                ],
                                "name": volume["name"],
                                "nfs": [],
                                "secret": [],
                            }
                        ],
                        "vpc_access": [],
                    }
                ],
                "terminal_condition": [
                    {
                        "execution_reason": "",
                        "last_transition_time": "2026-02-06T11:02:54.190Z",
                        "message": "",
                        "reason": "",
                        "revision_reason": "",
                        "severity": "",
                        "state": "CONDITION_SUCCEEDED",
                        "type": "Ready",
                    }
                ],
                "terraform_labels": labels,
                "timeouts": None,
                "traffic": [
                    {
                        "percent": 100,
                        "revision": "",
                        "tag": "",
                        "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST",
                    }
                ],
                "traffic_statuses": [
                    {
                        "percent": 100,
                        "revision": "",
                        "tag": "",
                        "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST",
                        "uri": "",
                    }
                ],
                "uid": str(uuid.UUID(int=rng_id())),
                "update_time": "2026-02-06T11:02:41.551Z",
                "uri": f"https://{service}-{PROJECT_NUMBER}.{REGION}.run.app",
            },
        )
    )
    pub = _member(
        "module.cloud_run",
        "google_cloud_run_v2_service_iam_member",
        "public_access",
        "x",
        {
            "location": REGION,
            "name": f"projects/{PROJECT}/locations/{REGION}/services/{service}",
            "project": PROJECT,
        },
        "roles/run.invoker",
        "allUsers",
    )
    pub.index = 0
    out.append(pub)

    # budget
    topic = "billing-budget-alerts" + ("" if env == "prod" else f"-{env}")
    amount = {"dev": 100, "staging": 250, "prod": 500}[env]
    display = {
        "dev": "CT Scan MLOps Dev Budget",
        "staging": "CT Scan MLOps Staging Budget",
        "prod": "CT Scan MLOps Monthly Budget",
    }[env]
    labels = _labels(env, "billing-alerts")
    out.append(
        Res(
            "module.budget",
            "google_pubsub_topic",
            "billing_alerts",
            {
                "effective_labels": _effective(labels),
                "id": f"projects/{PROJECT}/topics/{topic}",
                "ingestion_data_source_settings": [],
                "kms_key_name": "",
                "labels": labels,
                "message_retention_duration": "",
                "message_storage_policy": [],
                "name": topic,
                "project": PROJECT,
                "schema_settings": [],
                "terraform_labels": labels,
                "timeouts": None,
            },
        )
    )
    budget_id = str(uuid.UUID(int=rng_id()))
    out.append(
        Res(
            "module.budget",
            "google_billing_budget",
            "ct_scan_budget",
            {
                "all_updates_rule": [
                    {
                        "disable_default_iam_recipients": False,
                        "enable_project_level_recipients": False,
                        "monitoring_notification_channels": [],
                        "pubsub_topic": f"projects/{PROJECT}/topics/{topic}",
                        "schema_version": "1.0",
                    }
                ],
                "amount": [
                    {
                        "last_period_amount": False,
                        "specified_amount": [
                            {"currency_code": "USD", "nanos": 0, "units": str(amount)}
                        ],
                    }
                ],
                "billing_account": "01A2B3-C4D5E6-F7A8B9",
                "budget_filter": [
                    {
                        "calendar_period": "MONTH",
                        "credit_types": [],
                        "credit_types_treatment": "INCLUDE_ALL_CREDITS",
                        "custom_period": [],
                        "labels": {},
                        "projects": [f"projects/{PROJECT_NUMBER}"],
                        "resource_ancestors": [],
                        "services": [],
                        "subaccounts": [],
                    }
                ],
                "display_name": display,
                "id": f"billingAccounts/01A2B3-C4D5E6-F7A8B9/budgets/{budget_id}",
                "name": f"billingAccounts/01A2B3-C4D5E6-F7A8B9/budgets/{budget_id}",
                "ownership_scope": "",
                "threshold_rules": [
                    {"spend_basis": "CURRENT_SPEND", "threshold_percent": p}
                    for p in (0.5, 0.9, 1.0, 1.1)
                ],
                "timeouts": None,
            },
            schema_version=1,
        )
    )

    # monitoring
    channel_id = f"projects/{PROJECT}/notificationChannels/{rng_id() % 10**19}"
    out.append(
        Res(
            "module.monitoring",
            "google_monitoring_notification_channel",
            "email",
            {
                "description": "",
                "display_name": "CT Scan Team Email",
                "enabled": True,
                "force_delete": False,
                "id": channel_id,
                "labels": {"email_address": "ct-scan-team@example.com"},
                "name": channel_id,
                "project": PROJECT,
                "sensitive_labels": [],
                "timeouts": None,
                "type": "email",
                "user_labels": _labels(env),
                "verification_status": "",
            },
        )
    )
    metric_suffix = "" if env == "prod" else f"_{env}"
    out.append(
        Res(
            "module.monitoring",
            "google_logging_metric",
            "catalog",
            {
                "bucket_name": "",
                "bucket_options": [],
                "description": "Cloud Run containers of the CT Scan API that exited or were"
                " killed (crash loop signal)",
                "disabled": False,
                "filter": 'resource.type="cloud_run_revision" AND '
                f'resource.labels.service_name="{service}"',
                "id": f"ctscan_container_crashes{metric_suffix}",
                "label_extractors": {},
                "metric_descriptor": [
                    {
                        "display_name": "",
                        "labels": [],
                        "metric_kind": "DELTA",
                        "unit": "1",
                        "value_type": "INT64",
                    }
                ],
                "name": f"ctscan_container_crashes{metric_suffix}",
                "project": PROJECT,
                "timeouts": None,
                "value_extractor": "",
            },
            index=f"ctscan_container_crashes{metric_suffix}",
        )
    )
    prefix = "" if env == "prod" else f"[{env}] "
    for key, pol in catalog_policies.items():
        conditions = []
        for c in pol["conditions"]:
            conditions.append(
                {
                    "condition_absent": [],
                    "condition_matched_log": [],
                    "condition_monitoring_query_language": [],
                    "condition_prometheus_query_language": [],
                    "condition_threshold": [
                        {
                            "aggregations": [_agg(a) for a in c["aggregations"]],
                            "comparison": c["comparison"],
                            "denominator_aggregations": [
                                _agg(a) for a in c["denominator_aggregations"]
                            ],
                            "denominator_filter": c["denominator_filter"] or "",
                            "duration": c["duration"],
                            "evaluation_missing_data": c["evaluation_missing_data"],
                            "filter": c["filter"]
                            .replace("${service_name}", service)
                            .replace("${environment}", env),
                            "forecast_options": [],
                            "threshold_value": c["threshold_value"],
                            "trigger": [
                                {
                                    "count": c["trigger"].get("count", 0),
                                    "percent": c["trigger"].get("percent", 0),
                                }
                            ],
                        }
                    ],
                    "display_name": c.get("display_name") or pol["display_name"],
                    "name": f"{{policy}}/conditions/{rng_id() % 10**19}",
                }
            )
        policy_id = f"projects/{PROJECT}/alertPolicies/{rng_id() % 10**19}"
        for c in conditions:
            c["name"] = c["name"].replace("{policy}", policy_id)
        out.append(
            Res(
                "module.monitoring",
                "google_monitoring_alert_policy",
                "catalog",
                {
                    "alert_strategy": [
                        {
                            "auto_close": pol["auto_close"],
                            "notification_channel_strategy": [],
                            "notification_prompts": [],
                            "notification_rate_limit": [],
                        }
                    ],
                    "combiner": pol["combiner"],
                    "conditions": conditions,
                    "creation_record": [
                        {
                            "mutate_time": "2026-02-06T10:41:17.208Z",
                            "mutated_by": _sa_email("github-actions", env),
                        }
                    ],
                    "display_name": prefix + pol["display_name"],
                    "documentation": [
                        {
                            "content": pol["documentation"],
                            "links": [],
                            "mime_type": "text/markdown",
                            "subject": "",
                        }
                    ],
                    "enabled": pol["enabled"],
                    "id": policy_id,
                    "name": policy_id,
                    "notification_channels": [channel_id],
                    "project": PROJECT,
                    "severity": "",
                    "timeouts": None,
                    "user_labels": {
                        **_labels(env),
                        "policy": key,
                        "severity": pol["severity"].lower(),
                    },
                },
                index=key,
                depends_on=["module.monitoring.google_logging_metric.catalog"],
            )
        )
    return out


def _agg(a: dict[str, Any]) -> dict[str, Any]:
    return {
        "alignment_period": a.get("alignment_period", "60s"),
        "cross_series_reducer": a.get("cross_series_reducer") or "",
        "group_by_fields": list(a.get("group_by_fields") or []),
        "per_series_aligner": a.get("per_series_aligner") or "",
    }


def catalog_policies_for(env: str, catalog_path: Path | None = None) -> dict[str, dict[str, Any]]:
    """The catalog resolved for ``env`` the way modules/monitoring/catalog resolves it."""
    import yaml

    from ctscan_ops.infra.policy_drift import expected_policies

    path = catalog_path or Path(__file__).resolve().parents[2] / "terraform" / "alert_policies.yaml"
    raw = yaml.safe_load(path.read_text())["policies"]
    _, resolved = expected_policies(env, path, {}, ENABLE_P1P2[env])
    runbooks = (
        Path(__file__).resolve().parents[2] / "terraform" / "modules" / "monitoring" / "runbooks"
    )
    out = {}
    for key, p in raw.items():
        conds = [p["condition"], *p.get("additional_conditions", [])]
        conditions = []
        for i, c in enumerate(conds):
            r = resolved[key]["conditions"][i]
            conditions.append(
                {
                    **c,
                    "threshold_value": float(r["threshold_value"]),
                    "duration": f"{r['duration_s']}s",
                    "denominator_aggregations": c.get("denominator_aggregations") or [],
                    "trigger": c.get("trigger") or {"count": 1},
                }
            )
        out[key] = {
            "display_name": p["display_name"],
            "severity": p["severity"],
            "combiner": p.get("combiner", "OR"),
            "auto_close": p.get("auto_close"),
            "enabled": resolved[key]["enabled"],
            "conditions": conditions,
            "documentation": (runbooks / p["runbook"]).read_text()
            if (runbooks / p["runbook"]).exists()
            else "",
        }
    return out


# ---------------------------------------------------------------------------- rendering
def sensitive_mirror(value: Any) -> Any:
    """Terraform's ``sensitive_values`` for a value with nothing sensitive in it."""
    if isinstance(value, dict):
        return {k: sensitive_mirror(v) for k, v in value.items() if isinstance(v, dict | list)}
    if isinstance(value, list):
        return [sensitive_mirror(v) if isinstance(v, dict | list) else False for v in value]
    return False


def _private(res: Res) -> str:
    import base64

    meta = {"e2bfb730-ecaa-11e6-8f88-34363bc7c4c0": {"create": 1200000000000}}
    return base64.b64encode(json.dumps(meta, separators=(",", ":")).encode()).decode()


def render_tfstate(resources: list[Res], serial: int, lineage: str) -> dict[str, Any]:
    """The raw state file (version 4) as Terraform 1.11 writes it."""
    grouped: dict[tuple[str, str, str], list[Res]] = {}
    for r in resources:
        grouped.setdefault((r.module, r.type, r.name), []).append(r)
    out_resources = []
    for (module, rtype, name), items in grouped.items():
        instances = []
        for r in items:
            inst: dict[str, Any] = {}
            if r.index is not None:
                inst["index_key"] = r.index
            inst["schema_version"] = r.schema_version
            inst["attributes"] = r.attrs
            inst["sensitive_attributes"] = [
                [{"type": "get_attr", "value": step} for step in path] for path in r.sensitive_paths
            ]
            inst["private"] = _private(r)
            if r.depends_on:
                inst["dependencies"] = r.depends_on
            instances.append(inst)
        out_resources.append(
            {
                "module": module,
                "mode": "managed",
                "type": rtype,
                "name": name,
                "provider": PROVIDER,
                "instances": instances,
            }
        )
    return {
        "version": 4,
        "terraform_version": TERRAFORM_VERSION,
        "serial": serial,
        "lineage": lineage,
        "outputs": {},
        "resources": out_resources,
        "check_results": None,
    }


def _show_resource(r: Res, values: dict[str, Any] | None = None) -> dict[str, Any]:
    values = r.attrs if values is None else values
    d: dict[str, Any] = {"address": r.address, "mode": "managed", "type": r.type, "name": r.name}
    if r.index is not None:
        d["index"] = r.index
    d.update(
        {
            "provider_name": PROVIDER_NAME,
            "schema_version": r.schema_version,
            "values": values,
            "sensitive_values": sensitive_mirror(values),
        }
    )
    return d


def render_values(resources: list[Res], values_of: Callable[[Res], dict] | None = None) -> dict:
    """A ``values`` block (root module + child modules) in show -json shape."""
    modules: dict[str, list[dict[str, Any]]] = {}
    for r in resources:
        values = values_of(r) if values_of else None
        modules.setdefault(r.module, []).append(_show_resource(r, values))
    return {
        "root_module": {
            "child_modules": [
                {"resources": items, "address": module} for module, items in modules.items()
            ]
        }
    }


def _change(r: Res, actions: list[str], before: Any, after: Any, reason: str | None = None):
    unknown: dict[str, Any] = {}
    if before is None and after is not None:
        unknown = {k: True for k in ("id", "name") if k in after}
        after = {k: v for k, v in after.items() if k not in unknown}
    entry: dict[str, Any] = {"address": r.address, "module_address": r.module, "mode": "managed"}
    entry.update({"type": r.type, "name": r.name})
    if r.index is not None:
        entry["index"] = r.index
    entry["provider_name"] = PROVIDER_NAME
    entry["change"] = {
        "actions": actions,
        "before": before,
        "after": after,
        "after_unknown": unknown,
        "before_sensitive": sensitive_mirror(before) if before is not None else False,
        "after_sensitive": sensitive_mirror(after) if after is not None else False,
    }
    if reason:
        entry["action_reason"] = reason
    return entry


def render_plan(
    prior: list[Res],
    refreshed: dict[str, dict[str, Any]],
    desired: list[Res],
    timestamp: datetime,
    delete_reasons: dict[str, str],
) -> dict[str, Any]:
    """Plan JSON (format 1.2): state ``prior`` refreshed to ``refreshed`` vs config ``desired``."""
    prior_by = {r.address: r for r in prior}
    desired_by = {r.address: r for r in desired}

    def refreshed_values(r: Res) -> dict[str, Any]:
        return refreshed.get(r.address, r.attrs)

    drift = [
        _change(prior_by[a], ["update"], prior_by[a].attrs, vals)
        for a, vals in refreshed.items()
        if vals != prior_by[a].attrs
    ]
    changes = []
    for r in desired:
        if r.address not in prior_by:
            changes.append(_change(r, ["create"], None, r.attrs))
            continue
        before = refreshed_values(prior_by[r.address])
        if before == r.attrs:
            changes.append(_change(r, ["no-op"], before, r.attrs))
        else:
            changes.append(_change(r, ["update"], before, r.attrs))
    for r in prior:
        if r.address not in desired_by:
            reason = delete_reasons.get(r.address, "delete_because_no_resource_config")
            changes.append(_change(r, ["delete"], refreshed_values(r), None, reason))
    module_calls = sorted({r.module.split(".")[1] for r in desired})
    return {
        "format_version": "1.2",
        "terraform_version": TERRAFORM_VERSION,
        "variables": {
            "project_id": {"value": PROJECT},
            "region": {"value": REGION},
            "alert_overrides": {"value": {}},
        },
        "planned_values": render_values(desired),
        "resource_drift": drift,
        "resource_changes": changes,
        "prior_state": {
            "format_version": "1.0",
            "terraform_version": TERRAFORM_VERSION,
            "values": render_values(prior, refreshed_values),
        },
        "configuration": {
            "provider_config": {
                "google": {
                    "name": "google",
                    "full_name": PROVIDER_NAME,
                    "version_constraint": "~> 5.45",
                }
            },
            "root_module": {
                "module_calls": {
                    m: {"source": f"../../modules/{m.replace('_', '-')}", "module": {}}
                    for m in module_calls
                }
            },
        },
        "relevant_attributes": [],
        "timestamp": timestamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "applyable": any(c["change"]["actions"] != ["no-op"] for c in changes),
        "complete": True,
        "errored": False,
    }


def build_environment(env: str, rng: Any, timestamp: datetime) -> tuple[dict, dict, dict]:
    """``(tfstate, plan, facts)`` for one environment."""

    def rng_id() -> int:
        return int(rng.integers(0, 2**63 - 1))

    policies = catalog_policies_for(env)
    desired = inventory(env, policies, rng_id)
    prior = copy.deepcopy(desired)
    refreshed: dict[str, dict[str, Any]] = {}
    delete_reasons: dict[str, str] = {}
    facts: dict[str, Any] = {}
    if env == "prod":
        # Not imported yet: the second Firestore index (in config, not in state).
        pending = 'module.firestore.google_firestore_index.feedback["feedback_by_class"]'
        prior = [r for r in prior if r.address != pending]
        # Console-tuned alert policy persisted by a refresh-only apply.
        policy = next(r for r in prior if r.address.endswith(f'catalog["{DRIFTED_POLICY}"]'))
        threshold = policy.attrs["conditions"][0]["condition_threshold"][0]
        threshold.update(DRIFTED_POLICY_VALUES)
        # Label added to the models bucket in the console: found by the plan's refresh.
        bucket = next(
            r for r in prior if r.address == "module.storage.google_storage_bucket.models"
        )
        edited = copy.deepcopy(bucket.attrs)
        edited["labels"] = {**edited["labels"], "owner": "ml-team"}
        edited["effective_labels"] = {**edited["effective_labels"], "owner": "ml-team"}
        edited["terraform_labels"] = {**edited["terraform_labels"], "owner": "ml-team"}
        refreshed[bucket.address] = edited
        facts = {"not_imported": [pending], "drifted": [bucket.address], "policy": DRIFTED_POLICY}
    elif env == "dev":
        slack = [r for r in desired if r.name in ("slack_webhook", "slack_webhook_accessor")]
        desired = [r for r in desired if r not in slack]
        for r in slack:
            delete_reasons[r.address] = (
                "delete_because_count_index" if r.index == 0 else "delete_because_each_key"
            )
        facts = {"pending_destroys": sorted(r.address for r in slack)}
    lineage = str(uuid.UUID(int=int(rng.integers(0, 2**63 - 1)) << 64 | rng_id(), version=4))
    state = render_tfstate(prior, STATE_SERIAL[env], lineage)
    plan = render_plan(prior, refreshed, desired, timestamp, delete_reasons)
    return state, plan, facts


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    """Write atomically (never half-write): temp file, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(path)


def generate_to(data_dir: Path, rng_for: Callable[[str], Any], end: datetime) -> dict[str, Any]:
    """Write state.json and plan.json per environment under ``data_dir/terraform``."""
    from ctscan_ops.infra.plan import parse_plan, summarize_plan
    from ctscan_ops.infra.state import parse_state, summarize_state

    summary: dict[str, Any] = {}
    for i, env in enumerate(("dev", "staging", "prod")):
        timestamp = end - timedelta(hours=2, minutes=7 * i)
        state, plan, facts = build_environment(env, rng_for(f"infra/{env}"), timestamp)
        out = data_dir / "terraform" / env
        _write_json(out / "state.json", state)
        _write_json(out / "plan.json", plan)
        snap = parse_state(state)
        plan_summary = summarize_plan(parse_plan(plan), state=snap)
        summary[env] = {
            "state_path": str(out / "state.json"),
            "plan_path": str(out / "plan.json"),
            "resources": summarize_state(snap)["resource_count"],
            "counts": {k: v for k, v in plan_summary["counts"].items() if v},
            "destroys": plan_summary["destroy_count"],
            "drift": plan_summary["drift_count"],
            "import_percent": plan_summary["import_progress"]["percent"],
            **facts,
        }
    return summary


def generate(ctx: Any) -> dict[str, Any]:
    """World part ``infra``: Terraform state and plan JSON for dev, staging and prod."""
    end = getattr(ctx, "end", None) or datetime.now(UTC)
    ctx.progress("infra: terraform state and plan JSON for dev, staging, prod")
    summary = generate_to(Path(ctx.data_dir), ctx.rng, end)
    if ctx.settings.endpoints.gcs_url or ctx.settings.mode.value == "gcp":
        from ctscan_ops.infra.assets import world_uploads

        # state into the backend bucket (where Terraform keeps it), plans where CI uploads them
        summary["uploaded"] = world_uploads(ctx.settings, ctx.data_dir)
    return summary
