"""Readers: CSV series, Cloud Monitoring TimeSeries JSON, labels; errors name file and line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ctscan_ops.alerting.engine.io import (
    InputError,
    parse_time,
    read_labels,
    read_series,
    read_series_csv,
    read_timeseries_json,
)

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_parse_time_formats() -> None:
    assert parse_time("2026-01-01T00:00:00Z") == T0
    assert parse_time("2026-01-01T00:00:00") == T0  # naive = UTC
    assert parse_time("2026-01-01T01:00:00+01:00") == T0
    assert parse_time(str(T0)) == T0 and parse_time(T0 + 0.5) == T0 + 0.5
    for bad in ("yesterday", "", "inf", None, True):
        with pytest.raises(ValueError):
            parse_time(bad)


def test_csv_with_labels_gaps_and_mixed_timestamps(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "s.csv",
        "timestamp,value,route,resource.labels.revision_name\n"
        "2026-01-01T00:00:00,1.5,/predict,r1\n"
        f"{T0 + 60},,/predict,r1\n"
        "2026-01-01T00:02:00Z,nan,/predict,r1\n"
        "2026-01-01T00:00:00,7,/health,r1\n"
        "\n",
    )
    series = read_series_csv(p)
    assert len(series) == 2
    by_route = {s.metric_labels["route"]: s for s in series}
    pred = by_route["/predict"]
    assert pred.resource_labels == {"revision_name": "r1"}
    assert pred.times.tolist() == [T0, T0 + 60, T0 + 120]
    assert pred.values[0] == 1.5 and np.isnan(pred.values[1:]).all()  # explicit gaps kept
    assert by_route["/health"].values.tolist() == [7.0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("time,value\n1,2\n", r"line 1: missing column 'timestamp'"),
        ("timestamp,value\n1,2\n2,abc\n", r"line 3: value: 'abc' is not a number"),
        ("timestamp,value\n1,2\nsoon,3\n", r"line 3: timestamp: 'soon'"),
        ("timestamp,value\n1,2\n2,3,4\n", r"line 3: 3 fields, header has 2"),
        ("", r"line 1: empty file"),
        ("timestamp,value\n", r"no data rows"),
        ('timestamp,value\n1,"2\n', r"line \d+: .*"),
    ],
)
def test_csv_errors_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    p = write(tmp_path, "bad.csv", text)
    with pytest.raises(InputError, match=message) as info:
        read_series_csv(p)
    assert "bad.csv" in str(info.value)


def test_csv_int64_rejects_fractions(tmp_path: Path) -> None:
    p = write(tmp_path, "i.csv", "timestamp,value\n1,2\n2,2.5\n")
    with pytest.raises(InputError, match=r"line 3: value: '2.5' is not an INT64"):
        read_series_csv(p, value_type="INT64")


REST = {
    "timeSeries": [
        {
            "metric": {
                "type": "run.googleapis.com/request_count",
                "labels": {"response_code_class": "5xx"},
            },
            "resource": {"type": "cloud_run_revision", "labels": {"service_name": "ct-scan-api"}},
            "metricKind": "DELTA",
            "valueType": "INT64",
            "points": [  # newest first, as the API returns them
                {
                    "interval": {
                        "startTime": "2026-01-01T00:01:00Z",
                        "endTime": "2026-01-01T00:02:00Z",
                    },
                    "value": {"int64Value": "4"},
                },
                {
                    "interval": {
                        "startTime": "2026-01-01T00:00:00Z",
                        "endTime": "2026-01-01T00:01:00Z",
                    },
                    "value": {"int64Value": "3"},
                },
            ],
        },
        {
            "metric": {"type": "run.googleapis.com/request_latencies"},
            "resource": {"type": "cloud_run_revision"},
            "metricKind": "DELTA",
            "valueType": "DISTRIBUTION",
            "points": [
                {
                    "interval": {
                        "startTime": "2026-01-01T00:00:00Z",
                        "endTime": "2026-01-01T00:01:00Z",
                    },
                    "value": {
                        "distributionValue": {
                            "count": "3",
                            "mean": 2.5,
                            "bucketOptions": {
                                "exponentialBuckets": {
                                    "numFiniteBuckets": 3,
                                    "growthFactor": 2,
                                    "scale": 1,
                                }
                            },
                            "bucketCounts": ["0", "1", "2"],
                        }
                    },
                }
            ],
        },
    ]
}


def test_rest_timeseries_json(tmp_path: Path) -> None:
    p = write(tmp_path, "ts.json", json.dumps(REST))
    counts, lat = read_timeseries_json(p)
    assert counts.metric_kind == "DELTA" and counts.value_type == "INT64"
    assert counts.times.tolist() == [T0 + 120, T0 + 60]
    assert counts.values.tolist() == [4, 3]
    assert counts.metric_labels == {"response_code_class": "5xx"}
    assert lat.value_type == "DISTRIBUTION"
    assert lat.bucket_bounds.tolist() == [1, 2, 4, 8]
    assert lat.bucket_counts.tolist() == [[0, 1, 2, 0, 0]]  # trailing zeros restored
    assert lat.dist_sums.tolist() == [7.5]
    # the same document as pages, and read_series auto-detects JSON
    pages = write(tmp_path, "pages.dat", json.dumps([REST, REST]))
    assert len(read_series(pages)) == 4


def test_snake_case_proto_dict(tmp_path: Path) -> None:
    doc = [
        {
            "metric": {
                "type": "custom.googleapis.com/ctscan/drift_share",
                "labels": {"environment": "prod"},
            },
            "resource": {"type": "global"},
            "metric_kind": "GAUGE",
            "value_type": "DOUBLE",
            "points": [
                {"interval": {"end_time": "2026-01-01T00:00:00Z"}, "value": {"double_value": 0.4}}
            ],
        }
    ]
    [s] = read_timeseries_json(write(tmp_path, "snake.json", json.dumps(doc)))
    assert (s.metric_kind, s.values.tolist(), s.times.tolist()) == ("GAUGE", [0.4], [T0])


def test_json_errors_name_line_or_path(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"broken.json: line 3 column \d+: invalid JSON"):
        read_timeseries_json(write(tmp_path, "broken.json", '{\n "timeSeries": [\n  {,]}'))
    bad = json.loads(json.dumps(REST))
    bad["timeSeries"][1]["points"][0]["value"]["distributionValue"]["bucketCounts"] = [
        1,
        2,
        3,
        4,
        5,
        6,
    ]
    with pytest.raises(
        InputError, match=r"timeSeries\[1\].points\[0\].value.distributionValue.bucketCounts"
    ):
        read_timeseries_json(write(tmp_path, "b.json", json.dumps(bad)))
    bad = json.loads(json.dumps(REST))
    bad["timeSeries"][0]["points"][1]["value"] = {"int64Value": "many"}
    with pytest.raises(InputError, match=r"timeSeries\[0\].points\[1\].value.int64Value: 'many'"):
        read_timeseries_json(write(tmp_path, "c.json", json.dumps(bad)))
    bad = json.loads(json.dumps(REST))
    del bad["timeSeries"][0]["metric"]["type"]
    with pytest.raises(InputError, match=r"timeSeries\[0\].metric.type: missing"):
        read_timeseries_json(write(tmp_path, "d.json", json.dumps(bad)))


def test_labels_and_verdicts(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "l.json",
        json.dumps([{"start": "2026-01-01T00:00:00", "end": T0 + 600, "severity": "P1", "id": 7}]),
    )
    windows, verdicts = read_labels(p)
    assert (windows[0].start, windows[0].end, windows[0].severity, windows[0].id) == (
        T0,
        T0 + 600,
        "P1",
        "7",
    )
    assert verdicts == {}
    q = write(tmp_path, "v.json", json.dumps({"windows": [], "verdicts": {"abc": False}}))
    assert read_labels(q) == ([], {"abc": False})
    for text, message in [
        ('[{"start": "x", "end": 1}]', r"\[0\].start"),
        ('[{"start": 5, "end": 1}]', r"\[0\]: end is before start"),
        ('{"verdicts": {"a": "yes"}}', r"verdicts must map"),
        ("[1,", r"line 1 column \d+: invalid JSON"),
    ]:
        with pytest.raises(InputError, match=message):
            read_labels(write(tmp_path, "bad.json", text))
