"""The incident register: validation, JSON, generation-guarded concurrent updates on the GCS
emulator, and the ``alerts label`` / ``alerts register`` commands."""

from __future__ import annotations

import argparse
import json
import threading

import pytest
from google.api_core import exceptions as gexc

from ctscan_ops.alerting.label_cli import add_label_parser
from ctscan_ops.alerting.shadow.incidents import (
    IncidentRegister,
    KnownIncident,
    RegisterError,
    RegisterStore,
    Verdict,
    format_time,
    parse_time,
)


def _window(**kw) -> KnownIncident:
    base = {
        "id": "w1",
        "environment": "prod",
        "severity": "P1",
        "start": 1_000_000.0,
        "end": 1_003_600.0,
        "source": "postmortem",
        "policy": "high_latency",
    }
    base.update(kw)
    return KnownIncident(**base)


def test_times_parse_iso_naive_utc_and_epoch():
    assert parse_time("2026-11-20T14:05:00Z", "t") == parse_time("2026-11-20 14:05:00", "t")
    assert parse_time("1700000000", "t") == 1_700_000_000.0
    assert format_time(parse_time("2026-11-20T14:05:00+01:00", "t")) == "2026-11-20T13:05:00Z"
    with pytest.raises(RegisterError, match=r"--start: 'yesterday' is not ISO 8601"):
        parse_time("yesterday", "--start")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"severity": "P3"}, r"window 'w1'.severity: 'P3' is not one of P0, P1, P2"),
        ({"source": "rumour"}, r"window 'w1'.source: 'rumour'"),
        ({"environment": "qa"}, r"window 'w1'.environment"),
        ({"end": 999_000.0}, r"window 'w1': end .* is not after start"),
        ({"policy": None}, r"needs a policy or an incident kind"),
        ({"policy": None, "kind": "gremlins"}, r"unknown incident kind 'gremlins'"),
    ],
)
def test_window_validation_names_the_field(change, message):
    with pytest.raises(RegisterError, match=message):
        _window(**change)


def test_json_round_trip_and_document_errors():
    reg = IncidentRegister(
        windows=(_window(), _window(id="w2", policy=None, kind="outage_5xx", severity="P0")),
    ).with_verdict(Verdict("0123456789abcdef", "false_positive", "ana", 1_000_100.0, "deploy"))
    doc = json.loads(json.dumps(reg.to_json()))
    again = IncidentRegister.from_json(doc)
    assert again.windows == tuple(sorted(reg.windows, key=lambda w: (w.start, w.id)))
    assert again.verdicts == reg.verdicts
    assert again.verdict_map() == {"0123456789abcdef": False}
    # a kind stands for every policy that targets it
    assert again.windows_for("api_downtime") == [(1_000_000.0, 1_003_600.0)]
    assert again.windows_for("high_latency", "prod") == [(1_000_000.0, 1_003_600.0)]
    assert again.windows_for("high_latency", "staging") == []
    bad = json.loads(json.dumps(doc))
    bad["windows"][1]["start"] = "not a time"
    with pytest.raises(RegisterError, match=r"windows\[1\].start: 'not a time'"):
        IncidentRegister.from_json(bad)
    bad = json.loads(json.dumps(doc))
    bad["windows"][1]["id"] = bad["windows"][0]["id"]
    with pytest.raises(RegisterError, match=r"windows\[1\].id: duplicate id"):
        IncidentRegister.from_json(bad)
    bad = json.loads(json.dumps(doc))
    bad["verdicts"]["0123456789abcdef"]["verdict"] = "maybe"
    with pytest.raises(
        RegisterError, match=r"verdicts\['0123456789abcdef'\].*verdict: 'maybe' is not one"
    ):
        IncidentRegister.from_json(bad)


def test_stale_generation_is_rejected_by_the_emulator(artifact_store):
    """The mechanism the register relies on, checked on the real emulator."""
    store = RegisterStore(artifact_store)
    store.add_window(_window())
    _reg, generation = store.load_with_generation()
    store.add_window(_window(id="w2"))  # someone else writes
    bucket, name = store._blob_name()
    blob = artifact_store.client().bucket(bucket).blob(name)
    with pytest.raises(gexc.PreconditionFailed):
        blob.upload_from_string(b"{}", if_generation_match=generation)
    assert {w.id for w in store.load().windows} == {"w1", "w2"}


def test_update_reapplies_a_change_after_a_concurrent_write(artifact_store):
    store = RegisterStore(artifact_store)
    other = RegisterStore(artifact_store)
    calls = []

    def change(reg):
        calls.append(len(reg.verdicts))
        if len(calls) == 1:  # another operator writes between our read and our write
            other.set_verdict(Verdict("aaaaaaaaaaaaaaaa", "true_positive", "bo", 1.0))
        return reg.with_verdict(Verdict("bbbbbbbbbbbbbbbb", "false_positive", "ana", 2.0))

    final = store.update(change)
    assert calls == [0, 1]  # retried on the fresh document
    assert set(final.verdicts) == {"aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"}
    assert set(store.load().verdicts) == {"aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"}


