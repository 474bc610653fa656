"""Registry store against a real fake-gcs-server: addressing, CAS aliases, history, safety."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import torch

from ctscan_ops.registry import store as st
from ctscan_ops.registry.store import (
    ChecksumMismatchError,
    PreconditionLostError,
    RegistryError,
    RegistryStore,
    UnknownVersionError,
    UnsafeCheckpointError,
)

T0 = datetime(2026, 11, 26, 9, 30, 0, tzinfo=UTC)


def _state(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"w": torch.randn(4, 3, generator=g), "b": torch.zeros(4)}


def _register(store: RegistryStore, seed: int, at: datetime = T0) -> st.VersionRecord:
    return store.register(
        _state(seed), architecture="linear_probe", parameters={}, created_at=at, source="test"
    )


def _blob_names(store: RegistryStore, part: str) -> list[str]:
    return [
        b.name for b in store.client.list_blobs(store.bucket_name, prefix=f"{store.root}/{part}")
    ]


def test_content_addressing_and_dedupe(store: RegistryStore) -> None:
    a = state = _state(1)
    data = st.state_dict_to_bytes(state)
    assert data == st.state_dict_to_bytes(_state(1))  # torch.save is deterministic
    rec = store.register(a, architecture="linear_probe", created_at=T0)
    assert rec.sha256 == __import__("hashlib").sha256(data).hexdigest()
    assert rec.size == len(data)
    assert rec.version == f"20261126T093000-{rec.sha256[:8]}"
    again = store.register(data, architecture="other", created_at=T0 + timedelta(hours=1))
    assert again == rec  # same bytes -> same version, first registration wins
    assert _blob_names(store, "checkpoints/") == [rec.checkpoint_key]
    assert _blob_names(store, "versions/") == [store.version_key(rec.version)]
    other = _register(store, 2, T0 + timedelta(minutes=1))
    assert other.sha256 != rec.sha256
    assert len(_blob_names(store, "checkpoints/")) == 2
    assert store.find_by_sha(rec.sha256) == rec
    assert store.find_by_sha("0" * 64) is None


def test_concurrent_registration_of_same_bytes_stores_once(
    gcs_client, gcs_url, bucket_name
) -> None:
    from ctscan_ops.resources.storage import make_storage_client

    data = st.state_dict_to_bytes(_state(7))
    results: list[st.VersionRecord] = []
    barrier = threading.Barrier(6)

    def go(i: int) -> None:
        s = RegistryStore(make_storage_client("p", gcs_url), bucket_name)
        barrier.wait()
        results.append(
            s.register(data, architecture="linear_probe", created_at=T0 + timedelta(seconds=i))
        )

    threads = [threading.Thread(target=go, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 6 and len({r.version for r in results}) == 1
    s = RegistryStore(gcs_client, bucket_name)
    assert s.list_version_ids() == [results[0].version]
    assert len(_blob_names(s, "checkpoints/")) == 1


def test_version_ids_sort_by_time(store: RegistryStore) -> None:
    times = [T0 + timedelta(days=d, seconds=s) for d, s in [(3, 0), (0, 5), (1, 0), (0, 0)]]
    recs = [_register(store, i, t) for i, t in enumerate(times)]
    by_time = [r.version for r in sorted(recs, key=lambda r: r.created_at)]
    assert store.list_version_ids() == by_time
    with pytest.raises(ValueError, match="timezone-aware"):
        st.make_version_id(datetime(2026, 1, 1), "a" * 64)


def test_unknown_version_errors_name_the_version(store: RegistryStore) -> None:
    with pytest.raises(UnknownVersionError, match="'20990101T000000-deadbeef'"):
        store.get_version("20990101T000000-deadbeef")
    with pytest.raises(UnknownVersionError, match="version ids look like"):
        store.get_version("../etc/passwd")
    with pytest.raises(UnknownVersionError, match="alias 'champion' is not set"):
        store.resolve("champion")
    with pytest.raises(UnknownVersionError):
        store.promote("20990101T000000-deadbeef")
    with pytest.raises(UnknownVersionError, match="nothing to serve"):
        store.serving_checkpoint_uri()
    with pytest.raises(ValueError, match="unknown alias"):
        store.get_alias("production")


def test_load_roundtrip_and_serving_uri(store: RegistryStore) -> None:
    rec = _register(store, 3)
    store.promote(rec.version, evidence={"macro_f1": 0.9})
    got_rec, state = store.load_state_dict("champion")
    assert got_rec == rec
    assert torch.equal(state["w"], _state(3)["w"])
    uri = store.serving_checkpoint_uri()
    assert uri == f"gs://{store.bucket_name}/{rec.checkpoint_key}"
    assert rec.sha256 in uri


def test_tampered_checkpoint_is_refused(store: RegistryStore) -> None:
    rec = _register(store, 4)
    blob = store.bucket.blob(rec.checkpoint_key)
    data = bytearray(blob.download_as_bytes())
    data[len(data) // 2] ^= 0x01  # same size, one bit flipped
    blob.upload_from_string(bytes(data))
    with pytest.raises(ChecksumMismatchError, match=rf"expected sha256 {rec.sha256}"):
        store.load_state_dict(rec.version)
    blob.upload_from_string(bytes(data) + b"x")  # size differs too
    with pytest.raises(ChecksumMismatchError, match=rec.version):
        store.read_checkpoint_bytes(rec.version)


class _Evil:
    """Pickles to a call of os.system: what a malicious checkpoint would carry."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_refused_without_running(store: RegistryStore, marker_path: Path) -> None:
    buf = io.BytesIO()
    torch.save({"w": torch.zeros(2), "payload": _Evil(marker_path)}, buf)
    data = buf.getvalue()
    rec = store.register(data, architecture="linear_probe", created_at=T0)  # never unpickles
    with pytest.raises(
        UnsafeCheckpointError, match=rf"refusing checkpoint .*{rec.version}.*GLOBAL posix.system"
    ):
        store.load_state_dict(rec.version)
    assert not marker_path.exists(), "the payload ran during a refused load"

    # Control: the payload is live. Unsafe loading (weights_only=False) in a child process runs it.
    ckpt = marker_path.with_name("evil.pt")
    ckpt.write_bytes(data)
    code = f"import torch; torch.load({str(ckpt)!r}, weights_only=False)"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=120)
    assert marker_path.exists(), "control failed: payload did not run under weights_only=False"


