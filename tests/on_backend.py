"""The Keras backend this test run is on, and the one way a test says it runs only on some backends (and why).

The suite runs once per backend (``KERAS_BACKEND=tensorflow|jax|torch``; ``.ci/test.sh`` loops over them).
References are float64 NumPy and run everywhere; a test that needs one backend (a raw TensorFlow golden
reference, ``tf.distribute``) is marked with :func:`only_on`, whose skip reason names why.

The large matrices (loss x option x regime x dtype) run every case on the reference backend, TensorFlow, and a
deterministic covering sample on JAX and PyTorch: :func:`covering`, the one rule every cut matrix uses (it says why
a sample still proves the backend-neutral claims). ``LOSSREG_FULL_MATRICES=1`` runs every case on any backend.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Iterable
from typing import Any

import keras
import pytest

BACKEND: str = keras.backend.backend()
_PARAM = type(pytest.param())  # pytest's ParameterSet


def only_on(*backends: str, why: str) -> pytest.MarkDecorator:
    """Skip unless the backend is one of ``backends``; the skip reason says ``why`` the test needs it."""
    return pytest.mark.skipif(
        BACKEND not in backends, reason=f"{why}: runs on {' and '.join(backends)}, this run is on {BACKEND}"
    )


#: a raw TensorFlow golden reference (``tf.nn.*``, ``tf.linalg.band_part``): TensorFlow ops on TensorFlow tensors
RAW_TF = only_on("tensorflow", why="raw TensorFlow golden reference (the float64 NumPy reference runs everywhere)")


# ----------------------------------------------------------------------------------------------------------------
# the large matrices: every case on the reference backend, a covering sample on the others

#: the backend that runs every case of the large matrices (where the raw TensorFlow golden references run too)
REFERENCE_BACKEND = "tensorflow"
#: ``LOSSREG_FULL_MATRICES=1`` runs every case on any backend (before a release, or to chase a backend's bug)
FULL_MATRICES: bool = BACKEND == REFERENCE_BACKEND or os.environ.get("LOSSREG_FULL_MATRICES", "") == "1"


def covering(cases: Iterable[Any], *features: Callable[..., Hashable], what: str = "case") -> list[Any]:
    """A large matrix's cases: every one runs on the reference backend (TensorFlow); on the others only a covering
    sample runs and the rest skip, saying so. The one rule for every cut matrix of the suite.

    Why a sample proves enough there: the losses' math is proved case by case on the reference backend, against
    float64 NumPy references. The other backends run the same test code on the same losses, so what they can get
    wrong is how the backend executes it: its autodiff, its dtype promotion, its kernels for the ops a loss uses,
    its handling of NaN, inf and 0 x inf. Those depend on the aspects the ``features`` name (the loss, the option
    that changes its arithmetic, the input regime, the dtype), one at a time or in the pairs a feature names, not
    on every combination of them: so every value of every feature runs on every backend at least once.

    How the sample is chosen (deterministic, not random: the same cases every run and on every machine): greedy
    set cover. Each case shows one value per feature (``feature(*case_values)``); the case showing the most values
    no chosen case has shown yet is chosen (the earliest in the matrix's order on a tie), until every value of every
    feature has been shown. Adding a loss or an option to a matrix adds it to the sample.

    Args:
        cases: the parametrisation's cases: ``pytest.param(...)`` objects, tuples of values (one per argument) or
            single values.
        features: functions of a case's values, each naming one aspect every backend must run (a tuple of aspects
            for a pair).
        what: what a case is, for the skip reason.

    Returns:
        ``pytest.param`` objects (ids and marks kept); off the reference backend, those outside the sample are marked
        skip, with a reason naming the rule (``LOSSREG_FULL_MATRICES=1`` runs them all).
    """
    params = [c if isinstance(c, _PARAM) else pytest.param(*(c if isinstance(c, tuple) else (c,))) for c in cases]
    if FULL_MATRICES:
        return params
    shows = [{(i, feature(*p.values)) for i, feature in enumerate(features)} for p in params]
    left = set().union(*shows)
    chosen: set[int] = set()
    while left:
        best = max(range(len(params)), key=lambda k: (len(shows[k] & left), -k))
        chosen.add(best)
        left -= shows[best]
    skip = pytest.mark.skip(
        reason=f"{what} outside the covering sample (on_backend.covering): every case runs on {REFERENCE_BACKEND}, "
        f"this run is on {BACKEND} (LOSSREG_FULL_MATRICES=1 runs them all)"
    )
    return [
        p if k in chosen else pytest.param(*p.values, id=p.id, marks=(*p.marks, skip)) for k, p in enumerate(params)
    ]
