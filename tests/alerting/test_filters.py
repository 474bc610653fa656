"""The Monitoring filter subset: parsing, matching, clear errors."""

from __future__ import annotations

import pytest

from ctscan_ops.alerting.engine.filters import FilterError, parse_filter

CR = "cloud_run_revision"


def test_catalog_style_filter_matches_only_the_right_series() -> None:
    f = parse_filter(
        'metric.type="run.googleapis.com/request_count" AND resource.type="cloud_run_revision" '
        'AND resource.labels.service_name="ct-scan-api" AND metric.labels.response_code_class="5xx"'
    )
    ok = ("run.googleapis.com/request_count", {"response_code_class": "5xx"}, CR)
    assert f.matches(*ok, {"service_name": "ct-scan-api"})
    assert not f.matches(*ok, {"service_name": "ct-scan-api-dev"})
    assert not f.matches(ok[0], {"response_code_class": "2xx"}, CR, {"service_name": "ct-scan-api"})
    assert not f.matches(ok[0], {}, CR, {"service_name": "ct-scan-api"})  # label absent
    assert f.metric_type == "run.googleapis.com/request_count"
    assert f.resource_type == CR


def test_label_singular_alias_not_equal_and_bare_words() -> None:
    f = parse_filter('metric.type = m AND resource.type = global AND metric.label.code != "5xx"')
    assert f.matches("m", {"code": "2xx"}, "global")
    assert f.matches("m", {}, "global")  # absent label is "" for !=
    assert not f.matches("m", {"code": "5xx"}, "global")


def test_functions_substring_not_and_escapes() -> None:
    f = parse_filter(
        'metric.type = starts_with("custom.googleapis.com/ctscan/") AND '
        'resource.labels.zone = one_of("a", "b") AND metric.labels.note : "x\\"y" AND '
        'NOT metric.labels.env = "dev"'
    )
    base = ("custom.googleapis.com/ctscan/drift_share", {"note": 'ax"yz', "env": "prod"}, "global")
    assert f.matches(*base, {"zone": "b"})
    assert not f.matches(*base, {"zone": "c"})
    assert not f.matches(base[0], {"note": 'ax"yz', "env": "dev"}, "global", {"zone": "a"})
    assert not f.matches("run.googleapis.com/x", base[1], "global", {"zone": "a"})
    assert parse_filter('metric.type = ends_with("_share")').matches("drift_share")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('metric.type="a" OR metric.type="b"', "OR at"),
        ('(metric.type="a")', "field name"),
        ('metric.kind="GAUGE"', "unsupported field 'metric.kind'"),
        ('metric.type="a" resource.type="b"', "expected AND"),
        ('metric.type="unterminated', "unexpected character"),
        ("metric.type=", "missing value"),
        ("", "empty filter"),
        ('metric.type > "a"', "unexpected character"),
    ],
)
def test_errors_name_the_problem(text: str, match: str) -> None:
    with pytest.raises(FilterError, match=match):
        parse_filter(text)
