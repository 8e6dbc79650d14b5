"""The saved-model format is stable: ``.keras`` files written by lossreg 0.2.0 load and evaluate to the same loss.

The files were made once by ``tests/fixtures/saved_0_2_0/make.py`` with lossreg 0.2.0 (commit c4e90a0): one model
compiled with ``resolve``, one ``attach`` model and one with a ``LossLayer``.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

import lossreg  # noqa: F401  (registers lossreg's Keras classes, as a user's `import lossreg` does)

HERE = Path(__file__).parent / "fixtures" / "saved_0_2_0"
EXPECTED = json.loads((HERE / "expected.json").read_text(encoding="utf-8"))
X = np.asarray(EXPECTED["x"], "float32")
Y_A, Y_B = np.asarray(EXPECTED["y_a"], "float32"), np.asarray(EXPECTED["y_b"], "float32")
DATA = {"resolve": (X, {"a": Y_A, "b": Y_B}), "attach": (X, {"b": Y_B}), "loss_layer": ([X, Y_B], None)}


@pytest.mark.parametrize("name", sorted(DATA))
def test_a_model_saved_by_0_2_0_loads_in_safe_mode_and_evaluates_to_the_same_loss(name):
    model = keras.saving.load_model(HERE / f"{name}.keras", safe_mode=True)
    x, y = DATA[name]
    loss = model.evaluate(x, y, verbose=0, return_dict=True)["loss"]
    np.testing.assert_allclose(loss, EXPECTED[name], rtol=1e-6)
