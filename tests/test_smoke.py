"""End-to-end: seed 003's model compiled from the packaged spec trains and reloads."""

import subprocess
import sys

import numpy as np

import lossreg
from lossreg import _demo


def test_demo_trains_and_reloads_to_the_same_loss():
    before, after = _demo.run(epochs=2, verbose=0)
    assert np.isfinite(before)
    assert after == np.float32(before) or abs(after - before) <= 1e-6 * abs(before)


def test_import_does_not_load_tensorflow():
    code = "import sys, lossreg; lossreg.names(); print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_resolve_folds_weights_into_named_losses():
    losses = lossreg.resolve({"a": "mse", "b": {"loss": "softmax_ce", "weight": 2.0}})
    assert {k: v.name for k, v in losses.items()} == {"a": "mse", "b": "2x_softmax_ce"}
    y = np.array([[0.0, 1.0]], "float32")
    logits = np.array([[0.5, -0.5]], "float32")
    expected = 2.0 * (np.log(np.exp(0.5) + np.exp(-0.5)) + 0.5)
    np.testing.assert_allclose(float(losses["b"](y, logits)), expected, rtol=1e-6)
