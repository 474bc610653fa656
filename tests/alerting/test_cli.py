"""``ctscan-ops alerts backtest`` end to end (through ``main(argv)`` and ``python -m``)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ctscan_ops.alerting.cli import main

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z


def iso_min(m: int) -> str:
    return f"2026-01-01T{m // 60:02d}:{m % 60:02d}:00Z"


@pytest.fixture
def latency_csv(tmp_path: Path) -> Path:
    """60 minutes of p95-ish latency in ms: 3000 ms from minute 20 to 29, else 500."""
    rows = ["timestamp,value"]
    for m in range(60):
        v = 3000 if 20 <= m < 30 else 500
        rows.append(f"{iso_min(m).rstrip('Z')},{v}")
    p = tmp_path / "lat.csv"
    p.write_text("\n".join(rows) + "\n")
    return p


@pytest.fixture
def labels(tmp_path: Path) -> Path:
    p = tmp_path / "labels.json"
    p.write_text(
        json.dumps(
            [{"start": iso_min(20), "end": iso_min(29)}, {"start": iso_min(45), "end": iso_min(50)}]
        )
    )
    return p


def run(capsys, argv: list[str]) -> tuple[int, dict | None, str]:
    code = main(["alerts", "backtest", *argv])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def test_adhoc_condition_with_labels_and_ticks(capsys, latency_csv, labels) -> None:
    code, doc, err = run(
        capsys,
        [
            "--series", str(latency_csv), "--labels", str(labels),
            "--aligner", "ALIGN_MEAN", "--alignment-period", "60",
            "--comparison", "GT", "--threshold", "2000", "--duration", "120", "--ticks",
        ],
    )  # fmt: skip
    assert code == 0, err
    # violating minutes 20..29; a 120 s retest window needs 3 ticks -> open 22:00, close 30:00
    assert doc["incidents"] == [
        {
            "open": iso_min(22),
            "close": iso_min(30),
            "peak": 3000.0,
            "id": doc["incidents"][0]["id"],
            "condition": 0,
            "labels": {},
            "close_reason": "cleared",
        }
    ]
    q = doc["quality"]
    assert (q["precision"], q["false_discovery_rate"], q["recall"]) == (1.0, 0.0, 0.5)
    assert (q["median_detection_s"], q["median_reset_s"]) == (120.0, 60.0)
    assert q["false_alerts_per_day"] == 0.0 and q["fpr_per_tick"] == 0.0
    assert len(doc["ticks"]) == 60 and doc["ticks_evaluated"] == 60
    assert doc["ticks"][22] == {"t": iso_min(22), "met": True, "values": [3000.0]}
    assert doc["ticks"][21]["met"] is False
    assert doc["filter_applied"] is False


def test_catalog_policy_with_overrides_and_range(capsys, latency_csv) -> None:
    # high_cpu as a what-if on a scalar CSV: p99 over 60 s of the values, threshold overridden
    code, doc, err = run(
        capsys,
        [
            "--series", str(latency_csv), "--policy", "high_cpu", "--env", "dev",
            "--threshold", "1000", "--duration", "0",
            "--from", iso_min(10), "--to", "2026-01-01T00:40:00",
        ],
    )  # fmt: skip
    assert code == 0, err
    assert doc["policy"]["name"] == "high_cpu" and doc["policy"]["environment"] == "dev"
    assert doc["policy"]["conditions"][0]["threshold_value"] == 1000.0
    assert doc["from"] == iso_min(10) and doc["to"] == iso_min(40) and doc["ticks_evaluated"] == 31
    assert [(i["open"], i["close"]) for i in doc["incidents"]] == [(iso_min(20), iso_min(30))]
    assert "quality" not in doc and "ticks" not in doc


def test_policy_file(capsys, tmp_path, latency_csv) -> None:
    pol = tmp_path / "slow.yaml"
    pol.write_text(
        "severity: P1\n"
        "condition:\n"
        '  filter: \'metric.type="x" AND resource.type="global"\'\n'
        "  aggregations: [{alignment_period: 300s, per_series_aligner: ALIGN_MAX}]\n"
        "  comparison: COMPARISON_GT\n"
        "  threshold_value: 2500\n"
        "  duration: 0s\n"
        "auto_close: 1800s\n"
    )
    code, doc, err = run(capsys, ["--series", str(latency_csv), "--policy", str(pol)])
    assert code == 0, err
    assert doc["policy"]["name"] == "slow"
    # rolling 5-min max exceeds 2500 from minute 20 until minute 34 (last 3000 at 29)
    assert [(i["open"], i["close"]) for i in doc["incidents"]] == [(iso_min(20), iso_min(34))]


def _request_count_json(tmp_path: Path) -> Path:
    """TimeSeries JSON: 2xx 100/min, 5xx 1/min except 30/min in minutes 30..39."""

    def series(cls: str, values: list[int]) -> dict:
        return {
            "metric": {
                "type": "run.googleapis.com/request_count",
                "labels": {"response_code_class": cls},
            },
            "resource": {"type": "cloud_run_revision", "labels": {"service_name": "ct-scan-api"}},
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

    err = [30 if 30 <= m < 40 else 1 for m in range(90)]
    p = tmp_path / "rc.json"
    p.write_text(json.dumps({"timeSeries": [series("2xx", [100] * 90), series("5xx", err)]}))
    return p


def test_ratio_policy_on_timeseries_json(capsys, tmp_path) -> None:
    code, doc, err = run(
        capsys, ["--series", str(_request_count_json(tmp_path)), "--policy", "high_error_rate"]
    )
    assert code == 0, err
    assert doc["filter_applied"] is True and doc["series"] == 2
    [inc] = doc["incidents"]
    # 5-min ratio: at minute 31 (end of point 30) 30+4 errors / (34+500) = 0.064 > 0.05;
    # 60 s retest window -> open at 00:32; clears when the window falls below 5 %
    assert inc["open"] == iso_min(32)
    assert inc["peak"] == pytest.approx(30 / 130)
    assert inc["close"] is not None


def test_ratio_policy_on_plain_csv_is_a_clear_error(capsys, latency_csv) -> None:
    code, doc, err = run(capsys, ["--series", str(latency_csv), "--policy", "high_error_rate"])
    assert code == 2 and doc is None
    assert "ratio condition needs numerator and denominator" in err


ADHOC = ["--comparison", "GT", "--threshold", "1"]


@pytest.mark.parametrize(
    ("content", "argv", "message"),
    [
        ("timestamp,value\n1,2\n2,x\n", ADHOC, r"bad.csv: line 3: value: 'x' is not a number"),
        ("timestamp,value\n1,2\n", ["--comparison", "GE", "--threshold", "1"], None),  # argparse
        ("timestamp,value\n1,2\n", ["--policy", "no_such_policy"], r"unknown policy 'no_such"),
        ("timestamp,value\n1,2\n", [*ADHOC, "--duration", "90"], r"90 s is not a multiple of 60"),
        ("timestamp,value\n1,2\n", ["--aligner", "ALIGN_MAX"], r"--comparison and --threshold"),
        ("timestamp,value\n1,2\n", [*ADHOC, "--aligner", "ALIGN_RATE", "--metric-kind", "GAUGE"],
         r"ALIGN_RATE is not valid for GAUGE"),
        ("timestamp,value\n1,2\n", [*ADHOC, "--from", "10", "--to", "5"], r"--to .* is before"),
    ],
)  # fmt: skip
def test_bad_input_exits_2(capsys, tmp_path, content, argv, message) -> None:
    p = tmp_path / "bad.csv"
    p.write_text(content)
    try:
        code = main(["alerts", "backtest", "--series", str(p), *argv])
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    if message:
        assert re.search(message, err), err


def test_missing_labels_file_exits_2(capsys, latency_csv, tmp_path) -> None:
    code, _, err = run(
        capsys,
        [
            "--series",
            str(latency_csv),
            "--comparison",
            "GT",
            "--threshold",
            "1",
            "--labels",
            str(tmp_path / "nope.json"),
        ],
    )
    assert code == 2 and "nope.json: no such file" in err


def test_python_dash_m_entry_point(latency_csv) -> None:
    proc = subprocess.run(
        [
            sys.executable, "-m", "ctscan_ops.alerting.cli", "alerts", "backtest",
            "--series", str(latency_csv), "--comparison", "LT", "--threshold", "600",
            "--missing-data", "no-op", "--auto-close", "1800",
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    # below 600 on minutes 0..19 and 30..59: two incidents, the last still open
    assert [(i["open"], i["close"]) for i in doc["incidents"]] == [
        (iso_min(0), iso_min(20)),
        (iso_min(30), None),
    ]
    assert np.isclose(doc["incidents"][0]["peak"], 500.0)
