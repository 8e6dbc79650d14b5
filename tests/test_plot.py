"""lossreg.plot and ``lossreg plot``: the files are written, and the plotted data are the losses' values and gradients.

Every figure is checked through its artists (``ax.get_lines()``, ``line.get_xdata()/get_ydata()``, labels), never
its pixels: ``curves`` against the float64 NumPy references of tests/references/ (values, and gradients by central
finite differences or the closed form) and against the loss called directly; ``history`` against the columns of a
real ``CSVLogger`` file and ``History`` JSON from training a two-term model.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import keras
import numpy as np
import pytest
from on_backend import BACKEND
from references import REFERENCES

import lossreg
from lossreg.cli import main

pytest.importorskip("matplotlib", reason="lossreg.plot needs matplotlib (the plot extra: lossreg-core[plot])")

from lossreg.plot import curves, drawable, history

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0")
# the figure computes in float32 on every backend, as training does; the references are float64
VALUE_TOL = {"rtol": 2e-5, "atol": 2e-6}
GRAD_TOL = {"rtol": 2e-4, "atol": 2e-5}


def panels(fig):
    """``{(row, target): {label: (x, y)}}`` for curves' four panels: rows "value" and "gradient", targets 1 and 0."""
    found = {}
    for ax, key in zip(fig.axes, [("value", 1), ("value", 0), ("gradient", 1), ("gradient", 0)], strict=True):
        found[key] = [(line.get_label(), line.get_xdata(), line.get_ydata()) for line in ax.get_lines()]
    return found


def finite_difference(fn, x, h=1e-5):
    """d fn / dx at each point of x, by float64 central differences (fn elementwise in x)."""
    return (fn(x + h) - fn(x - h)) / (2 * h)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# -- curves: the data are the loss's values and gradients ---------------------------------------------------------


CASES = [
    ("sigmoid_bce", {}),
    ("sigmoid_bce", {"pos_weight": 3.0}),
    ("sigmoid_focal", {}),
    ("sigmoid_focal", {"gamma": 5.0, "alpha": 0.6}),
    ("sigmoid_dice", {}),
    ("sigmoid_dice", {"smooth": 0.1}),
    ("soft_dice", {"smooth": 0.5}),  # the segmentation plugin's, on logits by default
]


@pytest.mark.parametrize(("name", "params"), CASES, ids=[f"{n}-{p}" for n, p in CASES])
def test_curves_plot_each_losss_values_and_autodiff_gradients_against_the_logit(name, params):
    fig = curves([name], {name: params} if params else None)
    reference = REFERENCES[name].fn
    plotted = panels(fig)
    for target in (1, 0):
        ((label, x, value),) = plotted["value", target]
        ((label_g, x_g, gradient),) = plotted["gradient", target]
        assert (
            label
            == label_g
            == name + (" (" + ", ".join(f"{k}={v:g}" for k, v in params.items()) + ")" if params else "")
        )
        np.testing.assert_array_equal(x, x_g)
        assert (x[0], x[-1], len(x)) == (-6.0, 6.0, 201)

        def ref(z, target=target):
            z = np.asarray(z, dtype="float64").reshape(-1, 1)
            return reference(np.full_like(z, float(target)), z, **params).reshape(-1)

        np.testing.assert_allclose(value, ref(x), **VALUE_TOL)
        np.testing.assert_allclose(gradient, finite_difference(ref, x), **GRAD_TOL)
    assert fig.axes[2].get_ylabel() == "d loss / d z" and fig.axes[2].get_xlabel() == "logit z"


