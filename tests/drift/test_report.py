"""The Evidently wrapper: per-column results checked against scipy, schema errors, thresholds."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from ctscan_ops.alerting.catalog import default_catalog_path
from ctscan_ops.drift.report import (
    DriftThreshold,
    SchemaMismatchError,
    check_schema,
    drift_threshold,
    run_drift_report,
    summarize_snapshot,
)

NUM = ["shifted", "same", "const"]
CAT = ["cls"]
GT30 = DriftThreshold(0.30, "COMPARISON_GT", "test")


def frame(rng: np.random.Generator, n: int, shift: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "shifted": rng.normal(shift, 1.0, n),
            "same": rng.normal(0.0, 1.0, n),
            "const": np.full(n, 128.0),
            "cls": rng.choice(["a", "b", "c"], n),
            "request_id": [f"r{i}" for i in range(n)],  # extra columns are ignored
        }
    )


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(0)
    ref, cur = frame(rng, 600, 0.0), frame(rng, 200, 0.8)
    cur.loc[3, "same"] = np.nan
    cur.loc[4, "shifted"] = np.inf
    return ref, cur, run_drift_report(ref, cur, NUM, CAT, GT30)


def test_small_reference_uses_ks_and_matches_scipy(small):
    ref, cur, rep = small
    s = rep.summary
    by = {c.column: c for c in s.columns}
    assert set(by) == {"shifted", "same", "const", "cls"}
    clean = cur.drop(index=[3, 4])
    for col in ("shifted", "same"):
        assert by[col].method == "K-S p_value"
        assert by[col].score == pytest.approx(stats.ks_2samp(ref[col], clean[col]).pvalue)
        assert by[col].drifted == (by[col].score < 0.05)
    assert by["shifted"].drifted and not by["same"].drifted
    assert not by["const"].drifted and by["cls"].kind == "categorical"
    assert s.drifted_columns == ["shifted"]
    assert s.drift_share == pytest.approx(1 / 4) == s.evidently_share
    assert s.dataset_drift is False  # 0.25 is not > 0.30
    assert s.reference_rows == 600 and s.current_rows == 198
    assert s.dropped_rows == {"reference": 0, "current": 2}


def test_outputs_are_html_and_json(small):
    _, _, rep = small
    assert rep.html is not None and b"<html" in rep.html[:2000].lower()
    doc = json.loads(rep.json)
    assert "metrics" in doc
    d = rep.summary.to_dict()
    json.dumps(d)  # metadata-safe
    assert d["n_drifted"] == 1 and d["drifted_columns"] == ["shifted"]
    table = rep.summary.markdown_table(top=2)
    assert table.splitlines()[2].startswith("| shifted | **yes** | K-S p_value")
    assert len(table.splitlines()) == 4


def test_large_reference_uses_normed_wasserstein():
    rng = np.random.default_rng(1)
    ref, cur = frame(rng, 1500, 0.0), frame(rng, 300, 0.3)
    rep = run_drift_report(ref, cur, ["shifted", "same"], [], GT30, with_html=False)
    assert rep.html is None
    by = {c.column: c for c in rep.summary.columns}
    for col in ("shifted", "same"):
        expected = stats.wasserstein_distance(ref[col], cur[col]) / np.std(ref[col])
        assert by[col].method.startswith("Wasserstein")
        assert by[col].score == pytest.approx(expected, rel=1e-6)
        assert by[col].drifted == (expected >= 0.1)
    assert by["shifted"].drifted and not by["same"].drifted
    assert rep.summary.drift_share == 0.5 and rep.summary.dataset_drift is True


def test_schema_mismatch_names_the_columns():
    ref = pd.DataFrame({"a": [1.0], "b": [2.0], "cls": ["x"]})
    cur = pd.DataFrame({"a": ["oops"], "c": [2.0], "cls": ["x"]})
    with pytest.raises(SchemaMismatchError) as e:
        check_schema(ref, cur, ["a", "b"], ["cls"])
    msg = str(e.value)
    assert "current lacks columns ['b']" in msg
    assert "non-numeric numerical columns ['a (object)']" in msg
    assert "only in current: ['c']" in msg and "only in reference: ['b']" in msg
    with pytest.raises(SchemaMismatchError, match="reference lacks columns"):
        run_drift_report(ref.drop(columns="b"), ref, ["a", "b"], ["cls"])


def test_no_usable_rows_is_an_error():
    ref = pd.DataFrame({"a": [1.0, 2.0], "cls": ["x", "y"]})
    cur = pd.DataFrame({"a": [np.nan], "cls": ["x"]})
    with pytest.raises(ValueError, match="current has no usable rows"):
        run_drift_report(ref, cur, ["a"], ["cls"])


def _snap(statuses: list[str]) -> dict:
    metrics = [{"id": "n", "config": {"type": "x:DriftedColumnsCount"}, "value": {"share": 0.3}}]
    tests = []
    for i, st in enumerate(statuses):
        metrics.append(
            {
                "id": f"m{i}",
                "value": 0.01 if st == "FAIL" else 0.5,
                "config": {
                    "type": "x:ValueDrift",
                    "column": f"c{i}",
                    "method": "K-S p_value",
                    "threshold": 0.05,
                },
            }
        )
        tests.append({"id": "drift", "status": st, "metric_config": {"metric_id": f"m{i}"}})
    return {"metrics": metrics, "tests": tests}


def test_threshold_boundary_follows_the_policy_comparison():
    snap = _snap(["FAIL"] * 3 + ["SUCCESS"] * 7)  # share exactly 0.30
    s = summarize_snapshot(snap, 10, 10, [], GT30)
    assert s.drift_share == pytest.approx(0.3) and s.dataset_drift is False
    s = summarize_snapshot(snap, 10, 10, [], DriftThreshold(0.29, "COMPARISON_GT", "t"))
    assert s.dataset_drift is True
    # without tests the method decides: p-value below threshold = drifted
    no_tests = {"metrics": snap["metrics"]}
    assert summarize_snapshot(no_tests, 10, 10, [], GT30).n_drifted == 3
    with pytest.raises(ValueError, match="no ValueDrift"):
        summarize_snapshot({"metrics": []}, 1, 1, [], GT30)


def test_threshold_comes_from_the_catalog(tmp_path):
    real = default_catalog_path()
    if not real.exists():
        pytest.skip("catalog not written yet")
    t = drift_threshold("prod", real)
    assert t.value == pytest.approx(0.30) and t.comparison == "COMPARISON_GT"
    assert t.source.endswith("#data_drift")
    doc = yaml.safe_load(real.read_text())
    doc["policies"]["data_drift"]["environments"] = {"dev": {"threshold_value": 0.5}}
    p = tmp_path / "alert_policies.yaml"
    p.write_text(yaml.safe_dump(doc))
    assert drift_threshold("dev", p).value == 0.5
    assert drift_threshold("prod", p).value == pytest.approx(0.30)
    del doc["policies"]["data_drift"]
    p.write_text(yaml.safe_dump(doc))
    assert drift_threshold("prod", p).source.startswith("fallback: no data_drift")
    assert drift_threshold("prod", tmp_path / "missing.yaml").source == "fallback: no catalog"
    shutil.copy(real, p)
    p.write_text(p.read_text() + "\n  broken: [\n")
    with pytest.raises(ValueError):
        drift_threshold("prod", p)
