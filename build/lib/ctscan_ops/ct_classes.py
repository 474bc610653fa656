"""The four chest-CT classes, in the original model's index order (``CLASSES`` in its data.py).

Shared by the drift world (phantom lesions), prediction logs and the model registry, so that a
class index means the same thing everywhere.
"""

from __future__ import annotations

CLASSES: tuple[str, ...] = (
    "adenocarcinoma",
    "large_cell_carcinoma",
    "squamous_cell_carcinoma",
    "normal",
)
NUM_CLASSES = len(CLASSES)
CLASS_INDEX: dict[str, int] = {name: i for i, name in enumerate(CLASSES)}

# Folder prefixes used by the Kaggle "Chest CT-Scan Images" dataset map onto the class names.
_FOLDER_PREFIXES: dict[str, str] = {
    "adenocarcinoma": "adenocarcinoma",
    "large.cell.carcinoma": "large_cell_carcinoma",
    "squamous.cell.carcinoma": "squamous_cell_carcinoma",
    "normal": "normal",
}


def class_from_folder(folder: str) -> str:
    """Map a dataset folder name (e.g. ``large.cell.carcinoma_left.hilum_T2_N2_M0_IIIa``)."""
    for prefix, name in _FOLDER_PREFIXES.items():
        if folder.startswith(prefix) or folder.startswith(name):
            return name
    raise ValueError(f"folder {folder!r} matches none of the classes {CLASSES}")
