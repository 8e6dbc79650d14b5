"""mkdocs-gen-files script: one page per registered loss, generated from the registry at build time.

Every part of a page comes from what ``lossreg.describe(name)`` knows — the summary, the docstring's sections
(``Formula:``, implementation notes, ``Normalizer:``, ``Numerics:``, ``Conventions:``, ``Reference:``,
``Examples:``), the parameters with their types, defaults and values, the extras, the optional dense tensors and
the input declaration — so a new loss, built in or from an installed plugin, gets its page with no change here.
Keras' own names (``mse``, ``huber``, ...) get a page from the registry's data and Keras' own docstring.

Writes ``losses/index.md`` (the losses grouped by source), ``losses/<name>.md`` per plain name and
``losses/SUMMARY.md`` (the section's navigation, for mkdocs-literate-nav).
"""

from __future__ import annotations

import doctest
import html
import importlib
import inspect
import io
import pprint
import re
import textwrap
from collections.abc import Iterable
from typing import Any

import mkdocs_gen_files
from mkdocs.structure.files import InclusionLevel

import lossreg
import lossreg.plot
from lossreg.registry import KERAS_LOSSES, REGISTRY, LossInfo, doc_args, doc_sections

#: the sections of the index and of the navigation, in order: (source, title)
GROUPS = (
    ("lossreg", "lossreg (built in)"),
    ("lossreg-segmentation", "lossreg-segmentation"),
    ("lossreg-generative", "lossreg-generative"),
    ("keras", "Keras' names"),
)
_TARGETS = {
    "one_hot": "one-hot (or soft) labels in [0, 1]",
    "unit": "masks or soft labels in [0, 1]",
    "class_ids": "integer class ids in [0, classes)",
}
_TARGETS_SHORT = {"one_hot": "one-hot", "unit": "values in [0, 1]", "class_ids": "class ids"}
#: Keras' loss functions by keras.io page (https://keras.io/api/losses/<page>/#<function>-function)
_KERAS_PAGES = {
    "probabilistic_losses": (
        "binary_crossentropy",
        "binary_focal_crossentropy",
        "categorical_crossentropy",
        "categorical_focal_crossentropy",
        "sparse_categorical_crossentropy",
        "poisson",
        "kl_divergence",
        "ctc",
    ),
    "regression_losses": (
        "mean_squared_error",
        "mean_absolute_error",
        "mean_absolute_percentage_error",
        "mean_squared_logarithmic_error",
        "cosine_similarity",
        "huber",
        "log_cosh",
        "tversky",
        "dice",
    ),
    "hinge_losses": ("hinge", "squared_hinge", "categorical_hinge"),
}


# -- the figure of a loss's shape --------------------------------------------------------------------------------


#: the losses ``lossreg.plot.curves`` can draw (one prediction against a binary target), read once
_DRAWABLE = frozenset(lossreg.plot.drawable())


def _curves_figure(name: str) -> str | None:
    """The markdown of ``name``'s value and gradient figure (against the logit, or the probability for a loss on
    probabilities; for a positive and a negative target), drawn by ``lossreg.plot.curves`` into
    ``losses/<name>-curves.svg``; ``None`` for a loss it cannot draw (extras, one-hot or class-id targets): the page
    then has no "Shape" section."""
    if name not in _DRAWABLE:
        return None
    buffer = io.BytesIO()
    lossreg.plot.curves([name]).savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    with mkdocs_gen_files.open(f"losses/{name}-curves.svg", "wb") as image:
        image.write(buffer.getvalue())
    return (
        f"![{name}: its value and gradient against the prediction, for targets 1 and 0]({name}-curves.svg)\n\n"
        f"Drawn by the docs build with `lossreg.plot.curves([{name!r}])` (`lossreg plot curves {name} -o "
        f"{name}.svg`): values from the registered loss, gradients from the backend's autodiff. See "
        "[Plots](../guide/plots.md) to overlay losses or change parameters."
    )


# -- reStructuredText in docstrings to Markdown ------------------------------------------------------------------

