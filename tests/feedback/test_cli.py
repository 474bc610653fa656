"""``ctscan-ops feedback ...`` through the real entry point, against the emulator."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq

from ctscan_ops.cli import main
from ctscan_ops.feedback import schema, source
from ctscan_ops.resources import make_storage_client

AS_OF = "2025-11-15T00:00:00Z"  # the world ends 2025-10-01: rows up to 2025-08-17 are past 90 d


def test_migrate_parity_stats_from_the_command_line(
    fs_client, gcs_emulator, project_id, world_db, monkeypatch, capsys, tmp_path
):
    db, summary = world_db
    monkeypatch.setenv("CTSCAN_MODE", "sandbox")
    monkeypatch.setenv("CTSCAN_PROJECT_ID", project_id)
    make_storage_client(project_id, gcs_emulator).create_bucket(f"{project_id}-ctscan-artifacts")
    assert main(["feedback", "migrate", "--db", str(db), "--as-of", AS_OF]) == 0
    report = json.loads(capsys.readouterr().out)  # one JSON document; progress is on stderr
    cutoff = datetime(2025, 11, 15, tzinfo=UTC) - timedelta(days=90)
    old = [
        o.source_id
        for o in map(schema.classify, source.iter_rows(db))
        if isinstance(o, schema.Normalised) and o.doc["timestamp"] <= cutoff
    ]
    assert report["archived"] == len(old) > 100
    assert report["migrated"] == summary["valid_expected"] - len(old)
    assert report["reasons"] == summary["injected"]
    assert report["archive"].endswith("/ctscan-ops/feedback/archive/sqlite/")
    assert main(["feedback", "parity", "--db", str(db)]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["ok"] is True and "parity OK" in captured.err
    assert doc["accounting"]["archived"] == len(old) and doc["accounting"]["unaccounted"] == 0
    # the archive from the command line
    assert main(["feedback", "archive", "list"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["rows"] == len(old) and len(listing["parts"]) == 2  # commits 1-499, 500-998
    assert main(["feedback", "archive", "show", str(old[5])]) == 0
    shown = json.loads(capsys.readouterr().out)["row"]
    assert shown["doc_id"] == schema.doc_id_for(old[5]) and shown["source_id"] == old[5]
    assert main(["feedback", "archive", "show", schema.doc_id_for(old[-1] + 1)]) == 2
    assert "not in the archive" in capsys.readouterr().err
    out = tmp_path / "export" / "archive.parquet"
    assert main(["feedback", "archive", "export", "--out", str(out)]) == 0
    exported = json.loads(capsys.readouterr().out)
    table = pq.read_table(out)
    assert exported["rows"] == table.num_rows == len(old)
    assert table.column("source_id").to_pylist() == old
    jl = tmp_path / "archive.jsonl"
    assert main(["feedback", "archive", "export", "--out", str(jl), "--format", "jsonl"]) == 0
    capsys.readouterr()
    assert [json.loads(line)["source_id"] for line in jl.read_text().splitlines()] == old
    victim = next(iter(fs_client.collection("feedback").limit(1).stream())).id
    fs_client.collection("feedback").document(victim).delete()
    # today every migrated document is past its expireAt: a missing one counts as TTL-expired
    assert main(["feedback", "parity", "--db", str(db)]) == 0
    assert json.loads(capsys.readouterr().out)["expired_by_ttl"] == 1
    # at a time before its expireAt, the same gap is a loss
    assert main(["feedback", "parity", "--db", str(db), "--as-of", AS_OF]) == 1
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["ok"] is False and f"feedback: 1 missing ({victim})" in doc["problems"]
    assert f"MISMATCH feedback: 1 missing ({victim})" in captured.err
    assert "parity FAILED" in captured.err
    assert main(["feedback", "stats", "--backend", "firestore"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["total_feedback"] == summary["valid_expected"] - len(old) - 1
    # a missing DB is bad input for every feedback command alike (exit 2, nothing on stdout)
    for command in ("migrate", "parity", "stats"):
        argv = ["feedback", command, "--db", str(db.parent / "missing.db")]
        if command == "stats":
            argv += ["--backend", "sqlite"]
        assert main(argv) == 2
        captured = capsys.readouterr()
        assert "missing.db: no such file" in captured.err and captured.out == ""
    assert not (db.parent / "missing.db").exists()
