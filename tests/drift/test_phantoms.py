"""Phantoms: deterministic, class-dependent lesions, acquisition shifts do what they say."""

from __future__ import annotations

import numpy as np
import pytest

from ctscan_ops.ct_classes import CLASS_INDEX, CLASSES, class_from_folder
from ctscan_ops.drift.features import FEATURE_COLUMNS, extract_features
from ctscan_ops.sandbox.worlds.phantoms import SHIFTS, Acquisition, make_dataset, resolve_shift


def col(feats: np.ndarray, name: str) -> np.ndarray:
    return feats[:, FEATURE_COLUMNS.index(name)]


def test_shapes_dtypes_and_determinism():
    x, y = make_dataset(40, seed=7, image_size=64)
    assert x.shape == (40, 64, 64) and x.dtype == np.float32
    assert y.shape == (40,) and y.dtype == np.int64
    assert set(y.tolist()) <= set(range(len(CLASSES)))
    x2, y2 = make_dataset(40, seed=7, image_size=64)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    x3, _ = make_dataset(40, seed=8, image_size=64)
    assert not np.array_equal(x, x3)
    # chunking is an implementation detail: it must not change the images' labels or sizes
    xc, yc = make_dataset(40, seed=7, image_size=64, chunk=16)
    np.testing.assert_array_equal(y, yc)
    assert xc.shape == x.shape
    # HU range of a 12-bit scanner, integer valued like DICOM
    assert x.min() >= -1024 and x.max() <= 3071
    np.testing.assert_array_equal(x, np.round(x))


def test_class_probs_and_all_sizes():
    _, y = make_dataset(30, seed=1, image_size=32, class_probs=(0, 0, 0, 1))
    assert (y == CLASS_INDEX["normal"]).all()
    for size in (64, 128, 256):
        x, _ = make_dataset(2, seed=1, image_size=size)
        assert x.shape == (2, size, size)


def test_lesions_depend_on_class():
    # no noise and a sharp kernel: no partial-volume pixels between lung and soft tissue
    clean = Acquisition(kernel="sharp", base_noise_hu=0.0)
    x, y = make_dataset(400, seed=3, image_size=64, shift=clean)
    ground_glass = ((x > -560) & (x < -250)).mean(axis=(1, 2))
    solid_in_lung = ((x > -100) & (x < 100)).mean(axis=(1, 2))
    adeno, large = CLASS_INDEX["adenocarcinoma"], CLASS_INDEX["large_cell_carcinoma"]
    normal = CLASS_INDEX["normal"]
    # part-solid nodules add ground-glass pixels; large masses add soft tissue
    assert ground_glass[y == adeno].mean() > 3 * ground_glass[y == normal].mean()
    assert solid_in_lung[y == large].mean() > solid_in_lung[y == normal].mean() + 0.01


def test_calibration_offset_shifts_every_pixel_exactly():
    ref, _ = make_dataset(6, seed=5, image_size=64)
    off, _ = make_dataset(6, seed=5, image_size=64, shift="calibration_offset")
    inside = (ref > -1024) & (ref + 40 <= 3071)  # not clipped by the scanner range
    np.testing.assert_array_equal((off - ref)[inside], 40.0)


def test_dose_scales_noise_as_inverse_sqrt():
    ref, _ = make_dataset(16, seed=5, image_size=128)
    low, _ = make_dataset(16, seed=5, image_size=128, shift="low_dose")  # dose 0.25
    ratio = col(extract_features(low), "noise_sigma") / col(extract_features(ref), "noise_sigma")
    assert np.median(ratio) == pytest.approx(2.0, rel=0.1)


def test_protocol_change_moves_the_features_it_should():
    ref = extract_features(make_dataset(64, seed=9, image_size=64)[0])
    new = extract_features(make_dataset(64, seed=9, image_size=64, shift="protocol_change")[0])
    assert np.median(col(new, "noise_sigma")) > 2 * np.median(col(ref, "noise_sigma"))
    assert np.median(col(new, "grad_rms")) > np.median(col(ref, "grad_rms"))
    # tighter field of view: less air around the body
    assert np.median(col(new, "frac_air")) < np.median(col(ref, "frac_air")) - 0.05
    # unchanged geometry: the original stats' height/width cannot see this shift
    np.testing.assert_array_equal(col(new, "height"), col(ref, "height"))


def test_radon_acquisition_reconstructs_and_noise_follows_dose():
    ideal, _ = make_dataset(2, seed=4, image_size=48, shift=Acquisition(base_noise_hu=0.0))
    hi, _ = make_dataset(2, seed=4, image_size=48, shift=Acquisition(method="radon", dose=4.0))
    lo, _ = make_dataset(2, seed=4, image_size=48, shift=Acquisition(method="radon", dose=0.05))
    for n in range(2):
        assert np.corrcoef(ideal[n].ravel(), hi[n].ravel())[0, 1] > 0.95
    assert (
        col(extract_features(lo), "noise_sigma") > col(extract_features(hi), "noise_sigma")
    ).all()


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="unknown shift 'nope'"):
        make_dataset(2, seed=0, shift="nope")
    with pytest.raises(ValueError, match="dose"):
        Acquisition(dose=0)
    with pytest.raises(ValueError, match="kernel"):
        Acquisition(kernel="bone")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="class_probs"):
        make_dataset(2, seed=0, class_probs=(1.0, 0.0))
    with pytest.raises(ValueError, match="image_size"):
        make_dataset(2, seed=0, image_size=8)
    assert resolve_shift(None) == Acquisition()
    assert resolve_shift("low_dose") is SHIFTS["low_dose"]


def test_class_names_and_folders():
    assert CLASSES == (
        "adenocarcinoma",
        "large_cell_carcinoma",
        "squamous_cell_carcinoma",
        "normal",
    )
    assert (
        class_from_folder("large.cell.carcinoma_left.hilum_T2_N2_M0_IIIa") == "large_cell_carcinoma"
    )
    with pytest.raises(ValueError, match="matches none"):
        class_from_folder("cat_pictures")