_ROLE_MATH = re.compile(r":math:`([^`]+)`")
_LITERAL = re.compile(r"``(.+?)``")
_URL = re.compile(r"(?<![<(])(https?://[^\s<>()]+[^\s<>().,;:])")


def md(text: str) -> str:
    """Docstring text as Markdown: ``:math:`x``` is ``$x$`` (inline math), ````x```` is ```x``` (code), bare
    URLs are links."""
    text = _ROLE_MATH.sub(lambda m: f"${m.group(1)}$", text)
    text = _LITERAL.sub(lambda m: f"`{m.group(1)}`", text)
    return _URL.sub(r"<\1>", text)


_CODE_OR_MATH = re.compile(r"(`[^`]*`|\$[^$]*\$)")


def cell(text: str) -> str:
    """Markdown for one table cell: one line, a ``|`` escaped outside code (where the tables extension leaves it
    alone) and written ``\\vert`` in math."""
    parts = _CODE_OR_MATH.split(md(" ".join(text.split())))
    for i, part in enumerate(parts):
        if part.startswith("$"):
            parts[i] = part.replace("|", "\\vert ")
        elif not part.startswith("`"):
            parts[i] = part.replace("|", "\\|")
    return "".join(parts)


def code(text: str) -> str:
    """Inline code for a table cell that breaks only at spaces (Material breaks table code anywhere, which splits
    ``real_logits`` into ``real_logit`` / ``s``); ``|`` is an entity, so it cannot end the cell."""
    escaped = html.escape(text).replace("|", "&#124;")
    return f'<code style="word-break: normal; overflow-wrap: normal">{escaped}</code>'


_DEPTH = {"{": 1, "(": 1, "[": 1, "}": -1, ")": -1, "]": -1}


def formula_lines(tex: str) -> list[str]:
    """A formula's TeX cut at its top-level ``\\quad`` separators (a comma before one stays with the left part):
    ``\\ell = ...,\\quad p = ...`` shows as two centred lines, not one line wider than the page."""
    tex = " ".join(tex.split())
    parts, depth, start, i = [], 0, 0, 0
    while i < len(tex):
        char = tex[i]
        if char == "\\" and depth == 0 and tex.startswith(("\\quad", "\\qquad"), i):
            end = i + (6 if tex.startswith("\\qquad", i) else 5)
            if end == len(tex) or not tex[end].isalpha():
                parts.append(tex[start:i].strip())
                start = i = end
                continue
        if char == "\\":
            i += 2  # an escaped brace or bracket (\{, \[) does not nest
            continue
        depth += _DEPTH.get(char, 0)
        i += 1
    parts.append(tex[start:].strip())
    return [part.rstrip(",").rstrip("\\;").rstrip(",").strip() for part in parts if part.strip(" ,;\\")]


def display_math(tex: str) -> str:
    """Display math, one block per line of ``formula_lines``, each in a box that scrolls rather than overflows."""
    style = "overflow-x: auto; overflow-y: hidden; margin: 0.8em 0; padding: 0.1em 0"
    return "\n\n".join(
        f'<div class="lossreg-formula" style="{style}" markdown="1">\n\n$$\n{line}\n$$\n\n</div>'
        for line in formula_lines(tex)
    )


def paragraphs(text: str) -> str:
    """A docstring section as Markdown paragraphs (each paragraph joined to one line, blank lines kept)."""
    blocks = re.split(r"\n\s*\n", textwrap.dedent(text).strip())
    return "\n\n".join(md(" ".join(block.split())) for block in blocks if block.strip())


# -- the parts of a page -------------------------------------------------------------------------------------------


def logits_text(info: LossInfo, short: bool = False) -> str:
    """What ``y_pred`` holds: logits, probabilities, or what its ``from_logits`` parameter says."""
    expects = info.expects
    if expects is None or expects.from_logits is None:
        return "—" if short else ""
    if isinstance(expects.from_logits, str):
        parameter = expects.from_logits
        default = info.params[parameter].default if parameter in info.params else None
        if default is True:
            return "logits" + ("*" if short else f" (probabilities with `{parameter}=False`)")
        return "probabilities" + ("*" if short else f" in [0, 1] (logits with `{parameter}=True`)")
    return "logits" if expects.from_logits else ("probabilities" if short else "probabilities in [0, 1]")


