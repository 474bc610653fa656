"""Settings are read once (config.py) and reach assets and sensors through resources."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ctscan_ops.config import ConfigError, get_settings
from ctscan_ops.definitions import build_defs

ROOT = Path(__file__).resolve().parents[2] / "ctscan_ops"
DOMAINS = ("infra", "alerting", "drift", "registry", "feedback")


def test_one_rule_for_the_feedback_backend():
    assert get_settings({}).feedback_backend == "sqlite"
    assert get_settings({"USE_FIRESTORE": "1"}).feedback_backend == "firestore"
    explicit = {"CTSCAN_FEEDBACK_BACKEND": "SQLite", "USE_FIRESTORE": "1"}
    assert get_settings(explicit).feedback_backend == "sqlite"
    with pytest.raises(ConfigError, match="CTSCAN_FEEDBACK_BACKEND"):
        get_settings({"CTSCAN_FEEDBACK_BACKEND": "mongo"})


def test_settings_reach_the_resources(tmp_path):
    catalog = tmp_path / "catalog.yaml"
    s = get_settings(
        {
            "CTSCAN_SANDBOX_DIR": str(tmp_path),
            "CTSCAN_PROJECT_ID": "p-once",
            "CTSCAN_ENVIRONMENT": "staging",
            "CTSCAN_ALERT_CATALOG": str(catalog),
            "USE_FIRESTORE": "1",
        }
    )
    assert s.alert_catalog_path == catalog
    resources = build_defs(s).resources
    assert resources["settings"].environment == "staging"
    assert resources["settings"].feedback_backend == "firestore"
    assert resources["settings"].alert_catalog_path == str(catalog)
    assert resources["settings"].tf_state_bucket == "p-once-tfstate"
    assert resources["alerting"].catalog_path == str(catalog)
    assert resources["drift_logs"].bucket == "p-once-drift-logs"
    assert resources["registry"].environment == "staging"
    assert resources["tuning_output"].base_dir() == tmp_path / "data" / "terraform"


@pytest.mark.parametrize("domain", DOMAINS)
def test_no_environment_read_in_dagster_wrappers(domain):
    """assets/sensors/schedules/definitions get settings from resources, never read them."""
    for name in ("assets.py", "sensors.py", "schedules.py", "definitions.py", "tuning_assets.py"):
        path = ROOT / domain / name
        if not path.exists():
            continue
        text = path.read_text()
        found = re.findall(r"get_settings\(|os\.environ|os\.getenv", text)
        assert not found, f"{path}: reads the environment ({found})"
