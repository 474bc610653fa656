"""Each command-line validation rule on both sides of its boundary (issue 15, part 5).

The rule is tested twice: the argument type alone (every boundary value), and through the real
``ctscan-ops`` parser (the option is wired to that type), where an out-of-range value must end
in exit 2 before any handler runs.
"""

from __future__ import annotations

import argparse

import pytest

from ctscan_ops import cli_contract as cc
from ctscan_ops.cli import build_parser

# (type factory, accepted boundary values, refused values just past them)
RULES = {
    "alignment_period": (cc.alignment_period, ["60", "90000"], ["59", "90001", "0"]),
    "duration": (cc.duration, ["0", "60", "86400"], ["59", "-60", "86460", "61"]),
    "auto_close": (cc.auto_close, ["1800", "604800"], ["1799", "604801", "-5"]),
    "timestamp": (
        cc.timestamp,
        ["0", "4102444799", "2099-12-31T23:59:59Z", "1970-01-01T00:00:00Z", "2026-01-01"],
        ["-1", "4102444800", "2100-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "1e30", "nan"],
    ),
    "iso_date": (
        cc.iso_date,
        ["1970-01-01", "2099-12-31"],
        ["1969-12-31", "2100-01-01", "yesterday", "1e30"],
    ),
    "batch_size": (lambda: cc.bounded_int(1, 500), ["1", "500"], ["0", "501"]),
    "max_rows": (lambda: cc.bounded_int(1, None), ["1", "9" * 19], ["0", "-5", "9" * 20]),
    "generation": (lambda: cc.bounded_int(0, 2**63 - 1), ["0", str(2**63 - 1)], ["-1"]),
    "holdout": (
        lambda: cc.finite_float(0, 1, lo_open=True, hi_open=True),
        ["1e-9", "0.999999"],
        ["0", "1", "-0.1", "nan"],
    ),
    "fraction": (lambda: cc.finite_float(0, 1), ["0", "1"], ["-1e-9", "1.000001", "inf"]),
    "trigger_percent": (
        lambda: cc.finite_float(0, 100, lo_open=True),
        ["1e-9", "100"],
        ["0", "100.000001"],
    ),
    "threshold": (cc.finite_float, ["1.7976931348623157e308", "-5e-324"], ["1e309", "-inf"]),
    "durations": (cc.duration_list, ["0", "0,60,86400"], ["0,59", "86460", ",", "6e23"]),
    "world_days": (lambda: cc.bounded_int(1, 3660), ["1", "3660"], ["0", "3661"]),
    "seed": (lambda: cc.bounded_int(0, 2**32 - 1), ["0", str(2**32 - 1)], ["-1", str(2**32)]),
}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_rule_both_sides(rule: str) -> None:
    factory, accepted, refused = RULES[rule]
    parse = factory()
    for text in accepted:
        parse(text)  # must not raise
    for text in refused:
        with pytest.raises(argparse.ArgumentTypeError):
            parse(text)


def test_integer_text_is_digits_only() -> None:
    parse = cc.bounded_int(None, None)
    assert parse("60") == 60 and parse("-5") == -5 and parse("+7") == 7
    for text in ("6e23", "1.5", "60.0", "0x10", "", " ", "1_000", "9" * 20):
        with pytest.raises(argparse.ArgumentTypeError):
            parse(text)


BUCKETS_OK = [
    "abc",
    "a" * 63,
    "a-b_c.d",
    ".".join(["a" * 63] * 3) + "." + "a" * 30,  # 222 with dots
    "1bucket9",
]
BUCKETS_BAD = [
    "ab",
    "a" * 64,
    ".".join(["a" * 63] * 3) + "." + "a" * 31,  # 223
    "a." + "b" * 64,  # a dotted part over 63
    "BAD/../NAME",
    "Upper",
    "-abc",
    "abc-",
    "a..b",
    "192.168.0.1",
    "goog-bucket",
    "my-google-bucket",
    "",
]


@pytest.mark.parametrize("name", BUCKETS_OK)
def test_bucket_names_accepted(name: str) -> None:
    assert cc.check_bucket_name(name) == name


@pytest.mark.parametrize("name", BUCKETS_BAD)
def test_bucket_names_refused(name: str) -> None:
    with pytest.raises(ValueError, match=r"bucket name|empty"):
        cc.check_bucket_name(name)


def test_json_depth_limit_both_sides(tmp_path) -> None:
    at_limit = "[" * cc.MAX_JSON_DEPTH + "]" * cc.MAX_JSON_DEPTH
    assert cc.loads_json(at_limit, "x") is not None
    over = "[" * (cc.MAX_JSON_DEPTH + 1) + "]" * (cc.MAX_JSON_DEPTH + 1)
    with pytest.raises(cc.CliInputError, match="x: JSON nested more than"):
        cc.loads_json(over, "x")
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(cc.CliInputError, match=r"deep\.json: JSON nested"):
        cc.load_json_file(deep)


def test_readable_file_rules(tmp_path) -> None:
    f = tmp_path / "f.txt"
    f.write_text("x")
    assert cc.check_readable_file(str(f)) == f
    empty = tmp_path / "empty"
    empty.write_text("")
    assert cc.check_readable_file(str(empty), nonempty=False) == empty
    for path, match in [
        (empty, "is empty"),
        (tmp_path, "is a directory"),
        (tmp_path / "nope", "no such file"),
    ]:
        with pytest.raises(ValueError, match=match):
            cc.check_readable_file(str(path))


def test_sqlite_file_needs_the_header_and_creates_nothing(tmp_path) -> None:
    import sqlite3

    db = tmp_path / "ok.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (x)")
    assert cc.check_sqlite_file(str(db)) == db
    text = tmp_path / "text.db"
    text.write_text("SQLite format 2")
    with pytest.raises(ValueError, match="not an SQLite database"):
        cc.check_sqlite_file(str(text))
    with pytest.raises(ValueError, match="no such file"):
        cc.check_sqlite_file(str(tmp_path / "x" / "nope.db"))
    assert not (tmp_path / "x").exists()


