"""``ctscan-ops feedback ...`` through the real entry point, against the emulator."""

from __future__ import annotations

import json

from ctscan_ops.cli import main


def test_migrate_parity_stats_from_the_command_line(
    fs_client, project_id, world_db, monkeypatch, capsys
):
    db, summary = world_db
    monkeypatch.setenv("CTSCAN_MODE", "sandbox")
    monkeypatch.setenv("CTSCAN_PROJECT_ID", project_id)
    assert main(["feedback", "migrate", "--db", str(db)]) == 0
    report = json.loads(capsys.readouterr().out)  # one JSON document; progress is on stderr
    assert report["migrated"] == summary["valid_expected"]
    assert report["reasons"] == summary["injected"]
    assert main(["feedback", "parity", "--db", str(db)]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["ok"] is True and "parity OK" in captured.err
    victim = next(iter(fs_client.collection("feedback").limit(1).stream())).id
    fs_client.collection("feedback").document(victim).delete()
    assert main(["feedback", "parity", "--db", str(db)]) == 1
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["ok"] is False and f"feedback: 1 missing ({victim})" in doc["problems"]
    assert f"MISMATCH feedback: 1 missing ({victim})" in captured.err
    assert "parity FAILED" in captured.err
    assert main(["feedback", "stats", "--backend", "firestore"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["total_feedback"] == summary["valid_expected"] - 1
    # a missing DB is bad input for every feedback command alike (exit 2, nothing on stdout)
    for command in ("migrate", "parity", "stats"):
        argv = ["feedback", command, "--db", str(db.parent / "missing.db")]
        if command == "stats":
            argv += ["--backend", "sqlite"]
        assert main(argv) == 2
        captured = capsys.readouterr()
        assert "missing.db: no such file" in captured.err and captured.out == ""
    assert not (db.parent / "missing.db").exists()
