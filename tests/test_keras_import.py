"""Bug 7 and the import hook: lossreg's Keras classes load in any import order, in fresh processes; and what each
backend's user imports: TensorFlow only on the TensorFlow backend, no engine at all for `import lossreg` and the CLI."""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from on_backend import only_on


def run(code, **kwargs):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, **kwargs)


@pytest.mark.parametrize(
    "module", ["lossreg.keras._loss", "lossreg.keras._layer", "lossreg.keras._attach", "lossreg.keras._engine"]
)
def test_an_adapter_imported_first_finds_keras_and_its_siblings(module):
    result = run(f"""
        import {module}
        import keras, lossreg
        assert keras.saving.get_registered_object("lossreg>RegisteredLoss") is lossreg.RegisteredLoss
        assert keras.saving.get_registered_object("lossreg>LossLayer") is lossreg.LossLayer
        assert keras.saving.get_registered_object("lossreg>AttachedModel") is lossreg.AttachedModel
        print(float(lossreg.get("mse")([[1.0]], [[3.0]])))
    """)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-1] == "4.0"


def test_the_hook_imports_lossreg_keras_once_keras_is_imported_and_not_before():
    result = run("""
        import sys, lossreg
        assert "lossreg.keras" not in sys.modules and "keras" not in sys.modules
        import keras
        assert "lossreg.keras" in sys.modules
        assert keras.saving.get_registered_object("lossreg>RegisteredLoss") is not None
        assert not any(type(f).__name__ == "_AfterKerasImport" for f in sys.meta_path)
        print("ok")
    """)
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_hook_re_arms_when_keras_first_import_fails(tmp_path):
    fake = tmp_path / "fake" / "keras"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('keras is broken today')\n")
    result = run(f"""
        import sys
        sys.path.insert(0, {str(fake.parent)!r})
        import lossreg
        try:
            import keras
        except ImportError as exc:
            assert "broken today" in str(exc)
        else:
            raise AssertionError("the fake keras imported")
        assert "keras" not in sys.modules and "lossreg.keras" not in sys.modules
        sys.path.remove({str(fake.parent)!r})
        import keras
        assert "lossreg.keras" in sys.modules
        assert keras.saving.get_registered_object("lossreg>RegisteredLoss") is not None
        print("ok")
    """)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-1] == "ok"


# -- every backend: lossreg imports TensorFlow only when TensorFlow is the backend ------------------------------------

BACKENDS = ("tensorflow", "jax", "torch")
ENGINES = ("keras", "tensorflow", "jax", "torch")


def on_backend(backend: str) -> dict[str, str]:
    """The environment of a fresh process on ``backend``, without this run's import-order workarounds."""
    return dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0")


def needs(backend: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        importlib.util.find_spec(backend) is None,
        reason=f"{backend} is not installed (lossreg-core[{backend}]); CI installs all three backends",
    )


def in_its_own_run(backend: str) -> tuple[pytest.MarkDecorator, ...]:
    """A fresh process on ``backend`` is checked once, in the suite's run on that backend (the suite runs once per
    backend): the same check in the other two runs would repeat it exactly."""
    return needs(backend), only_on(backend, why=f"a fresh process on {backend}, checked in the {backend} run")


def bce_plus_mse_reference(y: np.ndarray, p: np.ndarray) -> float:
    """float64 NumPy: mean over the batch of mse + 0.5 * bce per sample (Keras clips probabilities to 1e-7)."""
    y, p = y.astype(np.float64), np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)
    mse = np.mean((p - y) ** 2, axis=-1)
    bce = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p), axis=-1)
    return float(np.mean(mse + 0.5 * bce))


Y = [[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]]
P = [[0.2, 0.7, 0.9], [0.6, 0.1, 0.3]]

