"""The loss registry: one table of named losses, each a ``LossDef`` read once, with plugin discovery.

Public here, for tools, tests and plugins:

* ``REGISTRY``, lossreg's registry, and ``Registry``, a private one for tests (``Registry(entry_points=[
  PluginEntryPoint(name, "module:attr", distribution)])``): isolated, with faked entry points;
* ``LossDef`` (what ``Registry.lookup`` returns), ``LossInfo`` and ``Param`` (what ``describe`` returns);
* ``static_metadata``: the reader behind ``lossreg list``, a plugin loss's summary and extras from its source;
* ``conflict_rule``, ``LossregPluginWarning``, ``PluginRecord``, ``GROUP``: plugin discovery;
* ``KERAS_LOSSES``: Keras' names and signatures as data;
* ``doc_sections``, ``doc_args``: the docstring reader behind ``LossInfo``'s sections (the docs site uses it
  on Keras' own docstrings).

Nothing in this package imports Keras until a loss is called (``ops``, ``promote`` and Keras' own losses
import it then).
"""

from lossreg.registry._api import describe, names, register
from lossreg.registry._authoring import loss_factory, ops, promote
from lossreg.registry._conflict import LossregPluginWarning, Ruling, conflict_rule
from lossreg.registry._dense import class_weight_vector, keep_mask, masked_values, zero_ignored
from lossreg.registry._entry_points import GROUP, PluginEntryPoint, PluginRecord
from lossreg.registry._expects import Expects
from lossreg.registry._keras_names import KERAS_LOSS_NAMES, KERAS_LOSSES
from lossreg.registry._lossdef import LossDef, LossInfo, doc_args, doc_sections
from lossreg.registry._params import DENSE_INPUTS, Param, is_extra_name
from lossreg.registry._static import static_metadata
from lossreg.registry._table import REGISTRY, Entry, Registry

__all__ = [
    "DENSE_INPUTS",
    "GROUP",
    "KERAS_LOSSES",
    "KERAS_LOSS_NAMES",
    "REGISTRY",
    "Entry",
    "Expects",
    "LossDef",
    "LossInfo",
    "LossregPluginWarning",
    "Param",
    "PluginEntryPoint",
    "PluginRecord",
    "Registry",
    "Ruling",
    "class_weight_vector",
    "conflict_rule",
    "describe",
    "doc_args",
    "doc_sections",
    "is_extra_name",
    "keep_mask",
    "loss_factory",
    "masked_values",
    "names",
    "ops",
    "promote",
    "register",
    "static_metadata",
    "zero_ignored",
]