def test_curves_bce_gradient_is_sigmoid_minus_the_target_and_values_equal_the_loss_called_directly():
    fig = curves(["sigmoid_bce", "sigmoid_focal"], points=[-3.0, -0.5, 0.0, 0.25, 4.0])
    plotted = panels(fig)
    for target in (1, 0):
        (_, x, bce), (_, _, focal) = plotted["value", target]
        (_, _, bce_grad), _ = plotted["gradient", target]
        np.testing.assert_array_equal(x, [-3.0, -0.5, 0.0, 0.25, 4.0])
        np.testing.assert_allclose(bce_grad, sigmoid(x) - target, **GRAD_TOL)  # d/dz of log-loss on logits
        np.testing.assert_allclose(bce, np.logaddexp(0, -x) if target else np.logaddexp(0, x), **VALUE_TOL)
        y_true = np.full((5, 1), float(target), "float32")
        y_pred = x.astype("float32").reshape(5, 1)
        direct = keras.ops.convert_to_numpy(lossreg.losses.sigmoid_focal(y_true, y_pred)).reshape(-1)
        np.testing.assert_allclose(focal, direct, rtol=1e-6, atol=1e-7)
        # and the Keras loss from lossreg.get averages exactly these values
        mean = float(keras.ops.convert_to_numpy(lossreg.get("sigmoid_bce")(y_true, y_pred)))
        np.testing.assert_allclose(mean, np.mean(bce), rtol=1e-6)


def test_curves_focal_with_gamma_0_and_no_alpha_is_bce_and_a_name_may_repeat_with_other_params():
    params = [None, {"gamma": 0.0, "alpha": None}, {"gamma": 2.0}]
    fig = curves(["sigmoid_bce", "sigmoid_focal", "sigmoid_focal"], params)
    plotted = panels(fig)
    for key, lines in plotted.items():
        labels = [label for label, _, _ in lines]
        assert labels == ["sigmoid_bce", "sigmoid_focal (gamma=0, alpha=None)", "sigmoid_focal (gamma=2)"], key
        (_, _, bce), (_, _, focal_0), (_, _, focal_2) = lines
        np.testing.assert_allclose(focal_0, bce, rtol=1e-6, atol=1e-7)
        assert not np.allclose(focal_2, bce)  # gamma = 2 down-weights the easy examples
    legend = [text.get_text() for text in fig.legends[0].get_texts()]
    assert legend == ["sigmoid_bce", "sigmoid_focal (gamma=0, alpha=None)", "sigmoid_focal (gamma=2)"]


def test_curves_a_loss_on_probabilities_is_drawn_against_the_logit_through_the_sigmoid():
    # Keras' binary_crossentropy takes probabilities (from_logits=False): against the logit it is BCE(sigmoid(z)),
    # whose gradient by the chain rule is sigmoid(z) - y, the same as sigmoid_bce's
    fig = curves(["binary_crossentropy", "sigmoid_bce"], points=np.linspace(-5, 5, 11))
    plotted = panels(fig)
    for target in (1, 0):
        (label, x, keras_bce), (_, _, bce) = plotted["value", target]
        assert label == "binary_crossentropy"
        np.testing.assert_allclose(keras_bce, bce, rtol=1e-5, atol=1e-6)
        (_, _, keras_grad), _ = plotted["gradient", target]
        np.testing.assert_allclose(keras_grad, sigmoid(x) - target, rtol=1e-4, atol=1e-5)
    assert fig.axes[2].get_xlabel() == "logit z (losses on probabilities get σ(z))"


def test_curves_against_the_probability():
    p = np.array([0.05, 0.2, 0.5, 0.8, 0.95])
    fig = curves(["sigmoid_bce", "binary_crossentropy"], x="probability", points=p)
    plotted = panels(fig)
    for target in (1, 0):
        for label, x, value in plotted["value", target]:
            np.testing.assert_allclose(x, p.astype("float32"), err_msg=label)
            np.testing.assert_allclose(value, -np.log(x) if target else -np.log1p(-x), rtol=1e-5, err_msg=label)
        for label, x, gradient in plotted["gradient", target]:  # d/dp of -log p and of -log(1 - p)
            np.testing.assert_allclose(gradient, -1 / x if target else 1 / (1 - x), rtol=1e-4, err_msg=label)
    assert fig.axes[2].get_ylabel() == "d loss / d p"
    assert fig.axes[3].get_xlabel() == "predicted probability p (losses on logits get log(p / (1 - p)))"


def test_curves_default_axis_is_the_probability_when_every_loss_takes_probabilities():
    fig = curves(["binary_crossentropy", "binary_focal_crossentropy"], points=5)
    x = fig.axes[0].get_lines()[0].get_xdata()
    np.testing.assert_allclose(x, np.linspace(0.005, 0.995, 5).astype("float32"))
    assert fig.axes[2].get_xlabel() == "predicted probability p"
    assert fig._suptitle.get_text() == "Loss value and gradient against the probability"
    # with from_logits=True the same Keras loss takes logits, and the axis is the logit
    fig = curves(["binary_crossentropy"], {"binary_crossentropy": {"from_logits": True}}, points=3)
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_xdata(), [-6.0, 0.0, 6.0])


