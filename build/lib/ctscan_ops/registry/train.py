"""Train the small CT classifiers on CPU in seconds (deterministic for a given seed).

Why: the sandbox must produce real checkpoints of different quality without a GPU; quality is
controlled by architecture, epochs and the amount of training data.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator
from typing import Any

from ctscan_ops.registry.models import build_model, count_parameters, preprocess


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that decides the trained weights (recorded in the version record)."""

    architecture: str = "small_cnn"
    parameters: dict[str, Any] = dataclasses.field(default_factory=dict)
    epochs: int = 3
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    threads: int = 1

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0 or self.threads < 1:
            raise ValueError(f"bad TrainConfig: {self}")


@dataclasses.dataclass
class TrainResult:
    model: Any
    state_dict: dict[str, Any]
    parameters: dict[str, Any]  # builder kwargs, incl. image_size: enough to rebuild the model
    metadata: dict[str, Any]


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Pin torch's intra-op threads (the machine is shared) and restore them afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_model(images: Any, labels: Any, config: TrainConfig) -> TrainResult:
    """Train ``config.architecture`` with Adam + cross-entropy; returns weights and metadata."""
    import numpy as np
    import torch
    from torch import nn

    y = np.asarray(labels)
    if len(y) != len(images):
        raise ValueError(f"{len(images)} images but {len(y)} labels")
    if len(y) == 0:
        raise ValueError("no training data")
    with torch_threads(config.threads):
        torch.manual_seed(config.seed)
        x = preprocess(images)
        t = torch.as_tensor(y, dtype=torch.int64)
        parameters = {"image_size": int(x.shape[-1]), **config.parameters}
        model = build_model(config.architecture, **parameters)
        opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        loss_fn = nn.CrossEntropyLoss()
        gen = torch.Generator().manual_seed(config.seed)
        started = time.perf_counter()
        losses: list[float] = []
        model.train()
        for _ in range(config.epochs):
            order = torch.randperm(len(t), generator=gen)
            total, seen = 0.0, 0
            for i in range(0, len(t), config.batch_size):
                idx = order[i : i + config.batch_size]
                opt.zero_grad()
                loss = loss_fn(model(x[idx]), t[idx])
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
                seen += len(idx)
            losses.append(total / seen)
        model.eval()
        seconds = time.perf_counter() - started
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    metadata = {
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "lr": config.lr,
        "weight_decay": config.weight_decay,
        "seed": config.seed,
        "n_train": len(t),
        "image_size": int(x.shape[-1]),
        "final_train_loss": round(losses[-1], 6),
        "train_loss_per_epoch": [round(v, 6) for v in losses],
        "num_params": count_parameters(model),
        "train_seconds": round(seconds, 3),
    }
    return TrainResult(model=model, state_dict=state, parameters=parameters, metadata=metadata)
