"""CT-like chest phantoms in Hounsfield units: class-dependent lesions and an acquisition model.

A member of the Shepp-Logan family: every image is a sum of ellipses (body wall, fat, lungs,
mediastinum, aorta, spine, ribs, vessels, and the lesion of its class), each ellipse drawn with
per-patient random size, position and density. Rendering is vectorised over a whole batch with
torch, so thousands of 128x128 images take seconds (the registry trains small CNNs on them).

Classes (``ctscan_ops.ct_classes.CLASSES`` order) and their lesions, loosely after radiology:
- ``adenocarcinoma``: peripheral part-solid nodule (ground-glass halo around a solid core);
- ``large_cell_carcinoma``: large lobulated peripheral solid mass;
- ``squamous_cell_carcinoma``: central (peri-hilar) solid mass, often cavitated (air inside);
- ``normal``: no lesion (sometimes a tiny calcified granuloma, which is benign).

Acquisition (:class:`Acquisition`) turns the ideal HU map into what a scanner would give:
field of view (zoom), reconstruction-kernel blur, dose-dependent noise whose texture depends on
the kernel, a calibration error (scale/offset), the scanner's HU range and integer rounding.
``method="image"`` does this in image space (fast, the default); ``method="radon"`` simulates
the physics with scikit-image: forward projection (``radon``) of attenuation, Poisson photon
noise at a dose-dependent photon count, filtered back projection (``iradon``) with the kernel's
filter. It is ~100x slower and used for spot checks.

A "scanner/protocol change" is just another :class:`Acquisition` (see :data:`SHIFTS`), which is
how the sandbox world stages its drift episode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import torch

from ctscan_ops.ct_classes import CLASSES, NUM_CLASSES

HU_MIN, HU_MAX = -1024.0, 3071.0  # a 12-bit scanner's range
MU_WATER_PER_PX = 0.02  # attenuation of water per pixel width (radon path), arbitrary units

Kernel = Literal["smooth", "standard", "sharp"]
# Reconstruction kernel -> (PSF blur sigma in px, noise correlation sigma in px, noise gain).
KERNELS: dict[str, tuple[float, float, float]] = {
    "smooth": (1.0, 1.1, 0.55),
    "standard": (0.6, 0.6, 1.0),
    "sharp": (0.25, 0.0, 1.8),
}
# Kernel -> iradon filter (radon path).
_RADON_FILTERS = {"smooth": "hann", "standard": "shepp-logan", "sharp": "ramp"}


@dataclass(frozen=True)
class Acquisition:
    """How a scanner and protocol render the ideal phantom.

    ``dose`` is relative to the reference protocol: noise sigma scales as ``1/sqrt(dose)``.
    ``fov_scale > 1`` is a smaller field of view (anatomy fills more of the image).
    """

    dose: float = 1.0
    kernel: Kernel = "standard"
    hu_offset: float = 0.0
    hu_scale: float = 1.0
    fov_scale: float = 1.0
    base_noise_hu: float = 12.0
    method: Literal["image", "radon"] = "image"

    def __post_init__(self) -> None:
        if self.dose <= 0:
            raise ValueError(f"Acquisition.dose must be > 0, got {self.dose}")
        if self.kernel not in KERNELS:
            raise ValueError(f"Acquisition.kernel {self.kernel!r} not in {sorted(KERNELS)}")
        if self.fov_scale <= 0 or self.hu_scale <= 0:
            raise ValueError("Acquisition.fov_scale and hu_scale must be > 0")
        if self.method not in ("image", "radon"):
            raise ValueError(f"Acquisition.method {self.method!r} not in ('image', 'radon')")


REFERENCE = Acquisition()
SHIFTS: dict[str, Acquisition] = {
    # A new scanner model rolled out with a low-dose protocol and a sharp (lung) kernel; its HU
    # calibration is off by +30 and it reconstructs a tighter field of view.
    "protocol_change": Acquisition(dose=0.35, kernel="sharp", hu_offset=30.0, fov_scale=1.15),
    "low_dose": Acquisition(dose=0.25),
    "sharp_kernel": Acquisition(kernel="sharp"),
    "calibration_offset": Acquisition(hu_offset=40.0),
    "zoomed_fov": Acquisition(fov_scale=1.2),
}


def resolve_shift(shift: str | Acquisition | None) -> Acquisition:
    """``None`` -> the reference protocol; a name -> :data:`SHIFTS`; an Acquisition -> itself."""
    if shift is None:
        return REFERENCE
    if isinstance(shift, Acquisition):
        return shift
    if shift not in SHIFTS:
        raise ValueError(f"unknown shift {shift!r}; known: {sorted(SHIFTS)}")
    return SHIFTS[shift]


# --- anatomy ------------------------------------------------------------------------------
# Each slot is one ellipse per image: (cx, cy, a, b, theta, hu, active), arrays of length n.
_Slot = tuple[np.ndarray, ...]


def _u(rng: np.random.Generator, lo: float, hi: float, n: int) -> np.ndarray:
    return rng.uniform(lo, hi, n)


def _anatomy_slots(rng: np.random.Generator, labels: np.ndarray) -> list[_Slot]:
    """Ellipses in drawing order (later ones overwrite earlier), coordinates in [-1, 1]."""
    n = labels.shape[0]
    on = np.ones(n, dtype=bool)
    zero = np.zeros(n)
    size = _u(rng, 0.82, 1.0, n)  # patient habitus
    slots: list[_Slot] = []
    body_a, body_b = 0.9 * size, 0.66 * size
    body_cy = 0.05 + rng.normal(0, 0.015, n)
    tilt = rng.normal(0, 0.03, n)
    fat = rng.normal(-95, 8, n)
    slots.append((rng.normal(0, 0.01, n), body_cy, body_a, body_b, tilt, fat, on))
    wall = _u(rng, 0.05, 0.09, n)
    muscle = rng.normal(42, 5, n)
    slots.append((zero, body_cy, body_a - wall, body_b - wall, tilt, muscle, on))
    lung_hu = rng.normal(-850, 25, n)
    lung_a = 0.27 * size * _u(rng, 0.9, 1.1, n)
    lung_b = 0.40 * size * _u(rng, 0.9, 1.08, n)
    for side in (-1.0, 1.0):
        cx = side * (0.36 * size + rng.normal(0, 0.01, n))
        slots.append((cx, body_cy - 0.04, lung_a, lung_b, side * 0.12 + tilt, lung_hu, on))
    # mediastinum + heart, aorta, spine (vertebral body), ribs, vessels in the lungs
    slots.append(
        (
            rng.normal(0.04, 0.01, n),
            body_cy + 0.02,
            0.17 * size,
            0.24 * size,
            tilt,
            rng.normal(38, 4, n),
            on,
        )
    )
    slots.append(
        (0.1 * size, body_cy + 0.3 * size, 0.06 * size, 0.06 * size, zero, rng.normal(45, 4, n), on)
    )
    slots.append(
        (zero, body_cy + 0.47 * size, 0.09 * size, 0.08 * size, zero, rng.normal(650, 60, n), on)
    )
    # rib cuts in the body wall (0 deg = patient's left on screen, 90 = posterior), each one
    # present with p=0.75 so that slices differ; none where the spine and sternum are.
    for deg in (20, 50, 130, 160, 200, 235, 305, 340):
        ang = math.radians(deg) + rng.normal(0, 0.04, n)
        rx = (body_a - wall / 2) * np.cos(ang)
        ry = body_cy + (body_b - wall / 2) * np.sin(ang)
        slots.append(
            (rx, ry, 0.028 * size, 0.02 * size, ang, rng.normal(700, 80, n), rng.random(n) < 0.75)
        )
    for _ in range(4):
        side = np.where(rng.random(n) < 0.5, -1.0, 1.0)
        cx = side * 0.36 * size + rng.normal(0, 0.08, n)
        cy = body_cy - 0.04 + rng.normal(0, 0.18, n)
        r = _u(rng, 0.008, 0.02, n)
        slots.append((cx, cy, r, r, zero, rng.normal(40, 8, n), rng.random(n) < 0.8))
    slots.extend(_lesion_slots(rng, labels, size, body_cy))
    return slots


def _lesion_slots(
    rng: np.random.Generator, labels: np.ndarray, size: np.ndarray, body_cy: np.ndarray
) -> list[_Slot]:
    """Three ellipse slots for the lesion: main body, inner part, lobule (inactive if unused)."""
    n = labels.shape[0]
    side = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    lung_cx = side * 0.36 * size
    lung_cy = body_cy - 0.04
    adeno, large, squam, normal = (labels == i for i in range(NUM_CLASSES))
    # peripheral position (lateral part of the lung) vs central (next to the mediastinum)
    periph_x = lung_cx + side * 0.1 * size + rng.normal(0, 0.03, n)
    central_x = lung_cx - side * 0.14 * size + rng.normal(0, 0.02, n)
    cy = lung_cy + rng.normal(0, 0.12, n) * size
    cx = np.where(squam, central_x, periph_x)
    r = (
        np.select(
            [adeno, large, squam],
            [_u(rng, 0.04, 0.07, n), _u(rng, 0.1, 0.15, n), _u(rng, 0.07, 0.11, n)],
            default=_u(rng, 0.008, 0.014, n),
        )
        * size
    )
    ecc = _u(rng, 0.8, 1.2, n)
    theta = _u(rng, 0, math.pi, n)
    main_hu = np.select(
        [adeno, large, squam],
        [rng.normal(-420, 60, n), rng.normal(42, 6, n), rng.normal(35, 6, n)],
        default=rng.normal(600, 80, n),  # calcified granuloma
    )
    main_on = ~normal | (rng.random(n) < 0.2)
    # inner part: solid core of the adenocarcinoma, cavity of the squamous cell carcinoma
    inner_hu = np.where(adeno, rng.normal(30, 6, n), rng.normal(-880, 20, n))
    inner_on = adeno | (squam & (rng.random(n) < 0.6))
    inner_r = np.where(adeno, 0.45, 0.4) * r
    # lobule of the large cell carcinoma
    lob_ang = _u(rng, 0, 2 * math.pi, n)
    lob_x = cx + 0.8 * r * np.cos(lob_ang)
    lob_y = cy + 0.8 * r * np.sin(lob_ang)
    return [
        (cx, cy, r * ecc, r / ecc, theta, main_hu, main_on),
        (lob_x, lob_y, 0.6 * r, 0.55 * r, theta, rng.normal(42, 6, n), large),
        (cx, cy, inner_r * ecc, inner_r / ecc, theta, inner_hu, inner_on),
    ]


def _render(slots: list[_Slot], image_size: int, fov_scale: float) -> torch.Tensor:
    """Draw the ellipses on an air background: ``[n, H, W]`` float32 HU.

    Each ellipse is the quadratic form ``A dx^2 + B dx dy + C dy^2 <= 1``; ``A dx^2`` varies
    along columns only and ``C dy^2`` along rows only, so only three full-size operations remain,
    and they run on the union bounding box of that slot's ellipses over the batch.
    """
    n = slots[0][0].shape[0]
    # pixel centres in [-1, 1]; a smaller field of view (fov_scale > 1) shows less of the world
    c = ((np.arange(image_size) + 0.5) / image_size * 2 - 1) / fov_scale
    img = torch.full((n, image_size, image_size), -1000.0)
    for cx, cy, a, b, th, hu, on in slots:
        if not on.any():
            continue
        reach = np.maximum(a, b)[on]
        cols = np.nonzero((c >= (cx[on] - reach).min()) & (c <= (cx[on] + reach).max()))[0]
        rows = np.nonzero((c >= (cy[on] - reach).min()) & (c <= (cy[on] + reach).max()))[0]
        if cols.size == 0 or rows.size == 0:
            continue
        c0, c1, r0, r1 = cols[0], cols[-1] + 1, rows[0], rows[-1] + 1
        cos, sin = np.cos(th), np.sin(th)
        qa = cos**2 / a**2 + sin**2 / b**2
        qb = 2 * cos * sin * (1 / a**2 - 1 / b**2)
        qc = sin**2 / a**2 + cos**2 / b**2
        cx_eff = np.where(on, cx, 1e6)  # inactive ellipses moved far away: never inside

        def col(v: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(v, dtype=torch.float32)[:, None, None]

        dx = torch.as_tensor(c[c0:c1], dtype=torch.float32)[None, None, :] - col(cx_eff)
        dy = torch.as_tensor(c[r0:r1], dtype=torch.float32)[None, :, None] - col(cy)
        q = (col(qa) * dx * dx + col(qc) * dy * dy).addcmul_(col(qb) * dy, dx)
        region = img[:, r0:r1, c0:c1]
        region.copy_(torch.where(q <= 1.0, col(hu), region))
    return img


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of ``[n, H, W]`` in the Fourier domain (identity if sigma ~ 0).

    FFT filtering is circular: fine here because phantom borders are air on every side, and for
    noise fields it is exactly stationary. It is ~10x faster than a separable conv2d on CPU.
    """
    if sigma < 0.05:
        return x
    h, w = x.shape[-2:]
    fy = torch.fft.fftfreq(h)[:, None]
    fx = torch.fft.rfftfreq(w)[None, :]
    transfer = torch.exp(-2.0 * math.pi**2 * sigma**2 * (fx * fx + fy * fy))
    return torch.fft.irfft2(torch.fft.rfft2(x) * transfer, s=(h, w))