def test_curves_figure_is_labelled():
    fig = curves(["sigmoid_bce", "sigmoid_focal", "sigmoid_dice"])
    assert [ax.get_title() for ax in fig.axes] == ["positive target, y = 1", "negative target, y = 0", "", ""]
    assert [ax.get_ylabel() for ax in fig.axes] == ["loss", "", "d loss / d z", ""]
    assert fig._suptitle.get_text() == "Loss value and gradient against the logit"
    assert all(ax.xaxis._major_tick_kw.get("gridOn") for ax in fig.axes)
    assert fig.canvas.__class__.__name__ == "FigureCanvasAgg"


@pytest.mark.parametrize("name", lossreg.names())
def test_every_registered_loss_is_drawn_with_finite_values_or_refused_by_name(name):
    short = name.split(":", 1)[1] if ":" in name and name.split(":", 1)[1] in lossreg.names() else name
    if short in drawable():
        for x in ("logit", "probability"):
            fig = curves([name], x=x, points=41)
            for ax in fig.axes:
                ((label, xs, ys),) = [(line.get_label(), line.get_xdata(), line.get_ydata()) for line in ax.get_lines()]
                assert label == name and len(xs) == 41 and np.all(np.isfinite(ys)), (x, ax.get_title(), ys)
    else:
        with pytest.raises(lossreg.LossSpecError, match=f"Cannot draw loss '{name}': it "):
            curves([name])


# -- files ------------------------------------------------------------------------------------------------------


def test_curves_writes_png_and_svg_by_suffix_and_the_same_figure_gives_the_same_bytes(tmp_path):
    png, svg = tmp_path / "curves.png", tmp_path / "curves.SVG"
    curves(["sigmoid_bce", "sigmoid_dice"], points=21, out=png)
    curves(["sigmoid_bce", "sigmoid_dice"], points=21, out=str(svg))
    assert png.read_bytes().startswith(PNG_MAGIC)
    root = ET.parse(svg).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    first = svg.read_bytes()
    curves(["sigmoid_bce", "sigmoid_dice"], points=21, out=str(svg))
    assert svg.read_bytes() == first  # no date, no random ids: a docs build does not change the file every time


@pytest.mark.parametrize("out", ["curves.pdf", "curves", "curves.png.txt"])
def test_curves_refuses_an_out_suffix_other_than_png_or_svg_before_drawing(tmp_path, out):
    with pytest.raises(lossreg.LossSpecError, match=r"the file type follows the suffix, which must be \.png or \.svg"):
        curves(["sigmoid_bce"], out=tmp_path / out)
    assert not (tmp_path / out).exists()


# -- curves: errors ---------------------------------------------------------------------------------------------


def test_curves_unknown_loss_suggests_the_closest_names():
    with pytest.raises(lossreg.LossSpecError, match=r"Unknown loss 'sigmoid_fokal'\. Did you mean 'sigmoid_focal'"):
        curves(["sigmoid_bce", "sigmoid_fokal"])


