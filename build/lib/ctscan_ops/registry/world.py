"""The registry part of the sandbox world: three real checkpoints of different quality.

Story (all times inside the world window):

* ``baseline`` (start + 1 h): a narrow CNN trained for two epochs, the first champion (gated
  with no incumbent);
* ``cnn`` (start + 7 d): a small CNN trained properly; proposed as ``challenger``; it beats the
  baseline, so the first Dagster round (challenger_model -> challenger_beats_champion ->
  champion_model) promotes it;
* ``linear_probe`` (start + 21 d): a worse architecture (one linear layer on pooled pixels);
  the next round proposes it and the gate refuses it.

Training is deterministic (seeded, one thread), so regenerating the world re-registers the same
bytes: content addressing makes that a no-op. The held-out set is described (seed, size), not
stored: every evaluation regenerates it with the phantom generator.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from ctscan_ops.registry.store import RegistryStore

HOLDOUT_KEY = "holdout.json"


@dataclasses.dataclass(frozen=True)
class RegistryWorldConfig:
    n_train: int = 1000
    n_holdout: int = 400
    image_size: int = 64
    cnn_epochs: int = 8


def holdout_spec(seed: int, n: int, image_size: int) -> dict[str, Any]:
    """How to regenerate the held-out set; ``dataset`` names it in every evaluation."""
    return {
        "generator": "ctscan_ops.drift.phantoms.make_dataset",
        "seed": seed,
        "n": n,
        "image_size": image_size,
        "dataset": f"phantoms-holdout-s{seed}-n{n}-{image_size}px",
    }


def load_holdout(spec: dict[str, Any]) -> tuple[Any, Any]:
    from ctscan_ops.drift.phantoms import make_dataset

    return make_dataset(spec["n"], spec["seed"], image_size=spec["image_size"])


def put_holdout_spec(store: RegistryStore, spec: dict[str, Any]) -> None:
    store._create_json(f"{store.root}/{HOLDOUT_KEY}", spec)


def get_holdout_spec(store: RegistryStore) -> dict[str, Any] | None:
    got = store._get_json(f"{store.root}/{HOLDOUT_KEY}")
    return None if got is None else got[0]


def candidate_plans(cfg: RegistryWorldConfig, seed: int) -> list[dict[str, Any]]:
    """The three versions: name, when (offset), TrainConfig kwargs, training-set size."""
    side = cfg.image_size // 2
    cnn = {"width": 8, "pool": max(1, min(4, side // 8)), "downsample": 2}
    small = {**cnn, "width": 4}

    def plan(name: str, days: float, arch: str, params: dict, epochs: int, lr: float, k: int):
        return {
            "name": name,
            "offset": timedelta(days=days),
            "n": cfg.n_train,
            "train": {
                "architecture": arch,
                "parameters": params,
                "epochs": epochs,
                "lr": lr,
                "seed": seed + k,
            },
        }

    return [
        plan("baseline", 1 / 24, "small_cnn", small, 2, 3e-3, 0),
        plan("cnn", 7, "small_cnn", cnn, cfg.cnn_epochs, 3e-3, 1),
        plan("linear_probe", 21, "linear_probe", {"pool": 8}, 4, 1e-2, 2),
    ]


def stage_registry(
    store: RegistryStore,
    *,
    seed: int,
    start: datetime,
    config: RegistryWorldConfig | None = None,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train, register and evaluate the three versions; set champion and challenger."""
    from ctscan_ops.drift.phantoms import make_dataset
    from ctscan_ops.registry.evaluate import evaluate_model
    from ctscan_ops.registry.gate import challenger_beats_champion
    from ctscan_ops.registry.train import TrainConfig, train_model

    cfg = config or RegistryWorldConfig()
    spec = holdout_spec(seed + 1000, cfg.n_holdout, cfg.image_size)
    put_holdout_spec(store, spec)
    train_x, train_y = make_dataset(cfg.n_train, seed, image_size=cfg.image_size)
    test_x, test_y = load_holdout(spec)
    registered: dict[str, dict[str, Any]] = {}
    for plan in candidate_plans(cfg, seed):
        progress(f"registry: training {plan['name']} ({plan['train']['architecture']})")
        tc = TrainConfig(**plan["train"])
        res = train_model(train_x[: plan["n"]], train_y[: plan["n"]], tc)
        rec = store.register(
            res.state_dict,
            architecture=tc.architecture,
            parameters=res.parameters,
            training={**res.metadata, "role": plan["name"], "train_data": f"phantoms-s{seed}"},
            source=f"sandbox-world seed={seed} plan={plan['name']}",
            created_at=start + plan["offset"],
        )
        report = {
            **evaluate_model(res.model, test_x, test_y, n_latency=20),
            "dataset": spec["dataset"],
        }
        store.put_evaluation(rec.version, report)
        registered[plan["name"]] = {"version": rec.version, "sha256": rec.sha256, "report": report}
        progress(f"registry: {plan['name']} = {rec.version} macro-F1 {report['macro_f1']:.3f}")

    base, cnn, weak = (registered[k] for k in ("baseline", "cnn", "linear_probe"))
    first = challenger_beats_champion(base["report"], None)
    clock = store.clock
    if store.get_alias("champion") is None:
        store.clock = lambda: start + timedelta(hours=2)
        store.promote(
            base["version"],
            reason="initial champion: the deployment that predates the registry (imported; "
            "no incumbent to compare with, gate recorded but not applied)",
            actor="sandbox-world",
            evidence={
                "gate": first.checks,
                "gate_passed": first.passed,
                "sha256": base["sha256"],
                "drift": "no drift snapshot before the world start",
            },
        )
    if store.get_alias("challenger") is None:
        store.clock = lambda: start + timedelta(days=7, hours=1)
        store.promote(
            cnn["version"],
            alias="challenger",
            reason="proposed (sandbox world)",
            actor="sandbox-world",
        )
    store.clock = clock
    expect_promote = challenger_beats_champion(cnn["report"], base["report"])
    expect_refuse = challenger_beats_champion(weak["report"], cnn["report"])
    return {
        "versions": {k: v["version"] for k, v in registered.items()},
        "macro_f1": {k: round(v["report"]["macro_f1"], 4) for k, v in registered.items()},
        "accuracy": {k: round(v["report"]["accuracy"], 4) for k, v in registered.items()},
        "champion": store.get_alias("champion").version,
        "challenger": store.get_alias("challenger").version,
        "holdout": spec["dataset"],
        "story_ok": expect_promote.passed and not expect_refuse.passed,
        "cnn_vs_baseline": expect_promote.summary(),
        "linear_probe_vs_cnn": expect_refuse.summary(),
    }


def generate(ctx: Any) -> dict[str, Any]:
    """World hook: register the versions in the models bucket (created if missing)."""
    from ctscan_ops.registry.train import torch_threads

    client = ctx.storage_client()
    bucket = ctx.settings.models_bucket
    if client.lookup_bucket(bucket) is None:
        client.create_bucket(bucket)
    store = RegistryStore(client, bucket)
    seed = int(ctx.rng("registry").integers(0, 2**31 - 10_000))
    with torch_threads(1):
        summary = stage_registry(store, seed=seed, start=ctx.start, progress=ctx.progress)
    summary["serving_checkpoint_uri"] = store.serving_checkpoint_uri()
    return summary
