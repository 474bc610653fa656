"""Concurrent gated promotions against fake-gcs-server: losers are told the alias moved.

Reference: the race is forced (every promoter has read the champion and been judged before any
of them writes: a barrier inside the judge), so exactly one CAS can win; each loser must get a
PreconditionLostError naming the generation it read and the one it lost to, never a gate
refusal computed against the winner.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import torch

from ctscan_ops.registry.gate import judge_against
from ctscan_ops.registry.store import (
    PreconditionLostError,
    PromotionRefusedError,
    RegistryStore,
    check_expected_generation,
)

T0 = datetime(2026, 11, 26, 9, 30, 0, tzinfo=UTC)
NAMES = ["adenocarcinoma", "large_cell_carcinoma", "squamous_cell_carcinoma", "normal"]


def _report(f1: float) -> dict:
    return {
        "dataset": "holdout-1",
        "n": 400,
        "macro_f1": f1,
        "latency_p95_ms": 2.0,
        "per_class": {n: {"recall": f1} for n in NAMES},
    }


def _version(store: RegistryStore, seed: int, f1: float) -> str:
    g = torch.Generator().manual_seed(seed)
    rec = store.register(
        {"w": torch.randn(3, 2, generator=g)},
        architecture="linear_probe",
        parameters={},
        created_at=T0 + timedelta(minutes=seed),
        source="test",
    )
    store.put_evaluation(rec.version, _report(f1))
    return rec.version


def test_racing_promoters_losers_told_the_alias_moved_not_refused(gcs_client, bucket_name):
    base = RegistryStore(gcs_client, bucket_name)
    champ = _version(base, 0, 0.60)
    first = base.promote(champ)
    # every challenger beats the initial champion (0.60); the best would refuse all the others
    f1s = [0.70, 0.72, 0.74, 0.76, 0.90]
    racers = [_version(base, i + 1, f) for i, f in enumerate(f1s)]
    barrier = threading.Barrier(len(racers))
    judged: dict[str, str | None] = {}
    won: list = []
    lost: dict[str, PreconditionLostError] = {}
    other: list = []

    def go(version: str) -> None:
        store = RegistryStore(gcs_client, bucket_name)

        def judge(current):
            judged[version] = current.version if current else None
            decision = judge_against(store, version, current)
            barrier.wait(timeout=60)  # all have read and been judged: now they all write
            return decision

        try:
            won.append(store.promote_judged(version, judge, reason="race"))
        except PreconditionLostError as exc:
            lost[version] = exc
        except Exception as exc:  # recorded and asserted below
            other.append(exc)

    threads = [threading.Thread(target=go, args=(v,)) for v in racers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not other, other
    assert len(won) == 1 and len(lost) == len(racers) - 1
    winner = won[0]
    assert judged == {v: champ for v in racers}  # everyone judged against what they read
    assert winner.evidence["judged_against"] == champ
    now = base.get_alias("champion")
    assert now.version == winner.version and now.seq == 2
    for exc in lost.values():
        assert exc.expected == first.generation
        assert exc.actual == now.generation != first.generation
        assert exc.current_version == winner.version
        msg = str(exc)
        assert f"expected generation {first.generation}" in msg
        assert f"actual generation {now.generation}" in msg
        assert winner.version in msg and "registry show champion" in msg
        assert "refused" not in msg and "macro-F1" not in msg
    # a loser that tries again is judged against the winner, which it now sees: the refusal
    # names the winner (margin 0.01: only a loser 0.01 better than the winner could pass)
    for version in lost:
        again = RegistryStore(gcs_client, bucket_name)
        if _f1(base, version) >= _f1(base, winner.version) + 0.01:
            assert again.promote_judged(
                version, lambda c, v=version, s=again: judge_against(s, v, c)
            )
            break
        with pytest.raises(PromotionRefusedError, match=f"against champion {winner.version}"):
            again.promote_judged(version, lambda c, v=version, s=again: judge_against(s, v, c))


def _f1(store: RegistryStore, version: str) -> float:
    return float(store.get_evaluation(version)["macro_f1"])


def test_stale_expected_generation_is_lost_before_judging(store: RegistryStore) -> None:
    v1, v2, v3 = (_version(store, i, f) for i, f in enumerate([0.6, 0.7, 0.8]))
    g1 = store.promote(v1).generation
    store.promote(v2)  # somebody else moved it after the operator read g1
    calls = []
    with pytest.raises(PreconditionLostError) as err:
        store.promote_judged(v3, lambda c: calls.append(c), expected_generation=g1)
    assert calls == []  # never judged against a champion the operator did not see
    assert err.value.expected == g1 and err.value.current_version == v2
    assert store.get_alias("champion").version == v2


@pytest.mark.parametrize("bad", [-1, 0, True, "3", 1.5])
def test_negative_or_non_integer_generation_is_bad_input(store: RegistryStore, bad) -> None:
    v1 = _version(store, 0, 0.6)
    with pytest.raises(ValueError, match="not a GCS object generation"):
        store.set_alias("champion", v1, expected_generation=bad, reason="x")
    with pytest.raises(ValueError, match="not a GCS object generation"):
        store.promote(v1, expected_generation=bad)
    with pytest.raises(ValueError, match="not a GCS object generation"):
        store.promote_judged(v1, None, expected_generation=bad)
    assert store.get_alias("champion") is None


def test_generation_boundary() -> None:
    assert check_expected_generation(1) == 1
    assert check_expected_generation(None) is None
    with pytest.raises(ValueError):
        check_expected_generation(0)


def test_cli_negative_generation_is_bad_input_not_a_race(capsys, store) -> None:
    """Exit 2 with a message about the value (the cli engineer owns exit codes; this pins the
    library's ValueError reaching the user instead of "changed concurrently")."""
    from ctscan_ops.cli import main

    v1 = _version(store, 0, 0.6)
    store.promote(v1)
    v2 = _version(store, 1, 0.8)
    code = main(
        ["registry", "--bucket", store.bucket_name, "promote", v2, "--expected-generation", "-1"]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "-1" in err and "--expected-generation" in err  # refused by the argument's range
    assert "concurrent" not in err and "moved" not in err
    assert store.get_alias("champion").version == v1
