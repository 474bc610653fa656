"""Browser links of the artifact store and the pure operator-view records (no Dagster UI)."""

from __future__ import annotations

import urllib.request

import pytest

from ctscan_ops.alerting.shadow.view import (
    ENV_TABLE_COLUMNS,
    env_table_columns,
    quality_tables,
    readiness_by_policy,
    readiness_fields,
)
from ctscan_ops.common.view import INLINE_MARKDOWN_LIMIT, image_markdown, rounded
from ctscan_ops.resources import ArtifactStore, make_storage_client
from ctscan_ops.resources.storage import gs_browser_url, object_browser_url


def test_browser_urls_serve_pictures_and_html_with_their_type(gcs_emulator: str):
    """What the UI links to really opens in a browser: PNG as image/png, HTML as text/html."""
    bucket = "view-links"
    client = make_storage_client("ctscan-test", gcs_emulator)
    if not client.bucket(bucket).exists():
        client.create_bucket(bucket)
    store = ArtifactStore(bucket=bucket, project="ctscan-test", endpoint=gcs_emulator)
    store.put_bytes("a b/plot.png", b"\x89PNG\r\n\x1a\nxx", content_type="image/png")
    store.put_bytes("r/report.html", b"<html><body>drift</body></html>", "text/html")
    for key, ctype, body in (
        ("a b/plot.png", "image/png", b"\x89PNG\r\n\x1a\nxx"),
        ("r/report.html", "text/html", b"<html><body>drift</body></html>"),
    ):
        url = store.browser_url(key)
        assert url.startswith(gcs_emulator + "/download/storage/v1/b/view-links/o/")
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert resp.headers.get_content_type() == ctype
            assert resp.read() == body
    # a registry gs:// URI maps to the same download URL
    uri = store.uri("a b/plot.png")
    assert gs_browser_url(uri, gcs_emulator) == store.browser_url("a b/plot.png")


def test_gcp_urls_are_authenticated_downloads():
    assert (
        object_browser_url("b", "ctscan-ops/drift/reports/date=2026-11-01/report.html")
        == "https://storage.cloud.google.com/b/ctscan-ops/drift/reports/date%3D2026-11-01/report.html"
    )
    store = ArtifactStore(bucket="proj-artifacts")
    assert store.browser_url("x/y z.png") == (
        "https://storage.cloud.google.com/proj-artifacts/ctscan-ops/x/y%20z.png"
    )
    assert store.console_url("x/y.png").startswith(
        "https://console.cloud.google.com/storage/browser/_details/proj-artifacts/ctscan-ops/x/"
    )
    assert (
        gs_browser_url("gs://reg/models/v1.pt")
        == "https://storage.cloud.google.com/reg/models/v1.pt"
    )
    with pytest.raises(ValueError, match="gs://bucket/object"):
        gs_browser_url("s3://reg/models/v1.pt")


def test_image_markdown_is_short_enough_to_render_inline():
    md = image_markdown("prod: shadow incidents", "http://127.0.0.1:1/x.png", "http://h/full.png")
    assert md.startswith("![prod: shadow incidents](http://127.0.0.1:1/x.png)")
    assert "[open full size](http://h/full.png)" in md
    with pytest.raises(ValueError, match="data: URI"):
        image_markdown("t", "data:image/png;base64," + "A" * INLINE_MARKDOWN_LIMIT)


def test_rounded_cells():
    assert rounded(0.123456) == 0.123 and rounded(1234.5) == 1230.0
    assert rounded(float("nan")) is None and rounded(None) is None and rounded(3) == 3


@pytest.mark.parametrize(
    ("value", "verdict", "reason"),
    [
        ("ready", "ready", ""),
        (
            "not ready: FDR 40.0% > 10%; missed 1 of 2 incidents",
            "not ready",
            "FDR 40.0% > 10%; missed 1 of 2 incidents",
        ),
        ("not enough data (3.0 < 7 days)", "not enough data", "3.0 < 7 days"),
        ({"verdict": "ready", "reason": ""}, "ready", ""),
        ({"verdict": "not ready", "reasons": ["a", "b"]}, "not ready", "a; b"),
    ],
)
def test_readiness_fields_split_verdict_and_reason(value, verdict, reason):
    fields = readiness_fields(value)
    assert (fields["readiness"], fields["reason"]) == (verdict, reason)


def test_richer_readiness_figures_become_columns():
    fields = readiness_fields(
        {
            "verdict": "ready",
            "reason": "",
            "fdr_upper": 0.081234,
            "fdr_ci": [0.01, 0.0812],
            "notes": {"x": 1},
        }
    )
    assert fields["fdr_upper"] == 0.0812 and fields["fdr_ci"] == "[0.01, 0.0812]"
    assert "notes" not in fields  # not a scalar: stays in the JSON report


def _result(env, policy, variant, readiness, fdr, sev="P1"):
    q = {
        "incidents": 4,
        "false_discovery_rate": fdr,
        "false_alerts_per_day": 0.25,
        "recall": 1.0,
        "median_detection_s": 120.0,
    }
    return {
        "environment": env,
        "policy": policy,
        "variant": variant,
        "severity": sev,
        "quality": q,
        "readiness": readiness,
    }


def test_tables_per_environment_and_readiness_per_policy():
    results = [
        _result("prod", "high_latency", "catalog", "ready", 0.0),
        _result("prod", "high_latency", "deployed", "not ready: FDR 50.0% > 10%", 0.5),
        _result("staging", "high_latency", "catalog", "not enough data (2.0 < 7 days)", None),
        _result("prod", "high_cpu", "catalog", "ready", 0.05, sev="P2"),
        _result("staging", "high_cpu", "catalog", "ready", 0.0, sev="P2"),
    ]
    tables = quality_tables(results)
    assert list(tables) == ["prod", "staging"]
    assert [r["policy"] for r in tables["prod"]] == [
        "high_latency",
        "high_latency (deployed)",
        "high_cpu",
    ]
    assert tables["prod"][1]["FDR"] == 0.5 and tables["prod"][1]["reason"] == "FDR 50.0% > 10%"
    assert tables["staging"][0]["FDR"] is None and tables["staging"][0]["alerts"] == 4
    assert [c.name for c in env_table_columns(tables["prod"])] == [
        c.name for c in ENV_TABLE_COLUMNS
    ]

    by_policy = readiness_by_policy(results)
    assert by_policy["high_cpu"]["passed"] is True
    assert by_policy["high_cpu"]["summary"] == "ready in prod, staging"
    hl = by_policy["high_latency"]
    assert hl["passed"] is False and len(hl["rows"]) == 2  # the deployed variant is not judged
    assert hl["summary"] == "ready in prod; staging: not enough data (2.0 < 7 days)"
