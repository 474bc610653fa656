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
bytes: content addressing makes that a no-op. The held-out set is published like a real
project's (docs/data-contracts.md): phantom slices as 16-bit PNGs in one folder per class
(the original project's folder names) under ``gs://<models bucket>/registry/holdout/``;
``model_evaluation`` reads it with :mod:`ctscan_ops.registry.holdout` in both modes.

Drift reference per version (issue 16): like a training pipeline, the world writes the drift
reference set of EVERY registered version into the drift-logs bucket
(``reference/<registry version>/``, docs/data-contracts.md §2): the validation inputs (the
drift world's reference images, the same population the served traffic comes from) and that
version's own predictions on them. ``reference_profile`` follows the champion alias to it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from ctscan_ops.registry.store import RegistryStore

HOLDOUT_KEY = "holdout.json"
HOLDOUT_PREFIX = "registry/holdout/"  # the default of Settings.holdout_location


@dataclasses.dataclass(frozen=True)
class RegistryWorldConfig:
    n_train: int = 1000
    n_holdout: int = 400
    image_size: int = 64
    cnn_epochs: int = 8


def holdout_spec(seed: int, n: int, image_size: int) -> dict[str, Any]:
    """How to regenerate the held-out set; ``dataset`` names it in every evaluation."""
    return {
        "generator": "ctscan_ops.sandbox.worlds.phantoms.make_dataset",
        "seed": seed,
        "n": n,
        "image_size": image_size,
        "dataset": f"phantoms-holdout-s{seed}-n{n}-{image_size}px",
    }


def load_holdout(spec: dict[str, Any]) -> tuple[Any, Any]:
    from ctscan_ops.sandbox.worlds.phantoms import make_dataset

    return make_dataset(spec["n"], spec["seed"], image_size=spec["image_size"])


def publish_holdout(client: Any, location: str, images: Any, labels: Any):
    """Write phantoms in the folder-per-class contract layout at ``location``; returns the set
    as ``model_evaluation`` loads it.

    Objects already holding the same bytes are left alone (a regenerated world keeps its
    generations); objects of an earlier, larger set are deleted so the set is exactly this one.
    """
    import hashlib

    from ctscan_ops.ct_classes import CLASSES
    from ctscan_ops.registry.holdout import (
        encode_png16,
        holdout_object_name,
        load_holdout,
        split_gs_uri,
    )

    bucket_name, prefix = split_gs_uri(location)
    bucket = client.bucket(bucket_name)
    wanted = {
        holdout_object_name(prefix, CLASSES[int(k)], i): encode_png16(img)
        for i, (img, k) in enumerate(zip(images, labels, strict=True))
    }
    existing = {b.name: b for b in client.list_blobs(bucket_name, prefix=prefix)}
    for name, data in wanted.items():
        blob = existing.get(name)
        md5 = base64_md5(hashlib.md5(data).digest())  # what GCS reports as md5_hash
        if blob is None or blob.md5_hash != md5:
            bucket.blob(name).upload_from_string(data, content_type="image/png")
    for name in set(existing) - set(wanted):
        bucket.blob(name).delete()
    return load_holdout(client, f"gs://{bucket_name}/{prefix}", image_size=images.shape[-1])


def base64_md5(digest: bytes) -> str:
    import base64

    return base64.b64encode(digest).decode()


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
    holdout_location: str | None = None,
    start: datetime,
    config: RegistryWorldConfig | None = None,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train, register and evaluate the three versions; set champion and challenger."""
    from ctscan_ops.registry.evaluate import evaluate_model
    from ctscan_ops.registry.gate import challenger_beats_champion
    from ctscan_ops.registry.train import TrainConfig, train_model
    from ctscan_ops.sandbox.worlds.phantoms import make_dataset

    cfg = config or RegistryWorldConfig()
    spec = holdout_spec(seed + 1000, cfg.n_holdout, cfg.image_size)
    train_x, train_y = make_dataset(cfg.n_train, seed, image_size=cfg.image_size)
    location = holdout_location or f"gs://{store.bucket_name}/{HOLDOUT_PREFIX}"
    progress(f"registry: publishing {cfg.n_holdout} held-out phantoms to {location}")
    holdout = publish_holdout(store.client, location, *load_holdout(spec))
    # evaluated exactly as model_evaluation does: on the decoded contract-layout set
    test_x, test_y = holdout.images, holdout.labels
    spec = {**spec, **holdout.describe(), "n": len(test_y)}
    put_holdout_spec(store, spec)
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
            **holdout.describe(),
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


def publish_reference_sets(
    store: RegistryStore, drift_bucket: Any, versions: list[str], progress: Callable = print
) -> dict[str, str]:
    """Write ``reference/<v>/reference.npz`` + ``predictions.parquet`` for each version.

    Inputs: the reference images that ``reference/current.json`` names (written by the drift
    world); predictions: each version's own model on them (softmax, as served). Returns
    ``{version: npz uri}``.
    """
    import io
    import json

    import numpy as np
    import pandas as pd

    from ctscan_ops.ct_classes import CLASSES
    from ctscan_ops.drift.contracts import REFERENCE_POINTER, reference_keys
    from ctscan_ops.registry.evaluate import predict_proba

    base = json.loads(drift_bucket.blob(REFERENCE_POINTER).download_as_bytes())["model_version"]
    npz_key, _ = reference_keys(base)
    npz = drift_bucket.blob(npz_key).download_as_bytes()
    with np.load(io.BytesIO(npz), allow_pickle=False) as z:
        images, labels = z["images"], z["labels"]
    out = {}
    for version in versions:
        _, model = store.load_model(version)
        probs = predict_proba(model, images.astype(np.float32))
        pred = probs.argmax(axis=1)
        frame = pd.DataFrame(
            {
                "image_id": np.arange(len(images), dtype=np.int64),
                "pred_index": pred.astype(np.int64),
                "pred_class": [CLASSES[i] for i in pred],
                "pred_conf": probs.max(axis=1).astype(np.float64),
                "label": [CLASSES[i] for i in labels],
            }
        )
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        v_npz, v_pred = reference_keys(version)
        drift_bucket.blob(v_npz).upload_from_string(npz, content_type="application/octet-stream")
        drift_bucket.blob(v_pred).upload_from_string(
            buf.getvalue(), content_type="application/octet-stream"
        )
        out[version] = f"gs://{drift_bucket.name}/{v_npz}"
        progress(f"registry: drift reference set for {version} ({len(images)} images)")
    return out


def generate(ctx: Any) -> dict[str, Any]:
    """World hook: register the versions in the models bucket (created if missing) and publish
    the held-out set where ``Settings.holdout_location`` says (``CTSCAN_HOLDOUT_URI``)."""
    from ctscan_ops.drift.contracts import REFERENCE_POINTER
    from ctscan_ops.registry.train import torch_threads

    client = ctx.storage_client()
    bucket = ctx.settings.models_bucket
    if client.lookup_bucket(bucket) is None:
        client.create_bucket(bucket)
    store = RegistryStore(client, bucket)
    seed = int(ctx.rng("registry").integers(0, 2**31 - 10_000))
    location = ctx.settings.holdout_location  # where model_evaluation will read it
    holdout_bucket = location[len("gs://") :].split("/", 1)[0]
    if client.lookup_bucket(holdout_bucket) is None:
        client.create_bucket(holdout_bucket)
    with torch_threads(1):
        summary = stage_registry(
            store,
            seed=seed,
            start=ctx.start,
            progress=ctx.progress,
            holdout_location=location,
        )
        drift_bucket = client.bucket(ctx.settings.drift_logs_bucket)
        # the drift part wrote the reference inputs (a world without it has no drift reference)
        if drift_bucket.exists() and drift_bucket.blob(REFERENCE_POINTER).exists():
            summary["drift_reference_sets"] = publish_reference_sets(
                store, drift_bucket, list(summary["versions"].values()), ctx.progress
            )
    summary["serving_checkpoint_uri"] = store.serving_checkpoint_uri()
    return summary