def targets_text(info: LossInfo, short: bool = False) -> str:
    targets = info.expects.targets if info.expects is not None else None
    if targets is None:
        return "—" if short else ""
    return (_TARGETS_SHORT if short else _TARGETS)[targets]


def allowed_values(info: LossInfo, name: str) -> str:
    """The values a parameter takes, as data: its range, its ``Literal`` choices, or what its type allows."""
    param = info.params[name]
    if name in info.ranges:
        return f"`{info.ranges[name].bound()}`"
    choices = re.fullmatch(r"Literal\[(.*)\]", param.annotation)
    if choices:
        return ", ".join(f"`{c.strip()}`" for c in choices.group(1).split(","))
    if param.annotation == "bool":
        return "`True`, `False`"
    if name == "ignore_class":
        return "an integer, or `None`"
    if name == "class_weights":
        return "one number >= 0 per class, or `None`"
    return ""


def parameters_table(info: LossInfo, meanings: dict[str, str]) -> str:
    """One row per parameter: ``name: type = default`` (as in the signature), its values, its ``Args:`` text."""
    rows = ["| parameter | values | meaning |", "| --- | --- | --- |"]
    for param in info.params.values():
        annotation = f": {param.annotation}" if param.annotation else ""
        default = " (required)" if param.required else f" = {param.default!r}"
        signature = code(f"{param.name}{annotation}{default}")
        meaning = cell(meanings.get(param.name, ""))
        rows.append(f"| {signature} | {allowed_values(info, param.name)} | {meaning} |")
    return "\n".join(rows)


def inputs_table(info: LossInfo) -> str:
    """The tensors a loss reads: their declared shape, what they hold and the docstring's words about them."""
    shapes = info.expects.shapes if info.expects is not None else {}
    tensors = ["y_true", "y_pred", *info.extras, *info.dense_inputs]
    rows = ["| tensor | shape | holds | meaning |", "| --- | --- | --- | --- |"]
    for tensor in tensors:
        shape = code(f"({', '.join(shapes[tensor])})") if tensor in shapes else ""
        holds = {"y_true": targets_text(info), "y_pred": logits_text(info)}.get(tensor, "")
        if shapes and tensor in ("y_true", "y_pred") and tensor not in shapes:
            holds = ""  # a loss of extra tensors only (GAN discriminators, vae_kl): y_true and y_pred are ignored
        if tensor in info.extras:
            holds = "an extra tensor (required)"
        elif tensor in info.dense_inputs:
            holds = "an optional tensor"
        meaning = info.args.get(tensor, "")
        if not (shape or holds or meaning):
            continue
        rows.append(f"| {code(tensor)} | {shape} | {cell(holds)} | {cell(meaning)} |")
    return "\n".join(rows)


def _spec_params(info: LossInfo) -> dict[str, Any]:
    """The parameters a usage example spells out: every one with a plain default (not the standard dense ones)."""
    return {
        p.name: p.default
        for p in info.params.values()
        if not p.required and p.name not in ("ignore_class", "class_weights") and p.default is not None
    }


def _py(value: Any, indent: int = 0) -> str:
    """A Python literal as the page writes it: wrapped at 100 columns, with double quotes."""
    text = pprint.pformat(value, width=100 - indent, sort_dicts=False).replace("'", '"')
    return text.replace("\n", "\n" + " " * indent)


