"""Per-term figures for ``compile(loss=lossreg.resolve(spec))``: each term of a multi-term entry as a metric.

Keras gives a compiled loss no way to log: ``CompileLoss`` logs only its own ``<output>_loss`` trackers, and a
value computed inside the loss cannot be read by a metric afterwards (on JAX it lives inside the gradient's
trace). So the terms are logged the way Keras allows, as metrics that compute each term again on the same
batch: ``model.compile(loss=lossreg.resolve(spec), metrics=lossreg.term_metrics(spec))``. ``lossreg.attach``
logs the same figures without computing anything twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

from lossreg.keras._engine import bind, float_dtype, loss_value, term_labels
from lossreg.spec import Problems, check_compilable, parse, read_terms

__all__ = ["TermMetric", "term_metrics"]


@keras.saving.register_keras_serializable(package="lossreg")
class TermMetric(keras.metrics.Mean):
    """The running mean of one loss term on the batches seen, as Keras logs ``<output>_loss``.

    Args:
        loss: a registered loss name.
        params: its parameters.
        weight: the term's weight; logged only when ``weighted`` (then the figure is ``weight * loss``).
        weighted: log the weighted term instead of the unweighted one.
        name: the metric name (Keras prefixes the output name on a model of several outputs).

    Each batch's value is the loss's mean as ``compile`` computes it (Keras' mask and, for metrics passed as
    ``weighted_metrics``, the sample weights), weighted by the batch size, as Keras weights ``<output>_loss``.

    Examples:
        >>> import lossreg
        >>> metric = lossreg.TermMetric("mae", name="mae_loss")
        >>> metric.update_state([[1.0]], [[3.0]])
        >>> float(metric.result())
        2.0
    """

    def __init__(
        self,
        loss: str,
        params: Mapping[str, Any] | None = None,
        weight: float = 1.0,
        weighted: bool = False,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name or f"{loss}_loss", dtype=dtype or "float32")
        saved = {"loss": loss, "params": dict(params or {}), "weight": weight}
        (term,) = read_terms([saved], root=f"TermMetric(name={self.name!r})")  # a saved config is untrusted
        self._term = bind(term.loss, term.params, term.weight, path=term.path)
        self._config = {"loss": term.loss, "params": dict(term.params), "weight": term.weight, "weighted": weighted}

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        value = loss_value(
            [self._term],
            y_true,
            y_pred,
            sample_weight,
            dtype=float_dtype(),
            name=self._term.loss,
            weighted=False,
        )
        if self._config["weighted"]:
            value = value * self._term.weight
        first = keras.tree.flatten(y_pred)[0] if isinstance(y_pred, Mapping) else y_pred
        batch = keras.ops.shape(keras.ops.convert_to_tensor(first))[0]
        super().update_state(value, sample_weight=batch)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, **self._config}


def term_metrics(spec: Any) -> Any:
    """Metrics that log each term of every multi-term entry of ``spec``, for ``compile(metrics=...)``.

    Args:
        spec: the spec given to :func:`lossreg.resolve`.

    Returns:
        For a single entry a list of metrics; for a dict spec ``{output: [metrics]}``; for a list spec a list of
        lists (one per output) — the structures ``compile(metrics=...)`` takes. A term logs ``<loss>_loss``
        (unweighted) and, when its weight is not 1, ``<loss>_weighted_loss``; Keras prefixes ``<output>_`` on a
        model of several outputs, giving the names ``lossreg.attach`` logs. Entries of one term get no metric:
        Keras already logs them as ``<output>_loss``.

    Examples:
        >>> import lossreg
        >>> spec = {"loss": ["mse", {"loss": "mae", "weight": 0.5}]}
        >>> [m.name for m in lossreg.term_metrics(spec)]
        ['mse_loss', 'mae_loss', 'mae_weighted_loss']
    """
    parsed = parse(spec)
    found: dict[Any, list[TermMetric]] = {}
    for key, entry in parsed.entries.items():
        check_compilable(entry, parsed.loss_defs, Problems())  # what resolve accepts, with its messages
        metrics: list[TermMetric] = []
        if len(entry.terms) > 1:
            for term, label in zip(entry.terms, term_labels("", [t.loss for t in entry.terms]), strict=True):
                label = label.removeprefix("_")
                metrics.append(TermMetric(term.loss, term.params, term.weight, name=f"{label}_loss"))
                if term.weight != 1.0:
                    metrics.append(
                        TermMetric(term.loss, term.params, term.weight, weighted=True, name=f"{label}_weighted_loss")
                    )
        found[key] = metrics
    if parsed.kind == "single":
        return found[None]
    if parsed.kind == "list":
        return [found.get(i, []) for i in range(parsed.length)]
    return found
