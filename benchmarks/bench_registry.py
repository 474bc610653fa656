"""Registry benchmarks: evaluation throughput, alias resolution and load time vs registry size.

Figures are ratios against a baseline measured in the same run (the machine is shared):

1. Evaluation throughput of the sandbox CNN on phantom images: batched (256 per forward) vs one
   image per forward call, images/s and the speed-up.
2. Alias resolution (``resolve("champion")``) and verified load (``load_model("champion")``)
   with 10 and with 1,000 registered versions on fake-gcs-server: both read a fixed number of
   objects (alias, version record, checkpoint), so the ratio 1,000/10 should stay near 1;
   ``list_version_ids`` is shown as the contrast (it pages through every version).

Run: ``python benchmarks/bench_registry.py [--versions 1000] [--images 512]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path


def _median_time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_evaluation(n_images: int) -> dict[str, float]:
    import torch

    from ctscan_ops.registry.models import build_model, preprocess
    from ctscan_ops.sandbox.worlds.phantoms import make_dataset

    torch.set_num_threads(1)
    images, _ = make_dataset(n_images, seed=1, image_size=64)
    x = preprocess(images)
    model = build_model("small_cnn", image_size=64).eval()
    with torch.inference_mode():
        model(x[:8])  # warm-up
        t0 = time.perf_counter()
        for i in range(0, len(x), 256):
            model(x[i : i + 256])
        batched = time.perf_counter() - t0
        t0 = time.perf_counter()
        for i in range(len(x)):
            model(x[i : i + 1])
        single = time.perf_counter() - t0
    return {
        "batched_images_per_s": n_images / batched,
        "single_images_per_s": n_images / single,
        "speedup": single / batched,
    }


def _fill(store, n: int, start: datetime) -> None:
    """Register ``n`` distinct tiny checkpoints (different bytes each)."""
    import torch

    for i in range(n):
        store.register(
            {"w": torch.tensor([float(i)])},
            architecture="linear_probe",
            created_at=start + timedelta(seconds=i),
        )


def _count_requests(client) -> list[int]:
    """Count the HTTP requests the storage client sends (wraps its session's ``request``)."""
    calls = [0]
    session = client._http
    original = session.request

    def counted(*args, **kwargs):
        calls[0] += 1
        return original(*args, **kwargs)

    session.request = counted
    return calls


def bench_resolution(client, n_big: int, repeat: int = 15) -> dict[str, dict[str, float]]:
    """Fill two registries (10 and ``n_big`` versions), then time them alternately.

    Alternating the measurements (10, big, 10, big, ...) spreads the shared machine's load
    drift evenly over both sizes, so the ratio is about the registry size, not the moment.
    """
    import torch

    from ctscan_ops.registry.models import build_model
    from ctscan_ops.registry.store import RegistryStore

    torch.set_num_threads(1)
    state = build_model("small_cnn", image_size=64).state_dict()
    stores: dict[str, RegistryStore] = {}
    out: dict[str, dict[str, float]] = {}
    for n in (10, n_big):
        bucket = f"bench-models-{uuid.uuid4().hex[:8]}"
        client.create_bucket(bucket)
        store = RegistryStore(client, bucket)
        start = datetime(2026, 1, 1, tzinfo=UTC)
        t0 = time.perf_counter()
        _fill(store, n - 1, start)
        fill_s = time.perf_counter() - t0
        rec = store.register(
            state,
            architecture="small_cnn",
            parameters={"image_size": 64},
            created_at=start + timedelta(days=1),
        )
        store.promote(rec.version)
        stores[str(n)] = store
        out[str(n)] = {"register_per_version_ms": 1000 * fill_s / max(n - 1, 1)}
    samples: dict[tuple[str, str], list[float]] = {}
    ops = {
        "resolve_ms": lambda s: s.resolve("champion"),
        "load_model_ms": lambda s: s.load_model("champion"),
        "list_versions_ms": lambda s: s.list_version_ids(),
        # emulator baseline: one metadata GET + one media GET of the alias object, no registry
        # logic; its ratio shows how much the emulator itself slows down with bucket size
        "raw_get_ms": lambda s: s.bucket.get_blob(s.alias_key("champion")).download_as_bytes(),
    }
    calls = _count_requests(client)
    for size, store in stores.items():  # HTTP requests per operation: the load-free figure
        for name, op in ops.items():
            before = calls[0]
            op(store)
            out[size][name.replace("_ms", "_requests")] = calls[0] - before
    for _ in range(repeat):
        for size, store in stores.items():
            for name, op in ops.items():
                samples.setdefault((size, name), []).append(
                    1000 * _median_time(lambda op=op, store=store: op(store), 1)
                )
    for (size, name), values in samples.items():
        out[size][name] = statistics.median(values)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--versions", type=int, default=1000)
    ap.add_argument("--images", type=int, default=512)
    args = ap.parse_args()

    ev = bench_evaluation(args.images)
    print(f"== evaluation throughput, small_cnn 64x64, {args.images} phantom images, 1 thread")
    print(f"  one-by-one : {ev['single_images_per_s']:10.0f} images/s   (baseline)")
    print(
        f"  batched 256: {ev['batched_images_per_s']:10.0f} images/s   "
        f"x{ev['speedup']:.1f} vs one-by-one"
    )

    from ctscan_ops.resources.storage import make_storage_client
    from ctscan_ops.sandbox.processes import stop_group
    from ctscan_ops.sandbox.services import start_service

    with tempfile.TemporaryDirectory() as tmp:
        record = start_service("gcs", Path(tmp), in_memory=True)
        try:
            client = make_storage_client("bench", record["endpoint"])
            res = bench_resolution(client, args.versions)
        finally:
            stop_group(record["pgid"])
    small, big = res["10"], res[str(args.versions)]
    print("== alias resolution and verified load on fake-gcs-server (median of 15)")
    print(f"  {'':<24}{'10 versions':>14}{f'{args.versions} versions':>18}{'ratio':>9}")
    for key, label in (
        ("resolve_ms", "resolve('champion') ms"),
        ("load_model_ms", "load_model('champion') ms"),
        ("list_versions_ms", "list_version_ids ms"),
        ("raw_get_ms", "raw GET alias obj ms"),
        ("register_per_version_ms", "register ms/version"),
    ):
        print(f"  {label:<24}{small[key]:>14.2f}{big[key]:>18.2f}{big[key] / small[key]:>8.2f}x")
    print("  HTTP requests per operation (independent of machine load):")
    for key in (
        "resolve_requests",
        "load_model_requests",
        "list_versions_requests",
        "raw_get_requests",
    ):
        print(f"  {key:<24}{small[key]:>14d}{big[key]:>18d}")


if __name__ == "__main__":
    main()