def usage(info: LossInfo) -> str:
    """``lossreg.get`` and a spec entry for the loss, checked here: both are built once while the docs build."""
    params = _spec_params(info)
    lossreg.get(info.name, **params)  # a usage example that does not work fails the build
    spec: dict[str, Any] = {"loss": info.name}
    if params:
        spec["params"] = params
    arguments = "".join(f", {k}={_py(v)}" for k, v in params.items())
    if len(arguments) > 60:
        arguments = ",\n" + "".join(f"    {k}={_py(v)},\n" for k, v in params.items())
    lines = ["```python", "import lossreg", ""]
    if not info.extras:
        lossreg.resolve(spec)
        lines += [
            "# one keras.losses.Loss",
            f'loss = lossreg.get("{info.name}"{arguments})',
            "# the same as a spec entry (a dict, or JSON, TOML, YAML)",
            f"spec = {_py(spec, 7)}",
            'model.compile(optimizer="adam", loss=lossreg.resolve({"<output>": spec}))',
        ]
    else:
        entry = dict(spec)
        if info.expects is not None and "y_pred" in info.expects.shapes:
            entry["on"] = "<output>"
        entry["inputs"] = {extra: "<layer>" for extra in info.extras}
        lines += [
            "# the extra tensors come from layers of the model: lossreg.attach wires them by name",
            f"spec = {_py({info.name: entry}, 7)}",
            "train = lossreg.attach(model, spec)",
            'train.compile(optimizer="adam")',
        ]
    lines.append("```")
    return "\n".join(lines)


def examples(text: str) -> str:
    """The ``Examples:`` section as Markdown: its doctests in ``pycon`` blocks, the prose between them as text."""
    out = []
    for block in re.split(r"\n\s*\n", textwrap.dedent(text).strip()):
        if block.lstrip().startswith(">>>"):
            out.append("```pycon\n" + textwrap.dedent(block) + "\n```")
        else:
            out.append(md(" ".join(block.split())))
    return "\n\n".join(out)


