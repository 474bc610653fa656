"""Small classifiers for the four CT classes, sized to train in seconds on CPU.

Why several: the sandbox needs versions of different quality to show a promotion and a refused
worse challenger. Each architecture is rebuilt from the version record (``architecture`` +
``parameters``), so a checkpoint is only a weights-only state_dict, never a pickled module.
torch is imported inside the builders (definitions loading must not import torch).
"""

from __future__ import annotations

from typing import Any

from ctscan_ops.ct_classes import NUM_CLASSES


def _small_cnn(
    image_size: int = 64,
    width: int = 8,
    pool: int = 4,
    downsample: int = 2,
    num_classes: int = NUM_CLASSES,
) -> Any:
    """Optional average-pool stem, three conv blocks (w, 2w, 4w), a coarse pool, a linear head.

    ``pool`` > 1 keeps a coarse map instead of a global average, because lesion *position*
    (central vs peripheral) separates classes; the stem makes 64x64 training cheap on CPU.
    """
    from torch import nn

    side = image_size // downsample if downsample >= 1 else 0
    if downsample < 1 or image_size % downsample or side % 8 or side < 8:
        raise ValueError(
            f"small_cnn image_size={image_size}, downsample={downsample}: "
            "image_size/downsample must be a multiple of 8"
        )
    if width < 1 or not 1 <= pool <= side // 8:
        raise ValueError(
            f"small_cnn width={width}, pool={pool}: need width>=1, 1<=pool<={side // 8}"
        )

    def block(cin: int, cout: int) -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)
        )

    stem = [nn.AvgPool2d(downsample)] if downsample > 1 else []
    return nn.Sequential(
        *stem,
        block(1, width),
        block(width, 2 * width),
        block(2 * width, 4 * width),
        nn.AdaptiveAvgPool2d(pool),
        nn.Flatten(),
        nn.Linear(4 * width * pool * pool, num_classes),
    )


def _linear_probe(image_size: int = 64, pool: int = 8, num_classes: int = NUM_CLASSES) -> Any:
    """Average-pool to a coarse grid, then one linear layer: the deliberately weak baseline."""
    from torch import nn

    if image_size % pool != 0:
        raise ValueError(f"linear_probe: image_size={image_size} not divisible by pool={pool}")
    side = image_size // pool
    return nn.Sequential(nn.AvgPool2d(pool), nn.Flatten(), nn.Linear(side * side, num_classes))


ARCHITECTURES = {"small_cnn": _small_cnn, "linear_probe": _linear_probe}


def build_model(architecture: str, **parameters: Any) -> Any:
    """Instantiate a registered architecture; unknown names/parameters fail with a clear error."""
    try:
        builder = ARCHITECTURES[architecture]
    except KeyError:
        raise ValueError(
            f"unknown architecture {architecture!r}; known: {', '.join(sorted(ARCHITECTURES))}"
        ) from None
    try:
        return builder(**parameters)
    except TypeError as exc:
        raise ValueError(f"bad parameters for architecture {architecture!r}: {exc}") from exc


def count_parameters(model: Any) -> int:
    """Number of trainable scalars (recorded in the version record)."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


def preprocess(images: Any) -> Any:
    """float [n,H,W] array/tensor -> float32 tensor [n,1,H,W], z-scored per image.

    Per-image standardisation needs no stored statistics, so a checkpoint plus its record is
    all serving needs; constant images map to zeros instead of dividing by zero.
    """
    import numpy as np
    import torch

    x = torch.as_tensor(np.asarray(images, dtype=np.float32))
    if x.ndim != 3:
        raise ValueError(f"images must be [n, H, W], got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("images contain NaN or Inf")
    mean = x.mean(dim=(1, 2), keepdim=True)
    std = x.std(dim=(1, 2), keepdim=True).clamp_min(1e-6)
    return ((x - mean) / std).unsqueeze(1)