def test_not_a_torch_file_is_refused(store: RegistryStore) -> None:
    rec = store.register(b"definitely not a zip", architecture="linear_probe", created_at=T0)
    with pytest.raises(UnsafeCheckpointError, match="not a readable torch file"):
        store.load_state_dict(rec.version)


def test_alias_cas_and_lost_precondition(store: RegistryStore) -> None:
    v1, v2, v3 = (_register(store, i, T0 + timedelta(minutes=i)) for i in range(3))
    first = store.set_alias("champion", v1.version, expected_generation=None, reason="first")
    assert first.seq == 1 and first.previous_version is None and first.generation
    with pytest.raises(PreconditionLostError, match="now at version"):
        store.set_alias("champion", v2.version, expected_generation=None, reason="x")
    second = store.set_alias(
        "champion", v2.version, expected_generation=first.generation, reason="better"
    )
    with pytest.raises(PreconditionLostError, match=rf"{v2.version} \(seq 2\)"):
        store.set_alias(
            "champion", v3.version, expected_generation=first.generation, reason="stale"
        )
    assert store.get_alias("champion").version == v2.version
    assert second.previous_version == v1.version
    # challenger is independent of champion
    store.promote(v3.version, alias="challenger")
    assert store.resolve("challenger") == v3
    assert store.resolve("champion") == v2


def test_concurrent_promotions_exactly_one_wins_threads(gcs_client, bucket_name) -> None:
    base = RegistryStore(gcs_client, bucket_name)
    versions = [_register(base, i, T0 + timedelta(minutes=i)).version for i in range(9)]
    for round_ in range(3):
        gen = base.get_alias("champion")
        gen = None if gen is None else gen.generation
        barrier = threading.Barrier(8)
        outcome: dict[str, list] = {"won": [], "lost": []}

        def go(v: str, gen=gen, barrier=barrier, outcome=outcome) -> None:
            s = RegistryStore(gcs_client, bucket_name)
            barrier.wait()
            try:
                outcome["won"].append(
                    s.set_alias("champion", v, expected_generation=gen, reason="race")
                )
            except PreconditionLostError:
                outcome["lost"].append(v)

        threads = [threading.Thread(target=go, args=(v,)) for v in versions[1:]]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(outcome["won"]) == 1, f"round {round_}: {len(outcome['won'])} winners"
        assert len(outcome["lost"]) == 7
        assert base.get_alias("champion").version == outcome["won"][0].version
        assert base.get_alias("champion").seq == round_ + 1
    hist = base.alias_history("champion")
    assert [h.seq for h in hist] == [1, 2, 3]