@pytest.mark.parametrize(
    ("name", "params", "why"),
    [
        ("vae_kl", {}, r"it takes extra tensors \(z_mean, z_log_var\) besides y_true and y_pred"),
        ("mse_bce", {}, r"it takes extra tensors \(aux\)"),
        ("softmax_ce", {}, r"it takes one-hot targets over a channel per class .*draw sigmoid_bce"),
        ("sparse_softmax_ce", {}, r"it takes integer class ids with a channel of predictions per class"),
        ("band_masked_softmax_ce", {}, r"it takes one-hot targets"),
        ("mse", {}, r"it declares neither its targets nor whether y_pred holds logits or probabilities"),
        ("circle", {}, r"it declares neither"),
        ("ns_gan_generator", {}, r"it declares no kind of targets"),
        ("soft_dice", {"activation": "softmax"}, r"it is constant with activation='softmax' over one channel"),
    ],
)
def test_curves_refuses_a_loss_it_cannot_draw_naming_what_it_takes_and_what_can_be_drawn(name, params, why):
    with pytest.raises(lossreg.LossSpecError, match=f"Cannot draw loss '{name}': {why}") as caught:
        curves(["sigmoid_bce", name], {name: params})
    drawable = str(caught.value).split("Losses that can be drawn: ", 1)[1].rstrip(".").split(", ")
    assert {"sigmoid_bce", "sigmoid_focal", "sigmoid_dice", "binary_crossentropy", "soft_dice"} <= set(drawable)
    assert not {"vae_kl", "softmax_ce", "mse", "sparse_soft_dice"} & set(drawable)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"params": {"sigmoid_focl": {"gamma": 2}}},
            r"params has an entry for 'sigmoid_focl'.*Did you mean 'sigmoid_focal'",
        ),
        ({"params": {"sigmoid_focal": {"gama": 2}}}, r"no parameter 'gama'\. Did you mean 'gamma'"),
        ({"params": {"sigmoid_focal": {"gamma": -1}}}, r"`gamma` must be in \[0, 100\], received gamma=-1"),
        ({"params": [{"gamma": 2}]}, r"params has 1 entries for 2 losses"),
        ({"params": {"sigmoid_focal": 2}}, r"params\['sigmoid_focal'\] must map parameter names to values"),
        ({"x": "logits"}, r"Invalid x='logits'.*Did you mean 'logit'"),
        ({"points": 1}, r"Invalid points=1: expected at least 2"),
        ({"points": [0.0, float("nan")]}, r"expected a count \(at least 2\) or a non-empty list of finite numbers"),
        ({"x": "probability", "points": [0.0, 0.5]}, r"probabilities must lie strictly between 0 and 1"),
    ],
)
def test_curves_bad_arguments_are_loss_spec_errors_that_say_what_to_do(kwargs, match):
    with pytest.raises(lossreg.LossSpecError, match=match):
        curves(["sigmoid_bce", "sigmoid_focal"], **kwargs)


# -- imports and the missing extra --------------------------------------------------------------------------------


