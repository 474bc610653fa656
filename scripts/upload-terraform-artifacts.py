#!/usr/bin/env python3
"""Publish an environment's Terraform plan JSON and state where ctscan_ops reads them.

Called by .github/workflows/terraform.yml after each environment's plan/apply (keyless auth:
google-github-actions/auth with workload identity federation provides ADC). Needs only
``google-cloud-storage``, so CI does not install ctscan_ops. Destinations (the contract in
docs/data-contracts.md; the same keys as ``ctscan_ops.infra.assets.plan_artifact_key`` under the
``ArtifactStore`` prefix, and ``ctscan_ops.infra.state.state_object_name``)::

    plan  (terraform show -json)  gs://$CTSCAN_ARTIFACTS_BUCKET/ctscan-ops/infra/plans/<env>/plan.json
    state (terraform state pull)  gs://$CTSCAN_TF_STATE_BUCKET/environments/<env>/default.tfstate

Bucket names default exactly as ``ctscan_ops.config.get_settings`` derives them from
``CTSCAN_PROJECT_ID`` (empty variables count as unset, as GitHub passes undefined ``vars``).

Secrets: a state holds secret values (and a plan JSON can), so nothing of either file is ever
printed; the state goes only to the state bucket. If that object *is* the Terraform backend's
own state (``--backend-config .terraform/terraform.tfstate`` names the same bucket/prefix), the
upload is skipped: the backend already keeps it there, and writing it back past the state lock
could clobber a concurrent apply.

Usage::

    upload-terraform-artifacts.py --environment prod [--plan-json plan.json]
        [--state-file state.json] [--backend-config .terraform/terraform.tfstate]

Exit codes: 0 uploaded (or nothing to do), 1 upload failed, 2 bad input (not a plan/state
JSON, unknown environment, no project/bucket).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

ENVIRONMENTS = ("dev", "staging", "prod")
ARTIFACTS_PREFIX = "ctscan-ops"  # ArtifactStore.prefix default


class InputError(ValueError):
    """Bad input: exit code 2."""


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name) or default


def destinations(environment: str) -> dict[str, tuple[str, str]]:
    """{"plan": (bucket, object), "state": (bucket, object)} for ``environment``."""
    if environment not in ENVIRONMENTS:
        raise InputError(f"environment {environment!r} is not one of {ENVIRONMENTS}")
    project = _env("CTSCAN_PROJECT_ID", _env("GOOGLE_CLOUD_PROJECT"))
    artifacts = _env("CTSCAN_ARTIFACTS_BUCKET", f"{project}-ctscan-artifacts" if project else "")
    state = _env("CTSCAN_TF_STATE_BUCKET", f"{project}-tfstate" if project else "")
    if not artifacts or not state:
        raise InputError(
            "set CTSCAN_PROJECT_ID (bucket names derive from it) or both "
            "CTSCAN_ARTIFACTS_BUCKET and CTSCAN_TF_STATE_BUCKET"
        )
    prefix = _env("CTSCAN_ARTIFACTS_PREFIX", ARTIFACTS_PREFIX).strip("/")
    plan_key = f"infra/plans/{environment}/plan.json"
    return {
        "plan": (artifacts, f"{prefix}/{plan_key}" if prefix else plan_key),
        "state": (state, f"environments/{environment}/default.tfstate"),
    }


def _load_json(path: Path, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_bytes())
    except OSError as exc:
        raise InputError(f"{path}: cannot read the {what}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        # never echo content: the exception text can quote the document
        raise InputError(f"{path}: the {what} is not JSON ({type(exc).__name__})") from None
    if not isinstance(doc, dict):
        raise InputError(f"{path}: the {what} is not a JSON object")
    return doc


def check_plan(path: Path) -> None:
    doc = _load_json(path, "plan")
    if "format_version" not in doc or not ({"planned_values", "resource_changes"} & set(doc)):
        raise InputError(f"{path}: not `terraform show -json <planfile>` output")


def check_state(path: Path) -> None:
    doc = _load_json(path, "state")
    if not {"version", "lineage", "serial"} <= set(doc):
        raise InputError(f"{path}: not a `terraform state pull` document")


def backend_location(path: Path | None) -> tuple[str, str] | None:
    """(bucket, state object) of the gcs backend in ``.terraform/terraform.tfstate``."""
    if path is None or not path.exists():
        return None
    doc = _load_json(path, "backend config")
    backend = doc.get("backend") or {}
    if backend.get("type") != "gcs":
        return None
    cfg = backend.get("config") or {}
    prefix = str(cfg.get("prefix") or "").strip("/")
    name = f"{prefix}/default.tfstate" if prefix else "default.tfstate"
    return str(cfg.get("bucket") or ""), name


def storage_client(project: str | None) -> Any:
    from google.cloud import storage

    emulator = os.environ.get("STORAGE_EMULATOR_HOST")
    if emulator:
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(
            project=project or "emulator",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": emulator},
        )
    return storage.Client(project=project or None)  # ADC: workload identity in CI


def upload(
    environment: str,
    plan_json: Path | None,
    state_file: Path | None,
    backend_config: Path | None = None,
    client: Any = None,
) -> list[str]:
    """Validate, then upload; returns one line per action (no file content)."""
    dest = destinations(environment)
    if plan_json is not None:
        check_plan(plan_json)
    if state_file is not None:
        check_state(state_file)
    backend = backend_location(backend_config)
    client = client or storage_client(_env("CTSCAN_PROJECT_ID") or None)
    done = []
    if plan_json is not None:
        bucket, name = dest["plan"]
        client.bucket(bucket).blob(name).upload_from_filename(
            str(plan_json), content_type="application/json"
        )
        done.append(f"plan of {environment} -> gs://{bucket}/{name}")
    if state_file is not None:
        bucket, name = dest["state"]
        if backend == (bucket, name):
            done.append(
                f"state of {environment}: gs://{bucket}/{name} is the backend's own state "
                "object; not re-uploaded"
            )
        else:
            client.bucket(bucket).blob(name).upload_from_filename(
                str(state_file), content_type="application/json"
            )
            done.append(f"state of {environment} -> gs://{bucket}/{name}")
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--environment", required=True)
    parser.add_argument("--plan-json", type=Path)
    parser.add_argument("--state-file", type=Path)
    parser.add_argument("--backend-config", type=Path)
    args = parser.parse_args(argv)
    try:
        lines = upload(args.environment, args.plan_json, args.state_file, args.backend_config)
    except InputError as exc:
        print(f"upload-terraform-artifacts: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # transport / permission: name it, never the payload
        print(
            f"upload-terraform-artifacts: upload failed: {type(exc).__name__}: {str(exc)[:300]}",
            file=sys.stderr,
        )
        return 1
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
