"""The infra world's inventory is data (sandbox/data/infra_inventory/<env>.json).

The digest below was recorded from the inventory as it was written in code before it became
data (same seed, no catalog policies): loading the data must reproduce it exactly, so the
state and plan JSON the world writes did not change with the switch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np
import pytest

from ctscan_ops.sandbox.worlds import infra

RECORDED = "deca289f04be28abdb12304aafa189a5570c7a8a964c5ae40f1bff0dcdeabf55"


def test_data_reproduces_the_inventory_recorded_from_code():
    h = hashlib.sha256()
    for env in ("dev", "staging", "prod"):
        rng = np.random.default_rng(11)
        res = infra.inventory(env, {}, lambda rng=rng: int(rng.integers(0, 2**63 - 1)))
        h.update(json.dumps([dataclasses.asdict(r) for r in res]).encode())
    assert h.hexdigest() == RECORDED


def test_every_generated_id_is_filled_from_the_seed():
    ids = iter(range(1000, 2000))
    res = infra.load_inventory("prod", lambda: next(ids))
    text = json.dumps([r.attrs for r in res])
    assert "${rng:" not in text
    assert "projects/dtu-mlops-data-482907/notificationChannels/100" in text  # a mod19 id
    other = infra.load_inventory("prod", iter(range(5000, 6000)).__next__)
    assert json.dumps([r.attrs for r in other]) != text  # ids come from rng_id, not the file


def test_unknown_environment_names_the_missing_file():
    with pytest.raises(ValueError, match=r"infra_inventory/qa\.json"):
        infra.load_inventory("qa", lambda: 0)