def test_importing_lossreg_plot_imports_neither_matplotlib_nor_keras():
    code = (
        "import sys, lossreg.plot; "
        "print([m for m in ('matplotlib', 'keras', 'tensorflow', 'jax', 'torch') if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_lossreg_list_still_imports_neither_tensorflow_nor_matplotlib():
    code = (
        "import sys; from lossreg.cli import main; rc = main(['list']); "
        "print('LOADED', [m for m in ('tensorflow', 'keras', 'matplotlib') if m in sys.modules], rc)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.rsplit("LOADED", 1)[1].split() == ["[]", "0"]


def test_without_matplotlib_each_function_says_what_to_install(monkeypatch, tmp_path, capsys):
    for module in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, module, None)  # `import matplotlib...` now fails, as when not installed
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    install = r"not installed\. Install the plot extra: pip install 'lossreg-core\[plot\]'"
    with pytest.raises(ModuleNotFoundError, match=install) as caught:
        curves(["sigmoid_bce"])
    assert caught.value.name == "matplotlib"
    with pytest.raises(ModuleNotFoundError, match=install):
        history({"loss": [1.0, 0.5]})
    assert main(["plot", "curves", "sigmoid_bce", "-o", str(tmp_path / "c.png")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("lossreg: error: lossreg.plot draws with matplotlib, which is not installed.")
    assert "pip install 'lossreg-core[plot]'" in err and not (tmp_path / "c.png").exists()


# -- history: a real History, from training a two-term model ------------------------------------------------------


RAMP = {"schedule": "linear", "start": 0.0, "end": 1.0, "steps": 8}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A two-output model attached with a scheduled weight and a two-term entry, trained 3 epochs with validation:
    its CSVLogger file, its History JSON file and the History's dict."""
    folder = tmp_path_factory.mktemp("history")
    keras.utils.set_random_seed(0)
    inp = keras.Input((4,), name="x")
    model = keras.Model(inp, {"a": keras.layers.Dense(1, name="a")(inp), "b": keras.layers.Dense(3, name="b")(inp)})
    spec = {"a": {"loss": "sigmoid_bce", "weight": RAMP}, "b": {"loss": ["mse", {"loss": "mae", "weight": 0.5}]}}
    train = lossreg.attach(model, spec)
    train.compile(optimizer=keras.optimizers.SGD(0.05), jit_compile=BACKEND != "torch")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype("float32")
    y = {"a": (rng.random((32, 1)) < 0.5).astype("float32"), "b": rng.normal(size=(32, 3)).astype("float32")}
    logger = keras.callbacks.CSVLogger(str(folder / "training.csv"))
    fitted = train.fit(
        x,
        y,
        batch_size=8,
        epochs=3,
        verbose=0,
        validation_data=(x[:8], {k: v[:8] for k, v in y.items()}),
        callbacks=[logger],
    )
    with open(folder / "history.json", "w") as f:
        json.dump(fitted.history, f)
    return folder / "training.csv", folder / "history.json", fitted


def lines_by_label(fig):
    """Every line of every panel (twin weight axes included): label -> (panel title, x, y)."""
    found = {}
    by_place = {ax.get_position().bounds: ax.get_title() for ax in fig.axes if ax.get_title()}
    for ax in fig.axes:
        title = by_place[ax.get_position().bounds]  # a twin axis sits exactly on its panel
        for line in ax.get_lines():
            assert line.get_label() not in found, line.get_label()
            found[line.get_label()] = (title, line.get_xdata(), line.get_ydata())
    return found


EXPECTED_PANELS = {
    "loss": "total", "val_loss": "total",
    "a_loss": "a", "a_weighted_loss": "a", "a_weight": "a",
    "val_a_loss": "a", "val_a_weighted_loss": "a", "val_a_weight": "a",
    "b_mse_loss": "b_mse", "val_b_mse_loss": "b_mse",
    "b_mae_loss": "b_mae", "b_mae_weighted_loss": "b_mae",
    "val_b_mae_loss": "b_mae", "val_b_mae_weighted_loss": "b_mae",
}  # fmt: skip


def test_history_from_a_csv_logger_file_plots_each_column_in_its_terms_panel(trained, tmp_path):
    csv_file, _, _ = trained
    with open(csv_file, newline="") as f:
        rows = list(csv.DictReader(f))
    columns = {key: np.array([float(row[key]) for row in rows]) for key in rows[0]}
    assert set(columns) == {"epoch", *EXPECTED_PANELS}  # what attach logs (README "Logged, saved, ...")
    out = tmp_path / "history.png"
    fig = history(csv_file, out=out)
    assert out.read_bytes().startswith(PNG_MAGIC)
    plotted = lines_by_label(fig)
    assert {label: title for label, (title, _, _) in plotted.items()} == EXPECTED_PANELS
    for label, (_, x, y) in plotted.items():
        np.testing.assert_array_equal(x, columns["epoch"])
        np.testing.assert_array_equal(y, columns[label], err_msg=label)
    np.testing.assert_array_equal(columns["epoch"], [0, 1, 2])
    # the panels share the epoch axis; the weight (right axis) is the schedule at the optimizer's step (4, 8, 12)
    assert [ax.get_title() for ax in fig.axes[:4]] == ["total", "a", "b_mae", "b_mse"]
    assert all(ax.get_shared_x_axes().joined(fig.axes[0], ax) for ax in fig.axes)
    np.testing.assert_allclose(plotted["a_weight"][2], [lossreg.schedule_value(RAMP, s) for s in (4, 8, 12)])
    assert fig._suptitle.get_text() == "Training history: training.csv"


def test_history_from_a_history_json_file_a_dict_and_the_history_itself_are_the_same_figure(trained, tmp_path):
    _, json_file, fitted = trained
    saved = json.loads(json_file.read_text())
    assert saved == fitted.history
    out = tmp_path / "history.svg"
    for source in (json_file, str(json_file), saved, fitted):
        fig = history(source, out=out)
        plotted = lines_by_label(fig)
        assert {label: title for label, (title, _, _) in plotted.items()} == EXPECTED_PANELS
        for label, (_, x, y) in plotted.items():
            np.testing.assert_array_equal(x, [0, 1, 2])
            np.testing.assert_array_equal(y, saved[label], err_msg=label)
    assert ET.parse(out).getroot().tag == "{http://www.w3.org/2000/svg}svg"


def test_history_axes_labels_styles_and_twin_weight_axis():
    logs = {
        "loss": [3.0, 2.0],
        "kl_loss": [2.0, 1.0],
        "kl_weighted_loss": [0.0, 1.0],
        "kl_weight": [0.0, 1.0],
        "val_kl_loss": [2.5, 1.5],
        "accuracy": [0.5, 0.7],  # not a loss: left out
    }
    fig = history(logs)
    total, kl, twin = fig.axes
    assert (total.get_title(), kl.get_title(), twin.get_title()) == ("total", "kl", "")
    assert [line.get_label() for line in kl.get_lines()] == ["kl_loss", "val_kl_loss", "kl_weighted_loss"]
    assert [line.get_linestyle() for line in kl.get_lines()] == ["-", "--", "-"]  # val_ dashed
    assert [line.get_label() for line in twin.get_lines()] == ["kl_weight"] and twin.get_ylabel() == "weight"
    assert kl.get_xlabel() == "epoch" and kl.get_ylabel() == "loss"
    # one legend for the figure (colour: the kind of column; dashed: val_), none over a panel
    assert kl.get_legend() is None and total.get_legend() is None
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "loss, <term>_loss (unweighted)",
        "<term>_weighted_loss (its part of loss)",
        "<term>_weight (right axis)",
        "training (solid)",
        "validation: val_ (dashed)",
    ]
    assert {line.get_color() for line in kl.get_lines() if "weighted" in line.get_label()} == {"C1"}


def test_history_reads_csv_logger_missing_values_as_gaps(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("epoch,loss,val_loss,kl_loss\n0,2.0,NA,1.0\n1,1.5,1.7,0.5\n")
    fig = history(path)
    (loss, val_loss), (kl,) = fig.axes[0].get_lines(), fig.axes[1].get_lines()
    np.testing.assert_array_equal(loss.get_ydata(), [2.0, 1.5])
    np.testing.assert_array_equal(val_loss.get_ydata(), [np.nan, 1.7])
    np.testing.assert_array_equal(kl.get_xdata(), [0, 1])


@pytest.mark.parametrize(
    ("content", "suffix", "match"),
    [
        ("epoch,accuracy,lr\n0,0.5,0.1\n", ".csv", r"has no loss column: expected 'loss' .*found 'accuracy', 'lr'"),
        ('{"accuracy": [0.5]}', ".json", r"has no loss column"),
        ("epoch,loss\n0,fast\n", ".csv", r"column 'loss' holds 'fast' at epoch index 0; expected numbers"),
        ("epoch,loss\n0,1.0,2.0\n", ".csv", r"line 2: 3 values for 2 columns"),
        ('{"loss": [1.0, 0.5], "kl_loss": [1.0]}', ".json", r"columns of different lengths \(loss: 2, kl_loss: 1\)"),
        ("[1.0, 0.5]", ".json", r"holds a JSON list; expected an object of metric -> per-epoch values"),
        ('{"loss": [1.0,', ".json", r"is not valid JSON"),
        ("", ".csv", r"is empty; expected a CSVLogger file"),
    ],
)  # fmt: skip
def test_history_bad_files_are_loss_spec_errors_naming_the_file(tmp_path, content, suffix, match):
    path = tmp_path / f"log{suffix}"
    path.write_text(content)
    with pytest.raises(lossreg.LossSpecError, match=match):
        history(path)


def test_history_missing_file_and_bad_out(tmp_path):
    with pytest.raises(lossreg.LossSpecError, match=r"nope\.csv: Cannot read history file: No such file or directory"):
        history(tmp_path / "nope.csv")
    with pytest.raises(lossreg.LossSpecError, match=r"must be \.png or \.svg \(received '\.jpg'\)"):
        history({"loss": [1.0]}, out=tmp_path / "h.jpg")
    with pytest.raises(lossreg.LossSpecError, match=r"Invalid history source of type int"):
        history(3)
    with pytest.raises(lossreg.LossSpecError, match=r"Cannot write '.*h\.png': No such file or directory"):
        history({"loss": [1.0]}, out=tmp_path / "no" / "h.png")


# -- the command line -----------------------------------------------------------------------------------------------


def test_cli_plot_curves_writes_the_figure_with_params(tmp_path, capsys):
    out = tmp_path / "curves.svg"
    argv = ["plot", "curves", "sigmoid_bce", "sigmoid_focal", "sigmoid_focal", "--params", "sigmoid_focal:gamma=2",
            "--params", "3:gamma=5,alpha=null", "--points", "11", "-o", str(out)]  # fmt: skip
    assert main(argv) == 0
    assert capsys.readouterr().out == f"wrote {out}: value and gradient of sigmoid_bce, sigmoid_focal, sigmoid_focal\n"
    root = ET.parse(out).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "sigmoid_focal (gamma=5, alpha=None)" in out.read_text()  # the legend, as text in the SVG
    same = curves(
        ["sigmoid_bce", "sigmoid_focal", "sigmoid_focal"], [None, {"gamma": 2}, {"gamma": 5, "alpha": None}], points=11
    )
    reference = REFERENCES["sigmoid_focal"].fn
    _, x, focal_5 = panels(same)["value", 1][2]
    np.testing.assert_allclose(
        focal_5, reference(np.ones((11, 1)), x.reshape(11, 1), gamma=5, alpha=None).ravel(), **VALUE_TOL
    )


def test_cli_plot_curves_of_a_plugin_loss_by_its_qualified_name(tmp_path):
    out = tmp_path / "dice.png"
    argv = ["plot", "curves", "lossreg-segmentation:soft_dice", "--params", "lossreg-segmentation:soft_dice:smooth=0.5",
            "--x", "probability", "-o", str(out)]  # fmt: skip
    assert main(argv) == 0
    assert out.read_bytes().startswith(PNG_MAGIC)


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["sigmoid_fokal"], r"^lossreg: error: Unknown loss 'sigmoid_fokal'\. Did you mean 'sigmoid_focal'"),
        (["vae_kl"], r"^lossreg: error: lossreg\.plot\.curves: Cannot draw loss 'vae_kl'"),
        (["sigmoid_focal", "--params", "gamma=2"], r"Invalid --params 'gamma=2': expected NAME:KEY=VALUE"),
        (["sigmoid_focal", "--params", "sigmoid_focl:gamma=2"], r"'sigmoid_focl' is not one of .*Did you mean"),
        (["sigmoid_focal", "--params", "sigmoid_focal:gamma=2,alpha"], r"'alpha' is not KEY=VALUE"),
        (["sigmoid_focal", "--params", "sigmoid_focal:gama=2"], r"no parameter 'gama'\. Did you mean 'gamma'"),
        (["sigmoid_focal", "-o", "x.pdf"], r"must be \.png or \.svg \(received '\.pdf'\)"),
    ],
)  # fmt: skip
def test_cli_plot_curves_errors_go_to_stderr_with_exit_status_1(tmp_path, capsys, argv, match):
    if "-o" not in argv:
        argv = [*argv, "-o", str(tmp_path / "c.png")]
    assert main(["plot", "curves", *argv]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1
    assert __import__("re").search(match, captured.err), captured.err


def test_cli_plot_history_writes_the_figure_and_names_its_panels(trained, tmp_path, capsys):
    csv_file, _, _ = trained
    out = tmp_path / "history.png"
    assert main(["plot", "history", str(csv_file), "-o", str(out)]) == 0
    assert capsys.readouterr().out == f"wrote {out}: 4 panels (total, a, b_mae, b_mse)\n"
    assert out.read_bytes().startswith(PNG_MAGIC)
    assert main(["plot", "history", str(tmp_path / "missing.csv"), "-o", str(out)]) == 1
    assert "Cannot read history file: No such file or directory" in capsys.readouterr().err


def test_cli_plot_usage_errors_exit_1_and_help_lists_the_figures(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["plot"])
    assert caught.value.code == 1
    assert "the following arguments are required: FIGURE" in capsys.readouterr().err
    with pytest.raises(SystemExit) as caught:
        main(["plot", "curves", "sigmoid_bce"])  # no -o
    assert caught.value.code == 1
    with pytest.raises(SystemExit) as caught:
        main(["plot", "--help"])
    assert caught.value.code == 0
    text = capsys.readouterr().out
    assert "curves" in text and "history" in text and "pip install 'lossreg-core[plot]'" in text
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "plot      draw losses' values and gradients" in capsys.readouterr().out