def _acquire_image_space(
    ideal: torch.Tensor, acq: Acquisition, size: np.ndarray, gen: torch.Generator
) -> torch.Tensor:
    psf, corr, gain = KERNELS[acq.kernel]
    img = _gaussian_blur(ideal, psf)
    noise = torch.randn(ideal.shape, generator=gen)
    if corr > 0:
        noise = _gaussian_blur(noise, corr)
        noise = noise / noise.std()  # unit std whatever the correlation: texture changes only
    # bigger patients attenuate more: noise grows with habitus
    sigma = acq.base_noise_hu * gain / math.sqrt(acq.dose)
    scale = torch.as_tensor(sigma * (size / 0.9) ** 1.5, dtype=torch.float32)[:, None, None]
    return img + noise * scale


def _acquire_radon(ideal: torch.Tensor, acq: Acquisition, rng: np.random.Generator) -> torch.Tensor:
    """Forward project, add Poisson noise, reconstruct with filtered back projection."""
    from skimage.transform import iradon, radon

    h = ideal.shape[-1]
    theta = np.linspace(0.0, 180.0, max(h, 32), endpoint=False)
    photons = 2.0e5 * acq.dose  # incident photons per ray at the reference dose
    psf = KERNELS[acq.kernel][0]
    out = np.empty(tuple(ideal.shape), dtype=np.float32)
    for i, img in enumerate(ideal.numpy()):
        mu = np.clip(1.0 + img / 1000.0, 0.0, None) * MU_WATER_PER_PX
        sino = radon(mu, theta=theta, circle=True)
        counts = rng.poisson(photons * np.exp(-sino))
        noisy = -np.log(np.maximum(counts, 1) / photons)
        rec = iradon(noisy, theta=theta, circle=True, filter_name=_RADON_FILTERS[acq.kernel])
        out[i] = (rec / MU_WATER_PER_PX - 1.0) * 1000.0
    return _gaussian_blur(torch.from_numpy(out), psf * 0.5)