# What a user of each backend does, in a fresh process: import lossreg (no engine yet), resolve a spec and evaluate
# it, wire the same spec with attach and as a LossLayer and train each one step (Keras' own saving is left out: it
# imports TensorFlow by itself whenever TensorFlow is installed, whatever the backend).
USER_SESSION = f"""
    import json, sys
    import numpy as np
    import lossreg
    engines_after_import = sorted(m for m in {ENGINES!r} if m in sys.modules)
    import keras
    spec = {{"loss": ["mse", {{"loss": "binary_crossentropy", "weight": 0.5}}]}}
    y, p = np.array({Y!r}, "float32"), np.array({P!r}, "float32")
    value = float(keras.ops.convert_to_numpy(lossreg.resolve(spec)(y, p)))

    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    targets = np.random.default_rng(1).uniform(size=(8, 3)).round().astype("float32")
    image = keras.Input((4,), name="x")
    out = keras.layers.Dense(3, activation="sigmoid", name="out")(keras.layers.Dense(5, name="hidden")(image))
    attached = lossreg.attach(keras.Model(image, out), {{"out": spec}})
    attached.compile(optimizer="sgd")
    attach_logs = attached.train_on_batch(x, {{"out": targets}}, return_dict=True)

    target = keras.Input((3,), name="target")
    passed_on = lossreg.LossLayer(spec["loss"], name="joint")([target, out])
    layered = keras.Model([image, target], passed_on)
    layered.compile(optimizer="sgd")
    layer_logs = layered.train_on_batch([x, targets], return_dict=True)
    print(json.dumps({{
        "backend": keras.backend.backend(),
        "engines_after_import": engines_after_import,
        "value": value,
        "attach_loss": float(attach_logs["loss"]),
        "layer_loss": float(layer_logs["loss"]),
        "tensorflow_imported": "tensorflow" in sys.modules,
    }}))
"""


@pytest.mark.parametrize("backend", [pytest.param(b, marks=in_its_own_run(b)) for b in BACKENDS])
def test_lossreg_imports_tensorflow_only_when_tensorflow_is_the_backend(backend):
    result = run(USER_SESSION, env=on_backend(backend), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.splitlines()[-1])
    assert out["backend"] == backend
    assert out["engines_after_import"] == []  # `import lossreg` imports no engine, on any backend
    assert out["value"] == pytest.approx(bce_plus_mse_reference(np.array(Y), np.array(P)), rel=1e-5)
    assert np.isfinite(out["attach_loss"]) and out["attach_loss"] > 0
    assert np.isfinite(out["layer_loss"]) and out["layer_loss"] > 0
    # Keras itself imports TensorFlow on the TensorFlow backend; on JAX and PyTorch nothing above may.
    assert out["tensorflow_imported"] is (backend == "tensorflow")


def imported_top_level_modules(importtime_stderr: str) -> set[str]:
    """The top-level modules ``python -X importtime`` reports as imported (one ``import time:`` line each)."""
    names = set()
    for line in importtime_stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


@pytest.mark.parametrize("backend", [pytest.param(b, marks=in_its_own_run(b)) for b in BACKENDS])
def test_import_lossreg_and_the_command_line_import_no_engine(backend, tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"out": {"loss": "softmax_ce", "weight": 2.0}}), encoding="utf-8")
    commands = [
        ["-c", "import lossreg; lossreg.names(); lossreg.describe('softmax_ce'); lossreg.describe('soft_dice')"],
        ["-m", "lossreg", "list"],
        ["-m", "lossreg", "show", "soft_dice"],
        ["-m", "lossreg", "check", str(spec)],
        ["-m", "lossreg", "plugins"],
    ]
    for command in commands:
        result = subprocess.run(
            [sys.executable, "-X", "importtime", *command],
            capture_output=True,
            text=True,
            env=on_backend(backend),
            timeout=300,
        )
        assert result.returncode == 0, (command, result.stderr[-2000:])
        imported = imported_top_level_modules(result.stderr)
        assert "lossreg" in imported, command  # the probe sees lossreg's own imports
        assert imported.isdisjoint(ENGINES), (command, sorted(imported & set(ENGINES)))
