"""What the test suites know about one loss: its float64 reference, its input recipe and the cases each suite runs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Shape = tuple[int, ...]
#: ``recipe(rng, shape, params)``: typical inputs of the loss (``y_true``, ``y_pred`` and extras) as float64 arrays.
Recipe = Callable[[np.random.Generator, Shape, Mapping[str, Any]], dict[str, np.ndarray]]

#: test_numerics' input families, each with its own extreme regimes (logits at ±1e4, probabilities 0 and 1, ...)
KINDS = frozenset(
    {"binary", "categorical", "pairs", "binary_probs", "categorical_probs", "pair_probs", "latent", "gan_g", "gan_d"}
)


@dataclass(frozen=True)
class Conformance:
    """One ``check_loss`` run (tests/test_conformance.py): parameters, the recipe's input shape, check_loss keywords."""

    params: dict[str, Any]
    shape: Shape
    check: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Extreme:
    """One configuration of test_numerics' extreme-input matrix.

    ``kind`` picks the regimes; ``pulls`` says whether a confidently wrong prediction still has a gradient pulling
    it towards the target (every cross-entropy on logits does; an overlap term on saturated logits does not).
    """

    params: dict[str, Any]
    kind: str
    pulls: bool = True

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Extreme.kind must be one of {sorted(KINDS)}; received {self.kind!r}.")


@dataclass(frozen=True)
class Reference:
    """One loss, as every suite sees it.

    Attributes:
        name: the registered name.
        fn: the float64 NumPy reference of the documented formula, called as
            ``fn(y_true, y_pred, **extras, **params)``; it returns what the loss function returns (per-sample or
            per-element values, before Keras reduces). Losses that ignore ``y_true``/``y_pred`` accept ``None``.
        recipe: typical inputs for golden values and ``check_loss``.
        extras: the loss's extra tensors, in the order the loss declares them.
        golden: ``(params, shapes)`` written to tests/golden/golden_values.json by make_golden.py, each shape once
            (batch 1 and batch > 1), and compared against raw TensorFlow by test_losses_golden.py. New cases go
            at the end of ``REFERENCES``: the inputs are drawn from one seeded generator in table order.
        conformance: the ``check_loss`` runs of tests/test_conformance.py (plugins run their own).
        extremes: test_numerics' configurations.
        tf_extremes: ``("logits" | "probabilities", params)`` of test_losses_golden's (d) tests against raw TF at
            logits of ±1e4 and probabilities of exactly 0 and 1.
    """

    name: str
    fn: Callable[..., np.ndarray]
    recipe: Recipe
    extras: tuple[str, ...] = ()
    golden: tuple[tuple[dict[str, Any], tuple[Shape, ...]], ...] = ()
    conformance: tuple[Conformance, ...] = ()
    extremes: tuple[Extreme, ...] = ()
    tf_extremes: tuple[tuple[str, dict[str, Any]], ...] = ()

    def __post_init__(self) -> None:
        if not self.extremes:
            raise ValueError(f"Reference {self.name!r}: list at least one Extreme (test_numerics runs every loss).")
        for regime, _ in self.tf_extremes:
            if regime not in ("logits", "probabilities"):
                raise ValueError(f"Reference {self.name!r}: tf_extremes regime {regime!r} is not logits/probabilities.")

    def __call__(self, inputs: Mapping[str, Any], params: Mapping[str, Any] | None = None) -> np.ndarray:
        """The reference's values on ``{"y_true": ..., "y_pred": ..., <extra>: ...}`` (missing ones are None)."""
        extras = {k: v for k, v in inputs.items() if k not in ("y_true", "y_pred")}
        return np.asarray(self.fn(inputs.get("y_true"), inputs.get("y_pred"), **extras, **(params or {})))