def make_dataset(
    n: int,
    seed: int,
    image_size: int = 128,
    shift: str | Acquisition | None = None,
    class_probs: tuple[float, ...] | None = None,
    chunk: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` phantom slices in HU and their class labels: ``(float32 [n, H, W], int64 [n])``.

    Deterministic for ``(n, seed, image_size, shift, class_probs)``. ``shift`` is ``None``
    (reference protocol), a name from :data:`SHIFTS` or an :class:`Acquisition`.
    ``class_probs`` defaults to balanced classes.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if image_size < 16:
        raise ValueError(f"image_size must be >= 16, got {image_size}")
    acq = resolve_shift(shift)
    probs = (
        np.full(NUM_CLASSES, 1 / NUM_CLASSES)
        if class_probs is None
        else np.asarray(class_probs, dtype=float)
    )
    if probs.shape != (NUM_CLASSES,) or (probs < 0).any() or not np.isclose(probs.sum(), 1):
        raise ValueError(f"class_probs must be {NUM_CLASSES} non-negative numbers summing to 1")
    rng = np.random.default_rng(seed)
    labels = rng.choice(NUM_CLASSES, size=n, p=probs).astype(np.int64)
    images = np.empty((n, image_size, image_size), dtype=np.float32)
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    for start in range(0, n, chunk):
        lab = labels[start : start + chunk]
        slots = _anatomy_slots(rng, lab)
        ideal = _render(slots, image_size, acq.fov_scale)
        if acq.method == "radon":
            img = _acquire_radon(ideal, acq, rng)
        else:
            img = _acquire_image_space(ideal, acq, slots[0][2] / 0.9, gen)
        img = img * acq.hu_scale + acq.hu_offset
        images[start : start + chunk] = img.round().clamp(HU_MIN, HU_MAX).numpy()
    return images, labels


def with_acquisition(acq: Acquisition, **changes: object) -> Acquisition:
    """A copy of ``acq`` with fields changed (validated again)."""
    return replace(acq, **changes)  # type: ignore[arg-type]


__all__ = [
    "CLASSES",
    "HU_MAX",
    "HU_MIN",
    "REFERENCE",
    "SHIFTS",
    "Acquisition",
    "make_dataset",
    "resolve_shift",
    "with_acquisition",
]
