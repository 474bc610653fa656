"""Features on synthetic images with answers worked out by hand, and torch == numpy reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ctscan_ops.drift.features import (
    FEATURE_COLUMNS,
    MAD_TO_SIGMA,
    extract_features,
    features_frame,
    gray_to_hu,
    reference_features_numpy,
)


def feats_of(img: np.ndarray) -> dict[str, float]:
    row = extract_features(torch.as_tensor(img, dtype=torch.float32)[None])[0]
    return dict(zip(FEATURE_COLUMNS, row.tolist(), strict=True))


def test_constant_image():
    f = feats_of(np.full((32, 40), 40.0))
    for k in ("mean", "min", "max", "p01", "p50", "p99"):
        assert f[k] == 40.0, k
    assert f["height"] == 32 and f["width"] == 40
    assert f["std"] == 0 and f["entropy"] == 0 and f["grad_rms"] == 0 and f["noise_sigma"] == 0
    assert f["frac_soft"] == 1 and f["frac_air"] == f["frac_lung"] == f["frac_bone"] == 0


def test_half_air_half_soft_tissue():
    img = np.full((32, 32), -1000.0)
    img[:, 16:] = 40.0
    f = feats_of(img)
    assert f["mean"] == pytest.approx(-480.0)
    assert f["std"] == pytest.approx(520.0)
    # 1024 pixels: the median sits between order statistics 511 (-1000) and 512 (40).
    assert f["p50"] == pytest.approx(-480.0)
    assert f["p01"] == -1000.0 and f["p99"] == 40.0
    assert f["frac_air"] == 0.5 and f["frac_soft"] == 0.5
    assert f["entropy"] == pytest.approx(1.0)
    # One step of 1040 HU per row, over 32 x 31 horizontal differences; no vertical ones.
    assert f["grad_rms"] == pytest.approx(1040.0 / math.sqrt(31.0))
    # The noise kernel cancels an image that is constant along columns: a clean edge is no noise.
    assert f["noise_sigma"] == 0.0


def test_checkerboard():
    a = 100.0
    i, j = np.indices((20, 20))
    f = feats_of(a * ((i + j) % 2))
    assert f["mean"] == pytest.approx(a / 2) and f["std"] == pytest.approx(a / 2)
    assert f["entropy"] == pytest.approx(1.0)  # 0 and 100 HU fall in adjacent 64-HU bins
    assert f["grad_rms"] == pytest.approx(a * math.sqrt(2))  # every difference is +-a
    # On (-1)^(i+j) the kernel's signs all align: |sum| = 4*1 + 4*2 + 4 = 16, and the 0/a board
    # is a/2 + (a/2)(-1)^(i+j), so every |r| = 8a.
    assert f["noise_sigma"] == pytest.approx(8 * a / (6 * MAD_TO_SIGMA))


def test_ramp_has_no_noise():
    ramp = np.add.outer(np.arange(50.0) * 3.0, np.arange(60.0) * -2.0)
    f = feats_of(ramp)
    assert f["noise_sigma"] == 0.0
    assert f["grad_rms"] == pytest.approx(math.sqrt(4.0 + 9.0))


@pytest.mark.parametrize("sigma", [5.0, 20.0, 80.0])
def test_pure_noise_of_known_sigma(sigma):
    rng = np.random.default_rng(int(sigma))
    f = feats_of(40.0 + rng.normal(0.0, sigma, size=(256, 256)))
    assert f["noise_sigma"] == pytest.approx(sigma, rel=0.02)
    assert f["std"] == pytest.approx(sigma, rel=0.02)
    # Differences of i.i.d. noise have variance 2 sigma^2 in each direction.
    assert f["grad_rms"] == pytest.approx(2 * sigma, rel=0.02)
    assert f["p50"] == pytest.approx(40.0, abs=0.05 * sigma)


def test_noise_estimate_ignores_structure():
    """A sharp-edged phantom plus noise: the MAD estimate stays near sigma, the std does not."""
    rng = np.random.default_rng(3)
    img = np.full((128, 128), -1000.0)
    img[20:108, 10:118] = 40.0
    img[40:80, 25:55] = -850.0
    f = feats_of(img + rng.normal(0, 10.0, img.shape))
    assert f["noise_sigma"] == pytest.approx(10.0, rel=0.08)
    assert f["std"] > 300


def test_window_fractions_boundaries():
    # Each window is [low, high): exact edge values decide which window a pixel belongs to.
    img = np.array([[-1000.0, -900.0, -500.0], [-100.0, 99.9, 100.0], [299.0, 300.0, 3000.0]])
    f = feats_of(img)
    assert f["frac_air"] == pytest.approx(1 / 9)
    assert f["frac_lung"] == pytest.approx(1 / 9)
    assert f["frac_soft"] == pytest.approx(2 / 9)
    assert f["frac_bone"] == pytest.approx(2 / 9)


def test_batched_torch_matches_numpy_reference():
    rng = np.random.default_rng(0)
    imgs = rng.normal(-300, 400, size=(37, 48, 40)).astype(np.float32)
    imgs[5] = 40.0  # a constant image inside the batch
    imgs[6, :, :20] = -1024.0
    got = extract_features(imgs, batch_size=8)
    for n in range(imgs.shape[0]):
        ref = reference_features_numpy(imgs[n])
        for c, name in enumerate(FEATURE_COLUMNS):
            assert got[n, c] == pytest.approx(ref[name], rel=1e-5, abs=1e-4), (n, name)


def test_batch_size_does_not_change_results():
    rng = np.random.default_rng(1)
    imgs = rng.normal(0, 100, size=(10, 16, 16)).astype(np.float32)
    np.testing.assert_array_equal(
        extract_features(imgs, batch_size=1), extract_features(imgs, batch_size=64)
    )


def test_mixed_sizes_keep_input_order():
    rng = np.random.default_rng(2)
    imgs = [
        rng.normal(0, 1, (8, 8)),
        rng.normal(0, 1, (12, 6)),
        np.full((8, 8), 7.0),
        np.full((5, 9), -3.0),
    ]
    df = features_frame(imgs)
    assert list(df.columns) == list(FEATURE_COLUMNS)
    assert df["height"].tolist() == [8, 12, 8, 5]
    assert df["width"].tolist() == [8, 6, 8, 9]
    assert df["mean"].iloc[2] == 7.0 and df["mean"].iloc[3] == -3.0
    for n, img in enumerate(imgs):
        assert df["std"].iloc[n] == pytest.approx(reference_features_numpy(img)["std"], rel=1e-5)


def test_empty_batch():
    assert extract_features(np.zeros((0, 8, 8))).shape == (0, len(FEATURE_COLUMNS))
    assert extract_features([]).shape == (0, len(FEATURE_COLUMNS))


def test_bad_images_are_named():
    imgs = np.zeros((4, 8, 8), dtype=np.float32)
    imgs[2, 3, 3] = np.nan
    with pytest.raises(ValueError, match=r"images \[2\]"):
        extract_features(imgs)
    with pytest.raises(ValueError, match="at least 3x3"):
        extract_features(np.zeros((2, 2, 8)))
    with pytest.raises(ValueError, match=r"image 1 must be 2-D"):
        extract_features([np.zeros((4, 4)), np.zeros((2, 4, 4))])
    with pytest.raises(ValueError, match="batch_size"):
        extract_features(imgs, batch_size=0)


def test_gray_to_hu_inverts_the_window():
    np.testing.assert_allclose(gray_to_hu(np.array([0, 255])), [-1350.0, 150.0])
    np.testing.assert_allclose(gray_to_hu(np.array([0, 255]), 40, 400), [-160.0, 240.0])