def test_output_dir_rules(tmp_path) -> None:
    assert cc.check_output_dir(str(tmp_path)) == tmp_path
    assert cc.check_output_dir(str(tmp_path / "new" / "sub")) == tmp_path / "new" / "sub"
    assert not (tmp_path / "new").exists()  # validating creates nothing
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        cc.check_output_dir(str(f))
    with pytest.raises(ValueError, match="not a directory"):
        cc.check_output_dir(str(f / "sub"))


# --------------------------------------------------------------------------- wired in the parser


def _parses(argv: list[str]) -> bool:
    try:
        build_parser().parse_args(argv)
    except SystemExit as exc:
        assert exc.code == 2
        return False
    return True


@pytest.fixture()
def series(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("timestamp,value\n0,1\n")
    return str(p)


WIRED = [
    # (argv prefix, option, accepted, refused)
    (["alerts", "backtest", "--series", "{s}"], "--alignment-period", "90000", "90001"),
    (["alerts", "backtest", "--series", "{s}"], "--alignment-period", "60", "59"),
    (["alerts", "backtest", "--series", "{s}"], "--duration", "0", "59"),
    (["alerts", "backtest", "--series", "{s}"], "--duration", "86400", "86460"),
    (["alerts", "backtest", "--series", "{s}"], "--auto-close", "1800", "1799"),
    (["alerts", "backtest", "--series", "{s}"], "--threshold", "1e308", "1e309"),
    (["alerts", "backtest", "--series", "{s}"], "--from", "0", "-1"),
    (["alerts", "backtest", "--series", "{s}"], "--to", "4102444799", "4102444800"),
    (["alerts", "backtest", "--series", "{s}"], "--trigger-percent", "100", "100.5"),
    (["alerts", "backtest", "--series", "{s}"], "--trigger-count", "1", "0"),
    (["alerts", "tune", "--series", "{s}", "--labels", "{s}"], "--holdout", "0.5", "1"),
    (["alerts", "tune", "--series", "{s}", "--labels", "{s}"], "--target-fdr", "1", "1.01"),
    (["alerts", "tune", "--series", "{s}", "--labels", "{s}"], "--durations", "0,60", "0,59"),
    (["alerts", "tune", "--series", "{s}", "--labels", "{s}"], "--max-duration", "60", "59"),
    (
        ["alerts", "register", "add", "--end", "0", "--kind", "k", "--severity", "P1"],
        "--start",
        "0",
        "-1",
    ),
    (["feedback", "migrate"], "--batch-size", "500", "501"),
    (["feedback", "migrate"], "--batch-size", "1", "0"),
    (["feedback", "migrate"], "--max-rows", "1", "0"),
    (["registry", "promote", "v"], "--expected-generation", "0", "-1"),
    (["sandbox", "world"], "--days", "1", "0"),
    (["sandbox", "world"], "--days", "3660", "3661"),
    (["sandbox", "world"], "--end", "2099-12-31", "2100-01-01"),
    (["demo"], "--days", "1", "0"),
    (["demo"], "--seed", "0", "-1"),
]


@pytest.mark.parametrize(("prefix", "option", "good", "bad"), WIRED)
def test_option_wired_to_its_rule(prefix, option, good, bad, series, capsys) -> None:
    argv = [t.replace("{s}", series) for t in prefix]
    assert _parses([*argv, f"{option}={good}"]), capsys.readouterr().err
    assert not _parses([*argv, f"{option}={bad}"])
    err = capsys.readouterr().err
    assert option in err and len(err.strip().splitlines()) == 1


def test_registry_bucket_wired(capsys) -> None:
    assert _parses(["registry", "--bucket", "abc", "list"])
    assert not _parses(["registry", "--bucket", "ab", "list"])
    assert "--bucket" in capsys.readouterr().err
