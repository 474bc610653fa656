"""Single-run backfills of the daily drift assets: one run over N days, one result per run."""

from __future__ import annotations

import dagster as dg

from ctscan_ops.drift.assets import (
    CHECK_NAME,
    _one_result_per_run,
    drift_report,
    prediction_features,
)


def _day(share: float, passed: bool) -> dg.MaterializeResult:
    return dg.MaterializeResult(
        metadata={"status": "ok", "drift_share": dg.MetadataValue.float(share)},
        check_results=[
            dg.AssetCheckResult(
                check_name=CHECK_NAME, passed=passed, severity=dg.AssetCheckSeverity.WARN
            )
        ],
    )


def test_the_drift_assets_take_a_range_in_one_run():
    for asset in (prediction_features, drift_report):
        assert asset.backfill_policy == dg.BackfillPolicy.single_run()


def test_one_day_is_returned_unchanged_and_a_range_names_its_drifted_days():
    context = dg.build_asset_context()
    one = _day(0.1, True)
    assert _one_result_per_run(context, {"2026-11-01": one}) is one

    days = {
        "2026-11-01": _day(0.1, True),
        "2026-11-02": _day(0.6, False),
        "2026-11-03": _day(0.2, True),
    }
    merged = _one_result_per_run(context, days)
    assert merged.metadata["days_in_run"] == 3
    assert merged.metadata["drift_share"].value == 0.2  # the last day's figures
    table = merged.metadata["by_day"].value
    assert table.count("\n| 2026-11-0") == 3 and "| 2026-11-02 | ok | 0.6 |" in table
    (check,) = merged.check_results
    assert check.check_name == CHECK_NAME and check.passed is False
    assert check.metadata["failed_days"].value == ["2026-11-02"]
    assert "1 of 3 days: 2026-11-02" in check.description

    calm = _one_result_per_run(context, {d: _day(0.1, True) for d in days})
    assert calm.check_results[0].passed is True
