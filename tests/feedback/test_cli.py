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
    text = capsys.readouterr().out
    report = json.loads(text[text.index("{\n") :])
    assert report["migrated"] == summary["valid_expected"]
    assert report["reasons"] == summary["injected"]
    assert main(["feedback", "parity", "--db", str(db)]) == 0
    assert "parity OK" in capsys.readouterr().out
    victim = next(iter(fs_client.collection("feedback").limit(1).stream())).id
    fs_client.collection("feedback").document(victim).delete()
    assert main(["feedback", "parity", "--db", str(db)]) == 1
    text = capsys.readouterr().out
    assert f"MISMATCH feedback: 1 missing ({victim})" in text and "parity FAILED" in text
    assert main(["feedback", "stats", "--backend", "firestore"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["total_feedback"] == summary["valid_expected"] - 1
    assert main(["feedback", "migrate", "--db", str(db.parent / "missing.db")]) == 1
    assert "not found" in capsys.readouterr().err