_RACER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage
    from ctscan_ops.registry.store import RegistryStore, PreconditionLostError
    url, bucket, version, gen, go, ready = sys.argv[1:7]
    client = storage.Client("p", AnonymousCredentials(), client_options={"api_endpoint": url})
    s = RegistryStore(client, bucket)
    s.get_alias("champion")  # warm the connection before the start line
    Path(ready).touch()
    while not Path(go).exists():
        time.sleep(0.005)
    try:
        s.set_alias("champion", version, expected_generation=int(gen), reason="race")
        print("WON")
    except PreconditionLostError as exc:
        print("LOST", exc)
    """
)


def test_concurrent_promotions_exactly_one_wins_processes(
    store: RegistryStore, gcs_url, tmp_path
) -> None:
    versions = [_register(store, i, T0 + timedelta(minutes=i)).version for i in range(5)]
    gen = store.promote(versions[0]).generation
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _RACER,
                gcs_url,
                store.bucket_name,
                v,
                str(gen),
                str(go),
                str(tmp_path / f"ready-{i}"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, v in enumerate(versions[1:])
    ]
    while len(list(tmp_path.glob("ready-*"))) < len(procs):  # all racers at the start line
        assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
        time.sleep(0.01)
    go.touch()
    outs = [p.communicate(timeout=120) for p in procs]
    lines = [o.strip().splitlines()[-1] if o.strip() else f"ERR {e}" for o, e in outs]
    assert sum(line == "WON" for line in lines) == 1, lines
    assert sum(line.startswith("LOST precondition lost") for line in lines) == 3, lines
    assert store.get_alias("champion").seq == 2


def test_alias_history_append_only_and_repaired(store: RegistryStore) -> None:
    vs = [_register(store, i, T0 + timedelta(minutes=i)).version for i in range(3)]
    for v in vs:
        store.promote(v, evidence={"checksum": v[-8:]})
    hist = store.alias_history("champion")
    assert [(h.seq, h.version, h.previous_version) for h in hist] == [
        (1, vs[0], None),
        (2, vs[1], vs[0]),
        (3, vs[2], vs[1]),
    ]
    assert hist[2].evidence == {"checksum": vs[2][-8:]}
    # history objects are created once and never overwritten
    assert store._create_json(store.history_key("champion", 2), {"forged": True}) is False
    raw = json.loads(store.bucket.blob(store.history_key("champion", 2)).download_as_bytes())
    assert raw["version"] == vs[1]
    # a writer that died after the CAS but before the history write: entry is re-created
    store.bucket.blob(store.history_key("champion", 3)).delete()
    assert [h.seq for h in store.alias_history("champion")] == [1, 2, 3]
    assert store.alias_history("challenger") == []


def test_rollback_one_step(store: RegistryStore) -> None:
    v1, v2 = (_register(store, i, T0 + timedelta(minutes=i)) for i in range(2))
    store.promote(v1.version)
    with pytest.raises(RegistryError, match="no previous version"):
        store.rollback()
    store.promote(v2.version)
    assert store.serving_checkpoint_uri().endswith(f"{v2.sha256}.pt")
    back = store.rollback(actor="oncall")
    assert back.version == v1.version and back.reason == "rollback" and back.actor == "oncall"
    assert back.evidence["rolled_back_from"] == v2.version
    assert store.serving_checkpoint_uri().endswith(f"{v1.sha256}.pt")
    assert [h.version for h in store.alias_history("champion")] == [
        v1.version,
        v2.version,
        v1.version,
    ]
    with pytest.raises(UnknownVersionError, match="nothing to roll back"):
        store.rollback(alias="challenger")