def run_examples(name: str, info: LossInfo, globs: dict[str, Any]) -> None:
    """Run the loss's doctest against its module's globals, as ``pytest --doctest-modules`` does.

    Run here, while the page is generated, because the page shows exactly this text: a page whose example does not
    give the printed output cannot be built (``mkdocs build --strict`` fails with the doctest's report). The
    doctests of ``lossreg`` and the plugins also run in the test suite, on each backend; this runs them on the
    backend the docs are built with.
    """
    test = doctest.DocTestParser().get_doctest(info.examples, dict(globs), f"{name} (Examples:)", None, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    report = io.StringIO()
    result = runner.run(test, out=report.write)
    if result.failed:
        raise RuntimeError(f"The example on the page of {name!r} fails:\n{report.getvalue()}")


def _function(name: str) -> Any:
    """The pure loss function behind ``name`` (its module's globals run the doctest), or its factory."""
    loss_def = REGISTRY.lookup(name)
    return loss_def.fn or loss_def.factory


def _public_path(fn: Any) -> str:
    """``lossreg.losses.<name>`` for a built-in (not its private module), else the function's module path."""
    if fn.__module__.startswith("lossreg.losses.") and fn.__name__ in lossreg.losses.__all__:
        return f"lossreg.losses.{fn.__name__}"
    return f"{fn.__module__}.{fn.__name__}"


def _also_named(name: str) -> list[str]:
    record = REGISTRY.entry(name).record
    return [n for n in (record.registered_names if record is not None else ()) if n != name]


def lossreg_page(name: str, info: LossInfo) -> str:
    """The page of a lossreg or plugin loss."""
    fn = _function(name)
    out = [f"# `{name}`", "", md(info.summary), ""]
    facts = [f"- **Source:** {info.source}, the function `{_public_path(fn)}`"]
    also = _also_named(name)
    if also:
        facts.append("- **Also registered as:** " + ", ".join(f"`{n}`" for n in also))
    if logits_text(info):
        facts.append(f"- **Predictions:** {logits_text(info)}")
    if targets_text(info):
        facts.append(f"- **Targets:** {targets_text(info)}")
    out += [*facts, ""]
    if info.formula:
        out += ["## Formula", "", display_math(info.formula), ""]
    if info.notes:
        out += [paragraphs(info.notes), ""]
    figure = _curves_figure(name)
    if figure:
        out += ["## Shape", "", figure, ""]
    if info.params:
        out += ["## Parameters", "", parameters_table(info, info.args), ""]
    out += ["## Inputs", "", inputs_table(info), ""]
    if info.expects is not None and info.expects.shapes:
        out += [
            "Shapes are checked before the loss runs (and values, in eager calls): an axis word binds one size "
            "across the tensors, `...` is any number of axes.",
            "",
        ]
    if info.dense_inputs or "ignore_class" in info.params:
        out += ["Ignored classes, masks and weight maps: see [Dense targets](../guide/dense.md).", ""]
    if info.extras:
        out += [
            "Extra tensors come from the model's layers: see [attach and LossLayer](../guide/attach.md).",
            "",
        ]
    if info.returns:
        out += [f"**Returns:** {paragraphs(info.returns)}", ""]
    if info.raises:
        out += [f"**Raises:** {paragraphs(info.raises)}", ""]
    out += ["## Usage", "", usage(info), ""]
    if info.examples:
        run_examples(name, info, getattr(fn, "__globals__", {}))  # the page shows it: it must pass (see there)
        out += ["## Example", "", "Run as a doctest when these docs are built.", "", examples(info.examples), ""]
    if info.normalizer:
        out += ["## Normaliser", "", paragraphs(info.normalizer), ""]
    if info.conventions:
        out += ["## Conventions", "", paragraphs(info.conventions), ""]
    if info.numerics:
        out += ["## Numerics", "", paragraphs(info.numerics), ""]
        out += ["All losses at a glance: [Numerical safety](../guide/numerics.md).", ""]
    if info.references:
        out += ["## References", "", paragraphs(info.references), ""]
    return "\n".join(out)


def _keras_formula(doc: str) -> str:
    """The ``Formula:`` of a Keras docstring: Keras writes its code block at the heading's indent, so it runs up to
    the next heading (``Example:``, ``Args:``) rather than over the lines indented under it."""
    lines = doc.splitlines()
    if "Formula:" not in (line.strip() for line in lines):
        return ""
    start = [line.strip() for line in lines].index("Formula:") + 1
    body = []
    for line in lines[start:]:
        if re.fullmatch(r"[A-Z][A-Za-z ]*:", line.strip()) and not line.startswith(" "):
            break
        body.append(line)
    return textwrap.dedent("\n".join(body)).strip()


def _keras_function(function: str) -> Any:
    keras = importlib.import_module("keras")
    return getattr(keras.losses, function)


def keras_summary(name: str) -> str:
    """The first line of the docstring of the Keras function a Keras name calls."""
    doc = inspect.getdoc(_keras_function(KERAS_LOSSES[name][0])) or ""
    return doc.splitlines()[0] if doc else ""


def keras_page(name: str, info: LossInfo) -> str:
    """The page of one of Keras' names: the registry's signature and ranges, Keras' docstring, its keras.io page."""
    function, _ = KERAS_LOSSES[name]
    keras_doc = inspect.getdoc(_keras_function(function)) or ""
    sections = doc_sections(keras_doc)
    page = next((p for p, functions in _KERAS_PAGES.items() if function in functions), None)
    url = f"https://keras.io/api/losses/{page}/#{function}-function" if page else "https://keras.io/api/losses/"
    aliases = sorted(n for n, (f, _) in KERAS_LOSSES.items() if f == function and n != name)
    summary = keras_summary(name) or info.summary
    out = [f"# `{name}`", "", md(summary), ""]
    facts = [f"- **Source:** Keras, the function [`keras.losses.{function}`]({url})"]
    if aliases:
        facts.append("- **Also named:** " + ", ".join(f"[`{a}`]({a}.md)" for a in aliases))
    if logits_text(info):
        facts.append(f"- **Predictions:** {logits_text(info)}")
    if targets_text(info):
        facts.append(f"- **Targets:** {targets_text(info)}")
    out += [*facts, ""]
    out += [
        f'Keras\' own loss, registered by name: `lossreg.get("{name}")` calls `keras.losses.{function}` (Keras is '
        "imported on the first call). lossreg adds what a spec needs: its parameters' types and values are checked "
        "where a spec is read, at the parameter's path, and `lossreg list`, `show` and `check` know it without "
        "importing Keras.",
        "",
    ]
    formula = _keras_formula(keras_doc)
    if formula:
        out += ["## Formula", "", "As Keras' docstring writes it:", "", md(formula), ""]
    figure = _curves_figure(name)
    if figure:
        out += ["## Shape", "", figure, ""]
    if info.params:
        out += ["## Parameters", "", parameters_table(info, doc_args(sections.get("args", ""))), ""]
        if info.ranges:
            out += ["The values are lossreg's checks (Keras checks none of them).", ""]
    if info.expects is not None:
        out += ["## Inputs", "", inputs_table(info), ""]
        out += ["lossreg checks these before Keras runs the loss (shapes always, values in eager calls).", ""]
    if sections.get("returns"):
        out += [f"**Returns** (Keras): {paragraphs(sections['returns'])}", ""]
    out += ["## Usage", "", usage(info), ""]
    out += [f"Keras' documentation: <{url}>.", ""]
    return "\n".join(out)


# -- the index and the navigation ----------------------------------------------------------------------------------


def group_of(info: LossInfo) -> str:
    known = {source for source, _ in GROUPS}
    return info.source if info.source in known else "lossreg"


def index_page(grouped: dict[str, list[tuple[str, LossInfo]]]) -> str:
    out = [
        "# Losses",
        "",
        "One page per registered loss, generated from the registry when these docs are built: its formula, "
        "parameters, inputs, normaliser, numerics, references and a runnable example. Every loss of an installed "
        "plugin is reachable as `name` and as `distribution:name` (`lossreg list` shows both).",
        "",
        "Predictions: what the loss expects in `y_pred` (or its extra tensors) by default; * : its `from_logits` "
        "parameter switches it. Targets: what `y_true` holds, checked before the loss runs.",
        "",
    ]
    for source, title in GROUPS:
        losses = grouped.get(source, [])
        if not losses:
            continue
        out += [f"## {title}", "", "| name | summary | predictions | targets |", "| --- | --- | --- | --- |"]
        for name, info in losses:
            summary = cell(keras_summary(name) if source == "keras" else info.summary)
            out.append(f"| [{name}]({name}.md) | {summary} | {logits_text(info, True)} | {targets_text(info, True)} |")
        out.append("")
    return "\n".join(out)


def summary_nav(grouped: dict[str, list[tuple[str, LossInfo]]]) -> Iterable[str]:
    yield "* [All losses](index.md)\n"
    for source, title in GROUPS:
        if grouped.get(source):
            yield f"* {title}\n"
            yield from (f"    * [{name}]({name}.md)\n" for name, _ in grouped[source])


def main() -> None:
    grouped: dict[str, list[tuple[str, LossInfo]]] = {}
    for name in lossreg.names():
        if ":" in name:  # a plugin's qualified alias: mentioned on the plain name's page
            continue
        info = lossreg.describe(name)
        grouped.setdefault(group_of(info), []).append((name, info))
        page = keras_page(name, info) if info.source == "keras" else lossreg_page(name, info)
        with mkdocs_gen_files.open(f"losses/{name}.md", "w") as file:
            file.write(page)
    with mkdocs_gen_files.open("losses/index.md", "w") as file:
        file.write(index_page(grouped))
    with mkdocs_gen_files.open("losses/SUMMARY.md", "w") as file:
        file.writelines(summary_nav(grouped))
    # SUMMARY.md is literate-nav's input, not a page: excluded, it is read for the nav and not built (it would be
    # losses/SUMMARY/index.html, a page outside the nav)
    nav_file = mkdocs_gen_files.FilesEditor.current().files.get_file_from_path("losses/SUMMARY.md")
    if nav_file is not None:
        nav_file.inclusion = InclusionLevel.EXCLUDED


main()