def test_parallel_operators_lose_nothing(artifact_store):
    ids = [f"{i:016x}" for i in range(8)]
    errors = []

    def label(incident_id):
        try:
            RegisterStore(artifact_store).set_verdict(
                Verdict(incident_id, "false_positive", "oncall", 5.0, "noise")
            )
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=label, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert set(RegisterStore(artifact_store).load().verdicts) == set(ids)


def test_corrupt_register_is_reported_not_overwritten(artifact_store):
    artifact_store.put_bytes("alerting/incident_register.json", b"{not json", "application/json")
    with pytest.raises(RegisterError, match="not JSON"):
        RegisterStore(artifact_store).add_window(_window())
    assert artifact_store.get_bytes("alerting/incident_register.json") == b"{not json"
    # regenerating the world replaces a damaged register instead of failing on it
    RegisterStore(artifact_store).replace_all(IncidentRegister(windows=(_window(),)))
    assert [w.id for w in RegisterStore(artifact_store).load().windows] == ["w1"]


# ----------------------------------------------------------------------------- CLI


def _run(argv, artifact_store, capsys):
    parser = argparse.ArgumentParser(prog="ctscan-ops")
    sub = parser.add_subparsers(dest="command", required=True)
    alerts = sub.add_parser("alerts")
    add_label_parser(alerts.add_subparsers(dest="alerts_command", required=True))
    try:  # argument types refuse bad values at parse time (exit 2, as the contract says)
        args = parser.parse_args(["alerts", *argv])
    except SystemExit as exc:
        out = capsys.readouterr()
        return exc.code, out.out, out.err
    args.register_store_factory = lambda: RegisterStore(artifact_store)
    code = args.func(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_label_cli_records_a_verdict(artifact_store, capsys):
    code, out, _ = _run(
        ["label", "0123456789ABCDEF", "--false-positive", "--note", "deploy blip", "--who", "ana"],
        artifact_store,
        capsys,
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["incident_id"] == "0123456789abcdef" and doc["verdict"] == "false_positive"
    v = RegisterStore(artifact_store).load().verdict("0123456789abcdef")
    assert (v.verdict, v.note, v.who) == ("false_positive", "deploy blip", "ana")
    code, out, _ = _run(["label", "0123456789abcdef", "--true-positive"], artifact_store, capsys)
    assert code == 0
    assert RegisterStore(artifact_store).load().verdict("0123456789abcdef").is_true_positive


def test_label_cli_bad_input_exits_2(artifact_store, capsys):
    code, out, err = _run(["label", "not-an-id", "--true-positive"], artifact_store, capsys)
    assert code == 2 and out == "" and "16 hex digits" in err
    # neither verdict flag: an argparse usage error, exit 2 before anything is read or written
    code, out, err = _run(["label", "0123456789abcdef"], artifact_store, capsys)
    assert code == 2 and out == "" and "--false-positive" in err


def test_register_add_and_list(artifact_store, capsys):
    code, out, _ = _run(
        [
            "register",
            "add",
            "--start",
            "2026-11-20T10:00:00Z",
            "--end",
            "2026-11-20 10:45",
            "--policy",
            "high_latency",
            "--severity",
            "P1",
            "--environment",
            "prod",
            "--source",
            "postmortem",
            "--note",
            "PM-12",
        ],
        artifact_store,
        capsys,
    )
    assert code == 0
    added = json.loads(out)
    assert added["start"] == "2026-11-20T10:00:00Z" and added["end"] == "2026-11-20T10:45:00Z"
    code, out, _ = _run(
        [
            "register",
            "add",
            "--start",
            "1700000000",
            "--end",
            "1700000600",
            "--kind",
            "crash_loop",
            "--severity",
            "P0",
            "--environment",
            "staging",
        ],
        artifact_store,
        capsys,
    )
    assert code == 0
    code, out, _ = _run(["register", "list", "--policy", "high_latency"], artifact_store, capsys)
    listed = json.loads(out)
    assert [w["id"] for w in listed["windows"]] == [added["id"]]
    code, out, _ = _run(["register", "list", "--environment", "staging"], artifact_store, capsys)
    assert [w["kind"] for w in json.loads(out)["windows"]] == ["crash_loop"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--start", "2026-11-20T11:00", "--end", "2026-11-20T10:00", "--policy", "high_cpu"],
            "is not after start",
        ),
        (
            ["--start", "soon", "--end", "2026-11-20T10:00", "--policy", "high_cpu"],
            "--start: 'soon'",
        ),
        (
            ["--start", "2026-11-20T10:00", "--end", "2026-11-20T11:00", "--policy", "nope"],
            "unknown policy 'nope'",
        ),
    ],
)
def test_register_add_bad_input_exits_2(argv, message, artifact_store, capsys):
    code, out, err = _run(
        ["register", "add", *argv, "--severity", "P2", "--environment", "prod"],
        artifact_store,
        capsys,
    )
    assert code == 2 and out == "" and message in err
    assert RegisterStore(artifact_store).load().windows == ()
