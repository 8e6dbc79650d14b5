"""Bug 7 and the import hook: lossreg's Keras classes load in any import order, in fresh processes."""

import subprocess
import sys
import textwrap

import pytest


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
