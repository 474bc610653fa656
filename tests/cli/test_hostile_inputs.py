"""Every ``ctscan-ops`` subcommand against a catalog of hostile inputs (issue 15).

The contract (README, "Command-line tools"; ``ctscan_ops/cli_contract.py``): bad input exits 2,
stderr holds one line naming the input (and the fix), stdout holds nothing, no traceback. Each
case runs in process through ``ctscan_ops.cli.main(argv)``; a handful run as real subprocesses.
Every stderr this module captures is appended to a log under the pytest tmp dir, and a
module-scoped fixture asserts at teardown that ``Traceback`` never appears in it.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctscan_ops.cli import build_parser, main

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z (as in conftest.py)

STDERR_LOG: list[str] = []

BT = ["alerts", "backtest", "--series", "@series.csv", "--comparison", "GT"]
BT_T = [*BT, "--threshold", "10"]
TU = ["alerts", "tune", "--series", "@series.csv", "--labels", "@labels.json", "--comparison", "GT"]
RA = ["alerts", "register", "add", "--end", "2026-01-01T01:00:00", "--kind", "latency_regression"]
RA += ["--severity", "P1"]
INC = "0123456789abcdef"

# (id, argv, setup, substrings stderr must contain). "@name" is a file from the `files` fixture.
# setup: "clean" (no endpoints), "down" (endpoints on closed ports), "truncated" (a truncated
# .sandbox/state.json, no endpoints in the environment), or "env:VAR=value" (clean + VAR).
CASES: list[tuple[str, list[str], str, list[str]]] = [
    # ------------------------------------------------------------------ sandbox
    (
        "up-bogus-service",
        ["sandbox", "up", "--services", "bogus"],
        "clean",
        ["--services", "bogus"],
    ),
    ("up-empty-services", ["sandbox", "up", "--services", ","], "clean", ["--services"]),
    ("up-truncated-state", ["sandbox", "up"], "truncated", ["state.json", "corrupt"]),
    ("down-truncated-state", ["sandbox", "down"], "truncated", ["state.json", "corrupt"]),
    ("status-truncated-state", ["sandbox", "status"], "truncated", ["state.json"]),
    ("env-truncated-state", ["sandbox", "env"], "truncated", ["state.json"]),
    ("env-bad-format", ["sandbox", "env", "--format", "xml"], "clean", ["--format"]),
    ("world-negative-days", ["sandbox", "world", "--days", "-5"], "down", ["--days"]),
    ("world-zero-days", ["sandbox", "world", "--days", "0"], "down", ["--days"]),
    ("world-huge-days", ["sandbox", "world", "--days", "1e30"], "down", ["--days"]),
    ("world-end-yesterday", ["sandbox", "world", "--end", "yesterday"], "down", ["--end"]),
    ("world-end-1e30", ["sandbox", "world", "--end", "1e30"], "down", ["--end"]),
    ("world-end-2200", ["sandbox", "world", "--end", "2200-01-01"], "down", ["--end"]),
    ("world-seed-negative", ["sandbox", "world", "--seed", "-1"], "down", ["--seed"]),
    ("world-seed-nan", ["sandbox", "world", "--seed", "nan"], "down", ["--seed"]),
    ("world-sandbox-down", ["sandbox", "world", "--days", "2"], "down", ["sandbox is down"]),
    ("world-no-sandbox", ["sandbox", "world", "--days", "2"], "clean", ["sandbox is down"]),
    ("world-truncated-state", ["sandbox", "world"], "truncated", ["state.json"]),
    ("demo-negative-days", ["demo", "--days", "-1"], "clean", ["--days"]),
    ("demo-nan-seed", ["demo", "--seed", "nan"], "clean", ["--seed"]),
    ("demo-huge-days", ["demo", "--days", "99999999999999999999"], "clean", ["--days"]),
    # ------------------------------------------------------------------ alerts backtest
    ("bt-threshold-nan", [*BT, "--threshold", "nan"], "clean", ["--threshold"]),
    ("bt-threshold-inf", [*BT, "--threshold", "inf"], "clean", ["--threshold"]),
    ("bt-threshold-1e400", [*BT, "--threshold", "1e400"], "clean", ["--threshold"]),
    ("bt-threshold-word", [*BT, "--threshold", "high"], "clean", ["--threshold"]),
    ("bt-from-yesterday", [*BT_T, "--from", "yesterday"], "clean", ["--from", "yesterday"]),
    ("bt-from-1e30", [*BT_T, "--from", "1e30"], "clean", ["--from"]),
    ("bt-from-nan", [*BT_T, "--from", "nan"], "clean", ["--from"]),
    ("bt-from-negative", [*BT_T, "--from", "-1"], "clean", ["--from"]),
    ("bt-to-2100", [*BT_T, "--to", "2100-01-01T00:00:00Z"], "clean", ["--to"]),
    ("bt-series-deep", [*BT_T[:2], "--series", "@deep.json", *BT_T[4:]], "clean", ["deep.json"]),
    (
        "bt-series-deep-object",
        [*BT_T[:2], "--series", "@deep_obj.json", *BT_T[4:]],
        "clean",
        ["deep_obj.json"],
    ),
    ("bt-series-dir", [*BT_T[:2], "--series", "@a_directory", *BT_T[4:]], "clean", ["directory"]),
    ("bt-series-empty", [*BT_T[:2], "--series", "@empty.csv", *BT_T[4:]], "clean", ["empty.csv"]),
    ("bt-series-binary", [*BT_T[:2], "--series", "@binary.bin", *BT_T[4:]], "clean", ["binary"]),
    ("bt-series-missing", [*BT_T[:2], "--series", "@missing", *BT_T[4:]], "clean", ["--series"]),
    ("bt-labels-object", [*BT_T, "--labels", "@labels_object.json"], "clean", ["labels_object"]),
    ("bt-labels-1e300", [*BT_T, "--labels", "@labels_huge.json"], "clean", ["labels_huge", "[0]"]),
    ("bt-labels-types", [*BT_T, "--labels", "@labels_types.json"], "clean", ["labels_types"]),
    ("bt-labels-strings", [*BT_T, "--labels", "@labels_strings.json"], "clean", ["[0]"]),
    ("bt-labels-nan", [*BT_T, "--labels", "@labels_nan.json"], "clean", ["labels_nan"]),
    ("bt-labels-deep", [*BT_T, "--labels", "@deep.json"], "clean", ["deep.json"]),
    ("bt-labels-binary", [*BT_T, "--labels", "@binary.json"], "clean", ["binary.json"]),
    (
        "bt-alignment-huge",
        [*BT_T, "--alignment-period", "99999999999999999999"],
        "clean",
        ["--alignment-period"],
    ),
    ("bt-alignment-90001", [*BT_T, "--alignment-period", "90001"], "clean", ["--alignment-period"]),
    ("bt-alignment-59", [*BT_T, "--alignment-period", "59"], "clean", ["--alignment-period"]),
    ("bt-alignment-float", [*BT_T, "--alignment-period", "1e3"], "clean", ["--alignment-period"]),
    ("bt-duration-59", [*BT_T, "--duration", "59"], "clean", ["--duration"]),
    ("bt-duration-6e23", [*BT_T, "--duration", "6e23"], "clean", ["--duration"]),
    ("bt-duration-negative", [*BT_T, "--duration", "-60"], "clean", ["--duration"]),
    ("bt-duration-over-a-day", [*BT_T, "--duration", "86460"], "clean", ["--duration"]),
    ("bt-auto-close-negative", [*BT_T, "--auto-close", "-5"], "clean", ["--auto-close"]),
    ("bt-auto-close-1e30", [*BT_T, "--auto-close", "1e30"], "clean", ["--auto-close"]),
    ("bt-trigger-percent-0", [*BT_T, "--trigger-percent", "0"], "clean", ["--trigger-percent"]),
    ("bt-trigger-percent-nan", [*BT_T, "--trigger-percent", "nan"], "clean", ["--trigger-percent"]),
    ("bt-trigger-count-0", [*BT_T, "--trigger-count", "0"], "clean", ["--trigger-count"]),
    (
        "bt-policy-deep-yaml",
        ["alerts", "backtest", "--series", "@series.csv", "--policy", "@deep.yaml"],
        "clean",
        ["deep.yaml"],
    ),
    (
        "bt-policy-missing-file",
        ["alerts", "backtest", "--series", "@series.csv", "--policy", "nope.yaml#x"],
        "clean",
        ["nope.yaml"],
    ),
    (
        "bt-policy-unknown",
        ["alerts", "backtest", "--series", "@series.csv", "--policy", "no_such_policy"],
        "clean",
        ["no_such_policy"],
    ),
    ("bt-catalog-dir", [*BT_T, "--catalog", "@a_directory"], "clean", ["--catalog"]),
    ("bt-comparison-bogus", [*BT, "--comparison", "GE", "--threshold", "1"], "clean", ["GE"]),
    # ------------------------------------------------------------------ alerts tune
    ("tune-durations-6e23", [*TU, "--durations", "6e23"], "clean", ["--durations"]),
    ("tune-durations-59", [*TU, "--durations", "0,59"], "clean", ["--durations"]),
    ("tune-durations-empty", [*TU, "--durations", ","], "clean", ["--durations"]),
    ("tune-durations-words", [*TU, "--durations", "a,b"], "clean", ["--durations"]),
    ("tune-max-duration-6e23", [*TU, "--max-duration", "6e23"], "clean", ["--max-duration"]),
    ("tune-max-duration-0", [*TU, "--max-duration", "0"], "clean", ["--max-duration"]),
    ("tune-plots-on-file", [*TU, "--plots", "@text.txt"], "clean", ["--plots", "text.txt"]),
    ("tune-plots-under-file", [*TU, "--plots", "@text.txt/sub"], "clean", ["--plots"]),
    ("tune-holdout-1", [*TU, "--holdout", "1"], "clean", ["--holdout"]),
    ("tune-holdout-nan", [*TU, "--holdout", "nan"], "clean", ["--holdout"]),
    ("tune-target-fdr-2", [*TU, "--target-fdr", "2"], "clean", ["--target-fdr"]),
    ("tune-fpr-1.5", [*TU, "--max-fpr-per-tick", "1.5"], "clean", ["--max-fpr-per-tick"]),
    (
        "tune-max-alerts-negative",
        [*TU, "--max-alerts-per-day", "-1"],
        "clean",
        ["--max-alerts-per-day"],
    ),
    ("tune-max-alerts-inf", [*TU, "--max-alerts-per-day", "inf"], "clean", ["--max-alerts"]),
    (
        "tune-values-overflow",
        [*TU[:2], "--series", "@huge.csv", *TU[4:], "--aligner", "ALIGN_SUM"],
        "clean",
        ["huge.csv", "infinity"],
    ),
    ("tune-labels-missing", [*TU[:4], "--labels", "@missing", *TU[6:]], "clean", ["--labels"]),
    (
        "tune-labels-object",
        [*TU[:4], "--labels", "@labels_object.json", *TU[6:]],
        "clean",
        ["labels_object"],
    ),
    # ------------------------------------------------------------------ alerts propose
    ("propose-bad-env", ["alerts", "propose", "qa"], "clean", ["environment"]),
    (
        "propose-apply-missing",
        ["alerts", "propose", "dev", "--apply", "/no/such"],
        "clean",
        ["/no/such"],
    ),
    (
        "propose-bad-report-id",
        ["alerts", "propose", "dev", "--report-id", "../../x"],
        "clean",
        ["--report-id"],
    ),
    ("propose-sandbox-down", ["alerts", "propose", "dev"], "down", ["sandbox is down"]),
    # ------------------------------------------------------------------ alerts label / register
    ("label-bad-id", ["alerts", "label", "xyz", "--false-positive"], "clean", ["INCIDENT_ID"]),
    ("label-no-verdict", ["alerts", "label", INC], "clean", ["--false-positive"]),
    (
        "label-sandbox-down",
        ["alerts", "label", INC, "--true-positive"],
        "down",
        ["sandbox is down"],
    ),
    ("label-no-sandbox", ["alerts", "label", INC, "--true-positive"], "clean", ["sandbox is down"]),
    ("register-start-1e30", [*RA, "--start", "1e30"], "clean", ["--start"]),
    ("register-start-nan", [*RA, "--start", "nan"], "clean", ["--start"]),
    ("register-start-yesterday", [*RA, "--start", "yesterday"], "clean", ["--start"]),
    ("register-severity-bogus", [*RA[:-1], "P9", "--start", "1"], "clean", ["--severity"]),
    ("register-sandbox-down", [*RA, "--start", "2026-01-01"], "down", ["sandbox is down"]),
    (
        "register-unknown-environment",
        [*RA, "--start", "2026-01-01"],
        "env:CTSCAN_ENVIRONMENT=moon",
        ["CTSCAN_ENVIRONMENT"],
    ),
    ("register-list-down", ["alerts", "register", "list"], "down", ["sandbox is down"]),
    ("register-list-truncated", ["alerts", "register", "list"], "truncated", ["state.json"]),
    # ------------------------------------------------------------------ terraform
    ("tf-deep", ["terraform", "summarize", "@deep.json"], "clean", ["deep.json"]),
    ("tf-deep-object", ["terraform", "summarize", "@deep_obj.json"], "clean", ["deep_obj.json"]),
    (
        "tf-int-version",
        ["terraform", "summarize", "@tf_int_version.json"],
        "clean",
        ["tf_int_version.json", "terraform_version"],
    ),
    (
        "tf-float-version-plan",
        ["terraform", "summarize", "@tf_int_version_plan.json"],
        "clean",
        ["terraform_version"],
    ),
    ("tf-list", ["terraform", "summarize", "@tf_list.json"], "clean", ["tf_list.json"]),
    ("tf-nan", ["terraform", "summarize", "@tf_nan.json"], "clean", ["tf_nan.json", "NaN"]),
    ("tf-truncated", ["terraform", "summarize", "@tf_truncated.json"], "clean", ["tf_truncated"]),
    ("tf-binary", ["terraform", "summarize", "@binary.json"], "clean", ["binary.json"]),
    ("tf-empty", ["terraform", "summarize", "@empty.json"], "clean", ["empty.json"]),
    ("tf-dir", ["terraform", "summarize", "@a_directory"], "clean", ["a_directory"]),
    ("tf-missing", ["terraform", "summarize", "@missing"], "clean", ["does-not-exist"]),
    (
        "tf-state-missing",
        ["terraform", "summarize", "@tf_list.json", "--state", "@missing"],
        "clean",
        ["--state"],
    ),
    (
        "drift-state-missing",
        ["terraform", "policy-drift", "@missing", "-e", "prod"],
        "clean",
        ["STATE"],
    ),
    (
        "drift-overrides-missing",
        ["terraform", "policy-drift", "@tf_list.json", "-e", "prod", "--overrides", "@missing"],
        "clean",
        ["--overrides"],
    ),
    (
        "drift-catalog-dir",
        ["terraform", "policy-drift", "@tf_list.json", "-e", "prod", "--catalog", "@a_directory"],
        "clean",
        ["--catalog"],
    ),
    (
        "drift-env-bogus",
        ["terraform", "policy-drift", "@tf_list.json", "-e", "moon"],
        "clean",
        ["-e"],
    ),
    (
        "drift-int-version",
        ["terraform", "policy-drift", "@tf_int_version.json", "-e", "prod"],
        "clean",
        ["terraform_version"],
    ),
    (
        "drift-deep",
        ["terraform", "policy-drift", "@deep.json", "-e", "prod"],
        "clean",
        ["deep.json"],
    ),
    # ------------------------------------------------------------------ registry
    (
        "reg-bucket-traversal",
        ["registry", "--bucket", "BAD/../NAME", "list"],
        "clean",
        ["BAD/../NAME"],
    ),
    ("reg-bucket-short", ["registry", "--bucket", "ab", "list"], "clean", ["--bucket"]),
    ("reg-bucket-google", ["registry", "--bucket", "google-models", "list"], "clean", ["--bucket"]),
    ("reg-list-down", ["registry", "list"], "down", ["sandbox is down"]),
    ("reg-list-no-sandbox", ["registry", "list"], "clean", ["sandbox is down"]),
    ("reg-list-truncated", ["registry", "list"], "truncated", ["state.json"]),
    ("reg-mode-bogus", ["registry", "list"], "env:CTSCAN_MODE=cloud", ["CTSCAN_MODE"]),
    ("reg-show-down", ["registry", "show", "champion"], "down", ["sandbox is down"]),
    (
        "reg-promote-negative-generation",
        ["registry", "promote", "v1", "--expected-generation", "-1"],
        "clean",
        ["--expected-generation"],
    ),
    (
        "reg-promote-huge-generation",
        ["registry", "promote", "v1", "--expected-generation", "1e30"],
        "clean",
        ["--expected-generation"],
    ),
    ("reg-promote-down", ["registry", "promote", "v1"], "down", ["sandbox is down"]),
    ("reg-rollback-bogus-alias", ["registry", "rollback", "--alias", "king"], "clean", ["--alias"]),
    ("reg-rollback-down", ["registry", "rollback"], "down", ["sandbox is down"]),
    # ------------------------------------------------------------------ feedback
    (
        "fb-migrate-not-sqlite",
        ["feedback", "migrate", "--db", "@not_sqlite.db"],
        "down",
        ["not_sqlite.db"],
    ),
    (
        "fb-parity-not-sqlite",
        ["feedback", "parity", "--db", "@not_sqlite.db"],
        "down",
        ["not_sqlite.db"],
    ),
    (
        "fb-stats-not-sqlite",
        ["feedback", "stats", "--backend", "sqlite", "--db", "@not_sqlite.db"],
        "clean",
        ["not_sqlite.db"],
    ),
    (
        "fb-migrate-wrong-schema",
        ["feedback", "migrate", "--db", "@wrong_schema.db"],
        "down",
        ["wrong_schema.db", "feedback"],
    ),
    (
        "fb-parity-wrong-schema",
        ["feedback", "parity", "--db", "@wrong_schema.db"],
        "down",
        ["wrong_schema.db"],
    ),
    (
        "fb-stats-wrong-schema",
        ["feedback", "stats", "--backend", "sqlite", "--db", "@wrong_schema.db"],
        "clean",
        ["--db"],
    ),
    ("fb-migrate-dir", ["feedback", "migrate", "--db", "@a_directory"], "down", ["directory"]),
    ("fb-parity-empty", ["feedback", "parity", "--db", "@empty.json"], "down", ["empty"]),
    ("fb-migrate-missing", ["feedback", "migrate", "--db", "/x/nope.db"], "clean", ["nope.db"]),
    ("fb-parity-missing", ["feedback", "parity", "--db", "/x/nope.db"], "clean", ["nope.db"]),
    (
        "fb-stats-missing",
        ["feedback", "stats", "--backend", "sqlite", "--db", "/x/nope.db"],
        "clean",
        ["nope.db"],
    ),
    ("fb-batch-0", ["feedback", "migrate", "--batch-size", "0"], "clean", ["--batch-size"]),
    ("fb-batch-501", ["feedback", "migrate", "--batch-size", "501"], "clean", ["--batch-size"]),
    ("fb-batch-float", ["feedback", "migrate", "--batch-size", "1e3"], "clean", ["--batch-size"]),
    ("fb-max-rows-negative", ["feedback", "migrate", "--max-rows", "-5"], "clean", ["--max-rows"]),
    ("fb-max-rows-huge", ["feedback", "migrate", "--max-rows", "1e30"], "clean", ["--max-rows"]),
    (
        "fb-migrate-down",
        ["feedback", "migrate", "--db", "@feedback.db"],
        "down",
        ["sandbox is down"],
    ),
    (
        "fb-parity-down",
        ["feedback", "parity", "--db", "@feedback.db"],
        "down",
        ["sandbox is down"],
    ),
    ("fb-stats-down", ["feedback", "stats"], "down", ["sandbox is down"]),
    ("fb-stats-no-sandbox", ["feedback", "stats"], "clean", ["sandbox is down"]),
    ("fb-stats-truncated", ["feedback", "stats"], "truncated", ["state.json"]),
    (
        "fb-stats-default-db-missing",
        ["feedback", "stats", "--backend", "sqlite"],
        "clean",
        ["--db"],
    ),
    (
        "fb-unknown-environment",
        ["feedback", "stats"],
        "env:CTSCAN_ENVIRONMENT=moon",
        ["CTSCAN_ENVIRONMENT"],
    ),
    (
        "fb-migrate-as-of-word",
        ["feedback", "migrate", "--as-of", "yesterday"],
        "clean",
        ["--as-of"],
    ),
    (
        "fb-migrate-as-of-2200",
        ["feedback", "migrate", "--as-of", "2200-01-01"],
        "clean",
        ["--as-of"],
    ),
    ("fb-parity-as-of-nan", ["feedback", "parity", "--as-of", "nan"], "clean", ["--as-of"]),
    ("fb-archive-list-down", ["feedback", "archive", "list"], "down", ["sandbox is down"]),
    ("fb-archive-list-no-sandbox", ["feedback", "archive", "list"], "clean", ["sandbox is down"]),
    ("fb-archive-list-truncated", ["feedback", "archive", "list"], "truncated", ["state.json"]),
    (
        "fb-archive-list-bad-bucket",
        ["feedback", "archive", "list", "--bucket", "BAD/../NAME"],
        "clean",
        ["--bucket"],
    ),
    ("fb-archive-show-word", ["feedback", "archive", "show", "abc"], "clean", ["'abc'", "row id"]),
    ("fb-archive-show-zero", ["feedback", "archive", "show", "0"], "clean", ["'0'", "row id"]),
    ("fb-archive-show-1e30", ["feedback", "archive", "show", "1e30"], "clean", ["1e30"]),
    (
        "fb-archive-show-bad-label",
        ["feedback", "archive", "show", "sqlite-12x"],
        "clean",
        ["sqlite-12x"],
    ),
    ("fb-archive-show-down", ["feedback", "archive", "show", "42"], "down", ["sandbox is down"]),
    (
        "fb-archive-export-dir",
        ["feedback", "archive", "export", "--out", "@a_directory"],
        "clean",
        ["--out", "directory"],
    ),
    (
        "fb-archive-export-under-a-file",
        ["feedback", "archive", "export", "--out", "@feedback.db/x.parquet"],
        "clean",
        ["--out", "not a directory"],
    ),
    (
        "fb-archive-export-format",
        ["feedback", "archive", "export", "--out", "/tmp/x.parquet", "--format", "xml"],
        "clean",
        ["--format"],
    ),
    ("fb-archive-export-no-out", ["feedback", "archive", "export"], "clean", ["--out"]),
    (
        "fb-archive-export-down",
        ["feedback", "archive", "export", "--out", "@a_directory/a.parquet"],
        "down",
        ["sandbox is down"],
    ),
]


def _argv(argv: list[str], files: dict[str, str]) -> list[str]:
    out = []
    for token in argv:
        if token.startswith("@"):
            name, _, rest = token[1:].partition("/")
            token = files[name] + (f"/{rest}" if rest else "")
        out.append(token)
    return out


def _setup(kind: str, request: pytest.FixtureRequest, monkeypatch) -> dict[str, Path]:
    if kind == "down":
        return request.getfixturevalue("down_services")
    env = request.getfixturevalue("clean_env")
    if kind == "truncated":
        env["sandbox"].mkdir(parents=True, exist_ok=True)
        (env["sandbox"] / "state.json").write_text('{"services": {"gcs": {"endpoint": "http://12')
    elif kind.startswith("env:"):
        var, _, value = kind[4:].partition("=")
        monkeypatch.setenv(var, value)
    return env


def run_main(capsys, argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    STDERR_LOG.append(f"$ ctscan-ops {' '.join(argv)}\n{err}")
    return code, out, err


def assert_bad_input(code: int, out: str, err: str, needles: list[str]) -> None:
    assert "Traceback" not in err, err
    assert code == 2, (code, err)
    assert out == "", out
    assert err.strip() and len(err.strip().splitlines()) == 1, err  # one sentence
    for needle in needles:
        assert needle.lower() in err.lower(), (needle, err)


@pytest.mark.parametrize(
    ("argv", "setup", "needles"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_hostile_input_exits_2_naming_it(argv, setup, needles, files, request, monkeypatch, capsys):
    env = _setup(setup, request, monkeypatch)
    before = _tree(env["sandbox"].parent)
    code, out, err = run_main(capsys, _argv(argv, files))
    assert_bad_input(code, out, err, needles)
    # validate before acting: nothing was written (no world data, no state file, no database)
    assert _tree(env["sandbox"].parent) == before
    assert not Path("/x").exists()


def _tree(root: Path) -> dict[str, int]:
    return {
        str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*")) if p.is_file()
    }


def _leaf_commands(parser, prefix=()) -> set[tuple[str, ...]]:
    import argparse

    out: set[tuple[str, ...]] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out |= _leaf_commands(sub, (*prefix, name)) or {(*prefix, name)}
    return out


def _command_of(argv: list[str], leaves: set[tuple[str, ...]]) -> tuple[str, ...] | None:
    words = [t for t in argv if not t.startswith("-") and not t.startswith("@")]
    for n in range(len(words), 0, -1):
        for start in range(len(words) - n + 1):
            if start == 0 or argv[0] == "registry":  # registry --bucket X list
                cand = tuple(w for w in words if w in {x for leaf in leaves for x in leaf})[:n]
                if cand in leaves:
                    return cand
    return None


def test_catalog_covers_every_subcommand() -> None:
    leaves = _leaf_commands(build_parser())
    covered = {_command_of(argv, leaves) for _, argv, _, _ in CASES}
    missing = leaves - covered
    assert not missing, f"subcommands without a hostile-input case: {sorted(missing)}"
    # the list the issue names is all there
    for cmd in [
        ("sandbox", "up"),
        ("sandbox", "down"),
        ("sandbox", "status"),
        ("sandbox", "env"),
        ("sandbox", "world"),
        ("demo",),
        ("alerts", "backtest"),
        ("alerts", "tune"),
        ("alerts", "label"),
        ("alerts", "register", "add"),
        ("terraform", "summarize"),
        ("terraform", "policy-drift"),
        ("registry", "list"),
        ("registry", "show"),
        ("registry", "promote"),
        ("registry", "rollback"),
        ("feedback", "migrate"),
        ("feedback", "parity"),
        ("feedback", "stats"),
    ]:
        assert cmd in leaves, cmd


# --------------------------------------------------------------------------- with real servers


def test_registry_unknown_bucket_on_the_real_emulator(gcs_emulator, clean_env, monkeypatch, capsys):
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)
    code, out, err = run_main(capsys, ["registry", "--bucket", "no-such-bucket-4711", "list"])
    assert_bad_input(code, out, err, ["no-such-bucket-4711", "bucket"])


def _strict(name: str):
    raise AssertionError(f"{name} in the output: not strict JSON")


def test_backtest_overflowing_values_give_strict_json(files, capsys):
    """A sum of 1e308s is inf: the document still prints, with null for the non-finite values."""
    argv = ["alerts", "backtest", "--series", files["huge.csv"], "--aligner", "ALIGN_SUM"]
    code = main([*argv, "--comparison", "GT", "--threshold", "1", "--ticks"])
    out, err = capsys.readouterr()
    STDERR_LOG.append(err)
    assert code == 0, err
    doc = json.loads(out, parse_constant=_strict)
    assert any(v is None for t in doc["ticks"] for v in t["values"])


def test_gcp_mode_without_credentials(clean_env, monkeypatch, tmp_path, capsys):
    """Real google-auth lookup, no credentials anywhere: one sentence with the gcloud fix."""
    from .conftest import closed_port

    monkeypatch.setenv("CTSCAN_MODE", "gcp")
    monkeypatch.setenv("CTSCAN_PROJECT_ID", "some-project")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    monkeypatch.setenv("GCE_METADATA_HOST", f"127.0.0.1:{closed_port()}")
    monkeypatch.setenv("GCE_METADATA_IP", f"127.0.0.1:{closed_port()}")
    code, out, err = run_main(capsys, ["registry", "list"])
    assert_bad_input(code, out, err, ["no Google credentials", "application-default login"])
    assert "sandbox" not in err


def test_world_failure_midway_leaves_the_previous_world(clean_env, monkeypatch, tmp_path):
    """A part that raises after another part wrote files: the old world is back, byte for byte."""
    from ctscan_ops.config import get_settings
    from ctscan_ops.sandbox.world import generate_world, tree_digest

    settings = get_settings()
    end = __import__("datetime").datetime(2026, 1, 10, tzinfo=__import__("datetime").UTC)

    def writer(ctx):
        (ctx.data_dir / "part.txt").write_text(f"seed {ctx.seed}")
        return {"ok": True}

    def boom(ctx):
        (ctx.data_dir / "half.txt").write_text("half")
        raise RuntimeError("part failed midway")

    generate_world(
        settings,
        seed=1,
        end=end,
        days=2,
        parts=("a",),
        part_functions={"a": writer},
        progress=lambda _: None,
    )
    before = tree_digest(settings.data_dir)
    with pytest.raises(RuntimeError, match="midway"):
        generate_world(
            settings,
            seed=2,
            end=end,
            days=2,
            parts=("a", "b"),
            part_functions={"a": writer, "b": boom},
            progress=lambda _: None,
        )
    assert tree_digest(settings.data_dir) == before
    assert (settings.data_dir / "part.txt").read_text() == "seed 1"
    assert not (settings.data_dir / "half.txt").exists()
    assert not settings.data_dir.with_name(settings.data_dir.name + ".previous").exists()
    # and a successful run replaces it
    generate_world(
        settings,
        seed=3,
        end=end,
        days=2,
        parts=("a",),
        part_functions={"a": writer},
        progress=lambda _: None,
    )
    assert (settings.data_dir / "part.txt").read_text() == "seed 3"


def test_world_never_moves_the_sandbox_aside(tmp_path):
    """CTSCAN_DATA_DIR == CTSCAN_SANDBOX_DIR: no swap (state.json and emulator data stay)."""
    from datetime import UTC, datetime

    from ctscan_ops.config import get_settings
    from ctscan_ops.sandbox.world import generate_world

    root = tmp_path / "sb"
    root.mkdir()
    (root / "state.json").write_text('{"services": {}}')
    settings = get_settings({"CTSCAN_SANDBOX_DIR": str(root), "CTSCAN_DATA_DIR": str(root)})
    generate_world(
        settings,
        seed=1,
        end=datetime(2026, 1, 10, tzinfo=UTC),
        days=1,
        parts=("a",),
        part_functions={"a": lambda ctx: {}},
        progress=lambda _: None,
    )
    assert (root / "state.json").read_text() == '{"services": {}}'
    assert (root / "world.json").exists()


def test_demo_with_bad_days_starts_no_server(clean_env, monkeypatch, capsys):
    started = []
    monkeypatch.setattr("ctscan_ops.sandbox.services.up", lambda *a, **k: started.append(1))
    code, out, err = run_main(capsys, ["demo", "--days", "-1"])
    assert_bad_input(code, out, err, ["--days"])
    assert started == []
    from ctscan_ops.sandbox import demo

    with pytest.raises(ValueError, match="--days"):
        demo.run_demo(days=-1)  # the library refuses too (not only the CLI)
    assert started == []


def test_demo_failure_after_start_stops_what_it_started(clean_env, monkeypatch):
    from ctscan_ops.sandbox import demo

    calls: list[str] = []
    monkeypatch.setattr(demo, "_already_running", lambda: set())
    monkeypatch.setattr(  # each call starts what it is asked for (the world's, then the rest)
        "ctscan_ops.sandbox.services.up",
        lambda *a, services=(), **k: {
            "services": {n: {"endpoint": "http://127.0.0.1:1"} for n in services}
        },
    )
    monkeypatch.setattr("ctscan_ops.sandbox.services.down", lambda *a, **k: calls.append("down"))
    monkeypatch.setattr(
        "ctscan_ops.sandbox.services.stop", lambda names, **k: calls.append(("stop", *names))
    )
    monkeypatch.setattr(
        "ctscan_ops.sandbox.world.generate_world",
        lambda *a, **k: (_ for _ in ()).throw(RuntimeError("world failed")),
    )
    monkeypatch.setattr(demo, "prepare_dagster_home", lambda d: d)
    with pytest.raises(RuntimeError, match="world failed"):
        demo.run_demo(days=2, keep_running=True)
    # only what this demo started, the service started beside the world included
    assert calls == [("stop", "gcs", "monitoring", "firestore")]
    calls.clear()
    monkeypatch.setattr(  # the sandbox was up before
        demo, "_already_running", lambda: {"gcs", "monitoring", "firestore"}
    )
    with pytest.raises(RuntimeError, match="world failed"):
        demo.run_demo(days=2, keep_running=True)
    assert calls == []  # left as it was


# --------------------------------------------------------------------------- property-based


def _expected_timestamp_ok(text: str) -> bool:
    """Independent oracle for epoch-seconds text: finite and within [1970, 2100)."""
    try:
        value = float(text)
    except ValueError:
        return False
    return math.isfinite(value) and 0 <= value < 4_102_444_800


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.integers(min_value=-(10**25), max_value=10**25).map(str),
        st.sampled_from(["yesterday", "", " ", "1e30", "-0", "nan", "NaN", "+inf", "0x10"]),
    )
)
def test_timestamp_type_agrees_with_oracle(text: str) -> None:
    import argparse

    from ctscan_ops import cli_contract as cc

    parse = cc.timestamp()
    if _expected_timestamp_ok(text):
        assert parse(text) == text
    else:
        with pytest.raises(argparse.ArgumentTypeError):
            parse(text)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([1e308, -1e308, 1e-320, 0.0, -0.0]),
    )
)
def test_backtest_threshold_any_float(files, capsys, value: float) -> None:
    # --threshold=V: argparse would read "-1e+308" after a space as an option name
    code = main(_argv([*BT, f"--threshold={value!r}"], files))
    out, err = capsys.readouterr()
    STDERR_LOG.append(err)
    assert "Traceback" not in err
    if math.isfinite(value):
        assert code == 0, err
        doc = json.loads(out, parse_constant=_strict)  # complete, strict JSON
        assert doc["policy"]["conditions"][0]["threshold_value"] == value
    else:
        assert code == 2 and out == "" and "--threshold" in err


_ts = st.one_of(
    st.integers(min_value=T0 - 10**9, max_value=T0 + 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["2026-01-01T00:10:00Z", "yesterday", "", None, True, [1], {"a": 1}]),
)


def _window_ok(w: object) -> bool:
    """Oracle for one label window: an object whose start/end are numbers (not bools) or
    ISO strings within [1970, 2100), with end >= start."""
    if not isinstance(w, dict):
        return False
    vals = []
    for key in ("start", "end"):
        v = w.get(key)
        if isinstance(v, bool) or v is None:
            return False
        if isinstance(v, str):
            if v != "2026-01-01T00:10:00Z":
                return False
            v = T0 + 600
        if not isinstance(v, int | float) or not (0 <= v < 4_102_444_800):
            return False
        vals.append(v)
    return vals[1] >= vals[0]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.one_of(
        st.lists(
            st.one_of(
                st.fixed_dictionaries({"start": _ts, "end": _ts}),
                st.integers(),
                st.text(max_size=5),
            ),
            max_size=4,
        ),
        st.dictionaries(st.sampled_from(["start", "end", "x"]), _ts, max_size=3),
    )
)
def test_backtest_label_windows_any_json(files, tmp_path, capsys, windows) -> None:
    labels = tmp_path / "gen_labels.json"
    labels.write_text(json.dumps(windows))
    code = main(_argv([*BT_T, "--labels", str(labels)], files))
    out, err = capsys.readouterr()
    STDERR_LOG.append(err)
    assert "Traceback" not in err
    ok = isinstance(windows, list) and all(_window_ok(w) for w in windows)
    if ok:
        assert code == 0, err
        quality = json.loads(out, parse_constant=_strict)["quality"]  # complete, strict
        assert quality["labelled_incidents"] <= len(windows)
    else:
        assert code == 2 and out == "", (windows, err)
        assert "gen_labels.json" in err


# --------------------------------------------------------------------------- real processes


SUBPROCESS_CASES = [
    ([*BT, "--threshold", "nan"], "--threshold"),
    (["terraform", "summarize", "@deep.json"], "deep.json"),
    (["registry", "--bucket", "BAD/../NAME", "list"], "BAD/../NAME"),
    (["feedback", "stats"], "CTSCAN_ENVIRONMENT"),
    (["sandbox", "world", "--days", "-5"], "--days"),
]


@pytest.mark.parametrize(("argv", "needle"), SUBPROCESS_CASES, ids=[c[1] for c in SUBPROCESS_CASES])
def test_contract_end_to_end_in_a_real_process(argv, needle, files, tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("STORAGE_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST", "CTSCAN_DEBUG")
    }
    env.update(
        CTSCAN_SANDBOX_DIR=str(tmp_path / "sb"),
        CTSCAN_DATA_DIR=str(tmp_path / "data"),
        CTSCAN_ENVIRONMENT="moon" if needle == "CTSCAN_ENVIRONMENT" else "prod",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "ctscan_ops.cli", *_argv(argv, files)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    STDERR_LOG.append(proc.stderr)
    assert_bad_input(proc.returncode, proc.stdout, proc.stderr, [needle])
    assert not (tmp_path / "data").exists() and not (tmp_path / "sb").exists()


def test_console_script_follows_the_contract(files, tmp_path):
    """The installed ``ctscan-ops`` entry point (next to this interpreter), if there is one."""
    script = Path(sys.executable).parent / "ctscan-ops"
    if not script.exists():
        pytest.skip("no ctscan-ops console script installed next to this interpreter")
    env = {**os.environ, "CTSCAN_SANDBOX_DIR": str(tmp_path / "sb")}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH", "")]
    )
    argv = ["alerts", "register", "add", "--start", "1e30", "--end", "0", "--kind", "k"]
    proc = subprocess.run(
        [str(script), *argv, "--severity", "P1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    STDERR_LOG.append(proc.stderr)
    assert_bad_input(proc.returncode, proc.stdout, proc.stderr, ["--start"])


def test_unexpected_error_is_exit_1_without_traceback_unless_debug(monkeypatch, capsys):
    import ctscan_ops.cli as cli

    def broken(args):
        raise KeyError("bug")

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    parser.set_defaults(func=broken)
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    sub.choices["demo"].set_defaults(func=broken)
    code, out, err = run_main(capsys, ["demo"])
    assert code == 1 and out == "" and "Traceback" not in err
    assert "internal error: KeyError" in err and "CTSCAN_DEBUG=1" in err
    monkeypatch.setenv("CTSCAN_DEBUG", "1")
    code = main(["demo"])
    out, err = capsys.readouterr()  # not logged: the traceback is what was asked for
    assert code == 1 and out == "" and "Traceback" in err


# --------------------------------------------------------------------------- the captured log


@pytest.fixture(scope="module", autouse=True)
def captured_stderr_has_no_traceback(tmp_path_factory):
    """After the module (in any test order): all captured stderr, in one file, no traceback."""
    yield
    path = tmp_path_factory.mktemp("hostile") / "stderr.log"
    path.write_text("\n".join(STDERR_LOG))
    text = path.read_text()
    assert "Traceback" not in text, f"a traceback in {path}"


def test_services_stop_stops_only_the_named_ones(clean_env) -> None:
    """Real processes: two services up, stop one; the other keeps running and stays recorded."""
    from ctscan_ops.sandbox import services
    from ctscan_ops.sandbox.processes import group_alive

    root = clean_env["sandbox"]
    state = services.up(root, services=["monitoring", "gcs"], in_memory=True, log=lambda _: None)
    try:
        mon, gcs = state["services"]["monitoring"], state["services"]["gcs"]
        assert services.stop(["monitoring"], root, log=lambda _: None) == []
        assert not group_alive(mon["pgid"]) and group_alive(gcs["pgid"])
        assert set(services.read_state(root)["services"]) == {"gcs"}
    finally:
        services.down(root, log=lambda _: None)
    assert not group_alive(gcs["pgid"])
