"""Test-wide settings, applied before TensorFlow is first imported."""

import os

# Quiet TensorFlow's C++ start-up logging, and turn off oneDNN's re-ordered float sums so that golden
# comparisons against raw TensorFlow are deterministic on every CPU.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # the suite runs once per backend: KERAS_BACKEND=jax|torch

if os.environ["KERAS_BACKEND"] == "torch":
    # torch before TensorFlow in a process that loads both (Keras imports TF for tf.data): triton has crashed
    # when loaded after TensorFlow.
    import torch  # noqa: F401
