"""Where the drift domain reads its inputs in the drift-logs bucket (docs/data-contracts.md).

The serving API (gcp mode) or the sandbox world writes these objects; the drift assets read
them. Keys are relative to the drift-logs bucket root:

- ``predictions/date=YYYY-MM-DD/part-0.parquet``: one row per prediction of that UTC day;
- ``images/date=YYYY-MM-DD/<request_id>.npy``: the stored input image of a logged prediction;
- ``reference/<model_version>/reference.npz`` + ``predictions.parquet``: the reference set of a
  model version (its validation inputs and its predictions on them), written by the training
  pipeline for EVERY registered version, keyed by the registry's version id;
- ``reference/current.json``: ``{"model_version": ...}``, the fallback when the project has no
  registry champion (the drift reference follows the registry's ``champion`` alias otherwise);
- ``labels/day_labels.json``: which days are known stable or drifted (calibration ground truth).
"""

from __future__ import annotations

from datetime import date

REFERENCE_POINTER = "reference/current.json"
CHAMPION_ALIAS = "champion"  # the registry alias whose model the drift reference belongs to
LABELS_KEY = "labels/day_labels.json"


def day_log_key(day: date) -> str:
    """The prediction log of one UTC day."""
    return f"predictions/date={day.isoformat()}/part-0.parquet"


def image_key(day: date, request_id: str) -> str:
    """A logged prediction's stored input image."""
    return f"images/date={day.isoformat()}/{request_id}.npy"


def reference_keys(model_version: str) -> tuple[str, str]:
    """The reference set of a model version: images (``.npz``) and its predictions."""
    return (
        f"reference/{model_version}/reference.npz",
        f"reference/{model_version}/predictions.parquet",
    )


def choose_reference_version(
    override: str | None, champion: str | None, pointer: str | None
) -> tuple[str, str]:
    """(model version, why): the reference a drift profile is built from.

    An explicit version (asset config) wins; else the registry's champion, because drift must be
    measured against the inputs of the model that is promoted to serve; the pointer file only
    for projects without a registry champion.
    """
    if override:
        return override, "config"
    if champion:
        return champion, "champion"
    if pointer:
        return pointer, "pointer"
    raise ValueError(
        f"no reference version: no registry {CHAMPION_ALIAS!r} alias and no {REFERENCE_POINTER}"
    )
