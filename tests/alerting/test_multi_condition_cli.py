"""``alerts backtest`` / ``alerts tune`` on multi-condition policies (catalog and API JSON)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ctscan_ops.alerting.cli import main
from ctscan_ops.alerting.engine.io import InputError, api_policy_to_catalog

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
RC = "run.googleapis.com/request_count"
SVC = "ct-scan-api-staging"


def iso_min(m: int) -> str:
    return f"2026-01-01T{m // 60:02d}:{m % 60:02d}:00Z"


def _series(cls: str, values: list[int]) -> dict:
    return {
        "metric": {"type": RC, "labels": {"response_code_class": cls}},
        "resource": {"type": "cloud_run_revision", "labels": {"service_name": SVC}},
        "metricKind": "DELTA",
        "valueType": "INT64",
        "points": [
            {
                "interval": {"startTime": iso_min(m), "endTime": iso_min(m + 1)},
                "value": {"int64Value": str(v)},
            }
            for m, v in enumerate(values)
        ],
    }


@pytest.fixture
def quiet_then_busy(tmp_path: Path) -> Path:
    """120 min: minutes 0-59 quiet (2 req/min, one 5xx at minute 20), 60-119 busy (100 req/min,
    30 5xx/min in minutes 90-99). The unguarded 5xx ratio fires twice, the guarded once."""
    ok = [2 if m < 60 else 100 for m in range(120)]
    err = [1 if m == 20 else (30 if 90 <= m < 100 else 0) for m in range(120)]
    p = tmp_path / "rc.json"
    p.write_text(json.dumps({"timeSeries": [_series("2xx", ok), _series("5xx", err)]}))
    return p


def _api_policy(floor: float) -> dict:
    den = f'metric.type="{RC}" AND resource.type="cloud_run_revision"'
    num = f'{den} AND metric.labels.response_code_class="5xx"'
    agg = [
        {
            "alignmentPeriod": "300s",
            "perSeriesAligner": "ALIGN_RATE",
            "crossSeriesReducer": "REDUCE_SUM",
        }
    ]
    return {
        "displayName": "guarded error ratio",
        "combiner": "AND",
        "alertStrategy": {"autoClose": "1800s"},
        "conditions": [
            {
                "displayName": "5xx ratio",
                "conditionThreshold": {
                    "filter": num,
                    "aggregations": agg,
                    "denominatorFilter": den,
                    "denominatorAggregations": agg,
                    "comparison": "COMPARISON_GT",
                    "thresholdValue": 0.05,
                    "duration": "60s",
                    "trigger": {"count": 1},
                },
            },
            {
                "displayName": "traffic floor",
                "conditionThreshold": {
                    "filter": den,
                    "aggregations": agg,
                    "comparison": "COMPARISON_GT",
                    "thresholdValue": floor,
                    "duration": "0s",
                },
            },
        ],
    }


def _backtest(capsys, argv: list[str]) -> tuple[int, dict | None, str]:
    code = main(["alerts", "backtest", *argv])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def test_api_json_policy_with_and_combiner(capsys, tmp_path, quiet_then_busy) -> None:
    opens = {}
    for floor in (0.0, 0.5):
        pol = tmp_path / f"policy-{floor}.json"
        pol.write_text(json.dumps(_api_policy(floor)))
        code, doc, err = _backtest(capsys, ["--series", str(quiet_then_busy), "--policy", str(pol)])
        assert code == 0, err
        assert doc["policy"]["combiner"] == "AND" and len(doc["policy"]["conditions"]) == 2
        assert doc["policy"]["auto_close"] == "1800s"
        opens[floor] = [i["open"] for i in doc["incidents"]]
    # floor 0: the quiet-hour single error (1 of 11 requests in 5 min) pages too (violates
    # from the tick 00:21, 60 s retest window -> opens 00:22);
    # floor 0.5 req/s (30/min): only the busy burst (100 req/min) remains
    assert len(opens[0.0]) == 2 and opens[0.0][0] == iso_min(22)
    assert opens[0.5] == [opens[0.0][1]]


def test_catalog_guarded_policy_backtest_and_tune(capsys, tmp_path, quiet_then_busy) -> None:
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps([{"start": iso_min(90), "end": iso_min(100)}]))
    argv = ["--series", str(quiet_then_busy), "--policy", "high_error_rate", "--env", "staging"]
    code, doc, err = _backtest(capsys, [*argv, "--labels", str(labels)])
    assert code == 0, err
    assert doc["policy"]["combiner"] == "AND"
    assert doc["policy"]["conditions"][1]["threshold_value"] == 0.4  # staging floor
    assert doc["quality"]["false_incidents"] == 0 and doc["quality"]["detected_incidents"] == 1
    code = main(["alerts", "tune", *argv, "--labels", str(labels)])
    out, err = capsys.readouterr()
    assert code == 0, err
    tuned = json.loads(out)
    assert tuned["policy"]["combiner"] == "AND"
    assert tuned["policy"]["fixed_conditions"][0]["threshold_value"] == 0.4
    notes = " ".join(tuned["notes"])
    assert "only condition[0] is tuned" in notes and "swept only where" in notes


def test_api_policy_errors_name_the_condition() -> None:
    with pytest.raises(InputError, match=r"conditions\[1\]: only conditionThreshold"):
        api_policy_to_catalog(
            {"conditions": [_api_policy(0)["conditions"][0], {"conditionAbsent": {}}]}, "p.json"
        )
