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
import functools
import json
import re
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


def _sa_email(account: str, env: str) -> str:
    return f"{account}{SUFFIX[env]}@{PROJECT}.iam.gserviceaccount.com"


INVENTORY_DIR = Path(__file__).resolve().parent.parent / "data" / "infra_inventory"
_RNG_PLACEHOLDER = re.compile(r"\$\{rng:(\d+):(unique_id|uuid|mod19)\}")


def _rng_text(value: int, form: str) -> str:
    """How the provider spells a generated id (the forms Terraform state shows)."""
    if form == "unique_id":
        return str(100000000000000000000 + value % 10**20)
    if form == "uuid":
        return str(uuid.UUID(int=value))
    return str(value % 10**19)


def _fill(value: Any, ids: list[int]) -> Any:
    """``value`` with every ``${rng:<k>:<form>}`` replaced by the k-th generated id."""
    if isinstance(value, str):
        if "${rng:" not in value:
            return value
        return _RNG_PLACEHOLDER.sub(lambda m: _rng_text(ids[int(m.group(1))], m.group(2)), value)
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


@functools.cache
def _inventory_text(env: str) -> str:
    path = INVENTORY_DIR / f"{env}.json"
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{path}: no inventory for environment {env!r} ({exc})") from None


def load_inventory(env: str, rng_id: Callable[[], int]) -> list[Res]:
    """The resources of ``environment`` described in ``sandbox/data/infra_inventory/<env>.json``.

    The data file lists every resource instance but the catalog's alert policies, as the
    provider records them; ids the provider generates are placeholders ``${rng:<k>:<form>}``,
    filled from ``rng_id`` (called ``rng_ids`` times, in order k = 0, 1, ...), so the world stays
    a function of its seed.
    """
    doc = json.loads(_inventory_text(env))
    ids = [rng_id() for _ in range(int(doc["rng_ids"]))]
    return [
        Res(
            module=r["module"],
            type=r["type"],
            name=r["name"],
            attrs=_fill(r["attrs"], ids),
            index=r["index"],
            schema_version=r["schema_version"],
            sensitive_paths=r["sensitive_paths"],
            depends_on=r["depends_on"],
        )
        for r in doc["resources"]
    ]


def inventory(env: str, catalog_policies: dict[str, dict[str, Any]], rng_id: Callable) -> list:
    """All resource instances ``terraform/environments/<env>`` manages once applied: the data
    file's resources, then one alert policy per catalog entry."""
    out = load_inventory(env, rng_id)
    channel_id = next(
        r.attrs["id"] for r in out if r.type == "google_monitoring_notification_channel"
    )
    return out + catalog_alert_policies(env, catalog_policies, rng_id, channel_id)


def catalog_alert_policies(
    env: str, catalog_policies: dict[str, dict[str, Any]], rng_id: Callable, channel_id: str
) -> list[Res]:
    """``module.monitoring.google_monitoring_alert_policy.catalog[*]`` from the catalog."""
    service = f"ct-scan-api{SUFFIX[env]}"
    out: list[Res] = []
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


def catalog_policies_for(env: str, catalog_path: Path) -> dict[str, dict[str, Any]]:
    """The catalog resolved for ``env`` the way modules/monitoring/catalog resolves it."""
    import yaml

    from ctscan_ops.config import REPO_ROOT
    from ctscan_ops.infra.policy_drift import expected_policies

    raw = yaml.safe_load(Path(catalog_path).read_text())["policies"]
    _, resolved = expected_policies(env, catalog_path, {}, ENABLE_P1P2[env])
    runbooks = REPO_ROOT / "terraform" / "modules" / "monitoring" / "runbooks"
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


def build_environment(
    env: str, rng: Any, timestamp: datetime, catalog_path: Path | None = None
) -> tuple[dict, dict, dict]:
    """``(tfstate, plan, facts)`` for one environment (catalog: the settings' by default)."""
    from ctscan_ops.config import DEFAULT_ALERT_CATALOG

    def rng_id() -> int:
        return int(rng.integers(0, 2**63 - 1))

    policies = catalog_policies_for(env, catalog_path or DEFAULT_ALERT_CATALOG)
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


def generate_to(
    data_dir: Path,
    rng_for: Callable[[str], Any],
    end: datetime,
    catalog_path: Path | None = None,
) -> dict[str, Any]:
    """Write state.json and plan.json per environment under ``data_dir/terraform``."""
    from ctscan_ops.infra.plan import parse_plan, summarize_plan
    from ctscan_ops.infra.state import parse_state, summarize_state

    summary: dict[str, Any] = {}
    for i, env in enumerate(("dev", "staging", "prod")):
        timestamp = end - timedelta(hours=2, minutes=7 * i)
        state, plan, facts = build_environment(
            env, rng_for(f"infra/{env}"), timestamp, catalog_path
        )
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


def world_uploads(settings: Any, data_dir: Any) -> list[str]:
    """Upload the sandbox world's state (to the backend bucket) and plans (as CI would)."""
    from ctscan_ops.infra.assets import plan_artifact_key
    from ctscan_ops.infra.state import state_object_name
    from ctscan_ops.resources import ArtifactStore, make_storage_client

    client = make_storage_client(settings.project_id, settings.endpoints.gcs_url)
    store = ArtifactStore(
        bucket=settings.artifacts_bucket,
        project=settings.project_id,
        endpoint=settings.endpoints.gcs_url,
    )
    written = []
    for env in settings.environments:
        env_dir = Path(data_dir) / "terraform" / env
        state = env_dir / "state.json"
        plan = env_dir / "plan.json"
        if state.exists():
            blob = client.bucket(settings.tf_state_bucket).blob(state_object_name(env))
            blob.upload_from_filename(str(state), content_type="application/json")
            written.append(f"gs://{settings.tf_state_bucket}/{blob.name}")
        if plan.exists():
            written.append(
                store.put_bytes(plan_artifact_key(env), plan.read_bytes(), "application/json")
            )
    return written


def generate(ctx: Any) -> dict[str, Any]:
    """World part ``infra``: Terraform state and plan JSON for dev, staging and prod."""
    end = getattr(ctx, "end", None) or datetime.now(UTC)
    ctx.progress("infra: terraform state and plan JSON for dev, staging, prod")
    summary = generate_to(Path(ctx.data_dir), ctx.rng, end, ctx.settings.alert_catalog_path)
    if ctx.settings.endpoints.gcs_url or ctx.settings.mode.value == "gcp":
        # state into the backend bucket (where Terraform keeps it), plans where CI uploads them
        summary["uploaded"] = world_uploads(ctx.settings, ctx.data_dir)
    return summary
