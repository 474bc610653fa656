"""Metrics against hand-computed cases and brute force; training and evaluation end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ctscan_ops.registry import evaluate as ev
from ctscan_ops.registry.models import build_model, count_parameters, preprocess
from ctscan_ops.registry.train import TrainConfig, train_model


def test_confusion_matrix_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    t, p = rng.integers(0, 4, 500), rng.integers(0, 4, 500)
    brute = np.zeros((4, 4), dtype=int)
    for a, b in zip(t, p, strict=True):
        brute[a, b] += 1
    assert (ev.confusion_matrix(t, p, 4) == brute).all()
    with pytest.raises(ValueError, match="y_pred has labels outside"):
        ev.confusion_matrix([0, 1], [0, 4], 4)
    with pytest.raises(ValueError, match="equal-length"):
        ev.confusion_matrix([0, 1], [0], 4)


def test_metrics_hand_case() -> None:
    cm = ev.confusion_matrix([0, 0, 1, 1, 2, 3], [0, 1, 1, 1, 3, 3], 4)
    assert cm.tolist() == [[1, 1, 0, 0], [0, 2, 0, 0], [0, 0, 0, 1], [0, 0, 0, 1]]
    m = ev.metrics_from_confusion(cm)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["precision"] == pytest.approx([1.0, 2 / 3, 0.0, 0.5])
    assert m["recall"] == pytest.approx([0.5, 1.0, 0.0, 1.0])
    assert m["f1"] == pytest.approx([2 / 3, 0.8, 0.0, 2 / 3])
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.8 + 0 + 2 / 3) / 4)
    assert m["support"] == [2, 2, 1, 1]


def test_ece_hand_case() -> None:
    probs = np.array(
        [
            [0.85, 0.05, 0.05, 0.05],
            [0.85, 0.05, 0.05, 0.05],  # conf .85: one right, one wrong
            [0.15, 0.55, 0.2, 0.1],
            [0.15, 0.55, 0.2, 0.1],
        ]  # conf .55: both right
    )
    y = np.array([0, 1, 1, 1])
    # bin (.8,.9]: |0.5-0.85|*2/4 = .175 ; bin (.5,.6]: |1-.55|*2/4 = .225
    assert ev.expected_calibration_error(probs, y, n_bins=10) == pytest.approx(0.4)
    one_hot = np.eye(4)[[0, 1, 2, 3]]
    assert ev.expected_calibration_error(one_hot, [0, 1, 2, 3]) == 0.0
    assert ev.expected_calibration_error(one_hot, [1, 2, 3, 0]) == pytest.approx(1.0)


def test_models_build_and_reject_bad_input() -> None:
    m = build_model("small_cnn", image_size=32, width=4, pool=2, downsample=2)
    assert m(torch.zeros(2, 1, 32, 32)).shape == (2, 4)
    with pytest.raises(ValueError, match="multiple of 8"):
        build_model("small_cnn", image_size=36)
    assert count_parameters(build_model("linear_probe", image_size=32, pool=8)) == 16 * 4 + 4
    with pytest.raises(ValueError, match="unknown architecture 'resnet'"):
        build_model("resnet")
    with pytest.raises(ValueError, match="bad parameters for architecture 'small_cnn'"):
        build_model("small_cnn", depth=3)
    with pytest.raises(ValueError, match=r"images must be \[n, H, W\]"):
        preprocess(np.zeros((2, 1, 8, 8)))
    with pytest.raises(ValueError, match="NaN"):
        preprocess(np.full((1, 8, 8), np.nan))
    x = preprocess(np.full((1, 8, 8), 3.0, dtype=np.float32))  # constant image: zeros, no NaN
    assert torch.equal(x, torch.zeros(1, 1, 8, 8))


def test_train_is_deterministic_and_learns(tiny_data) -> None:
    (xtr, ytr), (xte, yte) = tiny_data["train"], tiny_data["test"]
    cfg = TrainConfig(
        architecture="small_cnn",
        parameters={"width": 8, "pool": 1, "downsample": 1},
        epochs=6,
        lr=1e-2,
        seed=3,
    )
    a = train_model(xtr, ytr, cfg)
    b = train_model(xtr, ytr, cfg)
    assert all(torch.equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict)
    losses = a.metadata["train_loss_per_epoch"]
    assert losses[-1] < losses[0]
    assert a.parameters == {"image_size": 32, "width": 8, "pool": 1, "downsample": 1}
    report = ev.evaluate_model(a.model, xte, yte, n_latency=5)
    cm = np.array(report["confusion_matrix"])
    assert cm.sum() == len(yte) == report["n"]
    assert report["accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
    assert report["per_class"]["normal"]["recall"] == pytest.approx(cm[3, 3] / cm[3].sum())
    assert report["accuracy"] > 0.85  # disc/ring/square/empty is easy for a CNN
    assert 0.0 <= report["ece"] <= 1.0
    assert report["latency_p95_ms"] >= report["latency_p50_ms"] > 0
    assert report["images_per_s"] > 0
    with pytest.raises(ValueError, match="labels"):
        train_model(xtr, ytr[:-1], cfg)


def test_register_trained_model_roundtrip(store, tiny_data) -> None:
    (xtr, ytr), (xte, _) = tiny_data["train"], tiny_data["test"]
    res = train_model(xtr, ytr, TrainConfig(architecture="linear_probe", epochs=1, seed=1))
    rec = store.register(
        res.state_dict,
        architecture="linear_probe",
        parameters=res.parameters,
        training=res.metadata,
        source="test",
    )
    loaded_rec, model = store.load_model(rec.version)
    assert loaded_rec.training["n_train"] == len(ytr)
    assert np.allclose(ev.predict_proba(model, xte), ev.predict_proba(res.model, xte))
