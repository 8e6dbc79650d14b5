"""The Keras backend this test run is on, and the one way a test says it runs only on some backends (and why).

The suite runs once per backend (``KERAS_BACKEND=tensorflow|jax|torch``; ``.ci/test.sh`` loops over them).
References are float64 NumPy and run everywhere; a test that needs one backend (a raw TensorFlow golden
reference, ``tf.distribute``) is marked with :func:`only_on`, whose skip reason names why.
"""

from __future__ import annotations

import keras
import pytest

BACKEND: str = keras.backend.backend()


def only_on(*backends: str, why: str) -> pytest.MarkDecorator:
    """Skip unless the backend is one of ``backends``; the skip reason says ``why`` the test needs it."""
    return pytest.mark.skipif(
        BACKEND not in backends, reason=f"{why}: runs on {' and '.join(backends)}, this run is on {BACKEND}"
    )


#: a raw TensorFlow golden reference (``tf.nn.*``, ``tf.linalg.band_part``): TensorFlow ops on TensorFlow tensors
RAW_TF = only_on("tensorflow", why="raw TensorFlow golden reference (the float64 NumPy reference runs everywhere)")
