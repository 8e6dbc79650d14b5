"""The registry from several threads at once: registering, resolving, listing and first-time loading stay consistent."""

from __future__ import annotations

import importlib.metadata
import itertools
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import keras  # noqa: F401  (imported here, not first inside a racing thread)
import numpy as np
import pytest

import lossreg
from lossreg import LossSpecError
from lossreg.registry import REGISTRY, PluginEntryPoint, Registry

THREADS = 8
PER_THREAD = 50


def run_together(count: int, work: Callable[[int], Any]) -> tuple[list[Any], list[BaseException]]:
    """Run ``work(i)`` in ``count`` threads released together by a barrier; return results and exceptions."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []
    lock = threading.Lock()

    def target(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = work(i)
        except BaseException as exc:  # collected: an exception in a thread must fail the test, not vanish
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=target, args=(i,), name=f"lossreg-test-{i}") for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung (deadlock?)"
    return results, errors


def scaled_abs_factory(module: str) -> Callable[..., Callable[..., Any]]:
    def factory(scale: float = 1.0) -> Callable[..., Any]:
        """Scaled absolute error: scale * |y_pred - y_true| (plain Python: the threads run no TensorFlow op)."""
        return lambda y_true, y_pred: scale * abs(y_pred - y_true)

    factory.__module__ = module
    return factory


@pytest.fixture(autouse=True)
def frequent_thread_switches() -> Iterator[None]:
    """Switch threads every 10 µs instead of every 5 ms, so that races show up in a short test."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(interval)


@pytest.fixture
def prefix() -> Iterator[str]:
    """A unique name prefix; every registered name starting with it is removed afterwards."""
    prefix = f"thr_{uuid.uuid4().hex[:8]}"
    yield prefix
    for name in [n for n in REGISTRY.names() if n.startswith(prefix)]:
        REGISTRY.remove(name)


def test_registering_and_reading_from_eight_threads_keeps_the_registry_consistent(prefix):
    before = lossreg.names()
    mine = [[f"{prefix}_{t}_{j}" for j in range(PER_THREAD)] for t in range(THREADS)]
    built_ins = ["mse", "softmax_ce", "sigmoid_focal", "soft_dice", "lossreg-generative:hinge_gan_generator"]

    def work(t: int) -> dict[str, Any]:
        seen: set[str] = set(before)
        checked: list[str] = []
        for j, name in enumerate(mine[t]):
            lossreg.register(name)(scaled_abs_factory(f"thread_module_{t}"))
            assert REGISTRY.lookup(name).factory is not None
            if j % 5:
                continue
            listed = lossreg.names()
            assert listed == sorted(set(listed)), "names() must be sorted and free of duplicates"
            assert seen <= set(listed), "a name disappeared while others were being registered"
            seen = set(listed)
            assert name in seen
            others = [n for n in listed if n.startswith(prefix) and not n.startswith(f"{prefix}_{t}_")]
            for other in others[-3:]:  # names other threads registered, read while they keep registering
                assert lossreg.describe(other).params["scale"].default == 1.0
                assert REGISTRY.lookup(other).extras == ()
                fn = REGISTRY.lookup(other, path=f"spec[{other!r}]").bind({"scale": 2.0}, f"spec[{other!r}]")
                assert fn(1.0, 4.0) == 6.0
                checked.append(other)
            built_in = built_ins[j // 5 % len(built_ins)]
            assert lossreg.describe(built_in).name == built_in
            loss = lossreg.resolve({"out": {"loss": [built_in, name], "weight": 0.5}})["out"]
            assert [term["loss"] for term in loss.terms] == [built_in, name]
            # an unknown name while others register: the lookup, its rescan and its suggestions must not race
            with pytest.raises(LossSpecError, match=r"Unknown loss '.*_nope'\. Did you mean"):
                REGISTRY.entry(f"{name}_nope", path="spec")
        return {"seen": seen, "checked": checked}

    results, errors = run_together(THREADS, work)
    assert errors == []
    assert all(result["checked"] for result in results), "every thread should have read names other threads added"

    after = lossreg.names()
    assert after == sorted(after)
    assert len(after) == len(set(after))
    added = [n for n in after if n.startswith(prefix)]
    assert sorted(added) == sorted(itertools.chain.from_iterable(mine))
    assert set(after) - set(added) == set(before)
    for t, names in enumerate(mine):
        for name in names:
            assert REGISTRY.entry(name).source == f"thread_module_{t}"  # each name kept its own factory


def test_a_raced_duplicate_registration_has_exactly_one_winner(prefix):
    for round_ in range(20):
        name = f"{prefix}_dup_{round_}"
        factories = [scaled_abs_factory(f"racer_{i}") for i in range(THREADS)]

        def work(i: int, name: str = name, factories: list[Any] = factories) -> str:
            try:
                lossreg.register(name)(factories[i])
            except LossSpecError as exc:
                assert f"Loss name {name!r} is already registered by 'racer_" in str(exc)
                return "lost"
            return "won"

        results, errors = run_together(THREADS, work)
        assert errors == []
        assert sorted(results) == ["lost"] * (THREADS - 1) + ["won"]
        winner = results.index("won")
        assert REGISTRY.lookup(name).factory is factories[winner]
        assert REGISTRY.entry(name).source == f"racer_{winner}"
        assert lossreg.names().count(name) == 1


SLOW_PLUGIN = '''
import time

time.sleep(0.05)  # slow enough for racing threads to meet inside the import


def huber(y_true, y_pred, *, delta: float = 1.0):
    """Huber loss per sample (NumPy)."""
    import numpy as np

    d = np.abs(np.asarray(y_pred, "float64") - np.asarray(y_true, "float64"))
    return np.mean(np.where(d <= delta, 0.5 * d**2, delta * (d - 0.5 * delta)), axis=-1)
'''


@pytest.mark.parametrize("how", ["factory", "build", "describe", "extras"])
def test_first_time_loading_of_a_plugin_raced_by_eight_threads_loads_once(how, tmp_path, monkeypatch):
    module = f"lossreg_slow_plugin_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(SLOW_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry(entry_points=[PluginEntryPoint("huber", f"{module}:huber", distribution="slow-dist")])
    assert registry.entry("huber").loss_def is None  # a fresh registry: nothing loaded yet
    calls: list[str] = []
    real_load = importlib.metadata.EntryPoint.load
    monkeypatch.setattr(importlib.metadata.EntryPoint, "load", lambda self: calls.append(self.value) or real_load(self))

    def work(i: int) -> Any:
        if how == "factory":
            return registry.lookup("huber").factory
        if how == "build":
            return registry.lookup("huber", path="spec").bind({"delta": 0.5}, "spec")
        if how == "describe":
            return registry.describe("huber").params["delta"].default
        return registry.lookup("huber").extras

    results, errors = run_together(THREADS, work)
    assert errors == []
    assert calls == [f"{module}:huber"]
    factory = registry.entry("huber").factory
    assert factory is not None and factory.__name__ == "huber_factory"
    if how == "factory":
        assert all(result is factory for result in results)
    elif how == "build":
        y, p = np.array([[0.0, 0.0]]), np.array([[0.2, 2.0]])
        expected = np.mean([0.5 * 0.2**2, 0.5 * (2.0 - 0.5) + 0.5 * 0.5**2])  # Huber, delta 0.5
        for fn in results:
            np.testing.assert_allclose(float(fn(y, p)[0]), expected, rtol=1e-6)
    elif how == "describe":
        assert results == [1.0] * THREADS
    else:
        assert results == [()] * THREADS


def test_a_plugin_loss_raced_under_its_plain_and_qualified_names_is_imported_once(monkeypatch):
    registry = Registry()  # reads the installed plugins afresh: its records are not loaded yet
    names = ["soft_dice", "lossreg-segmentation:soft_dice"]
    assert all(registry.entry(name).loss_def is None for name in names)
    calls: list[str] = []
    real_load = __import__("importlib.metadata").metadata.EntryPoint.load

    def slow_load(self: Any) -> Any:
        calls.append(self.value)
        time.sleep(0.05)
        return real_load(self)

    monkeypatch.setattr("importlib.metadata.EntryPoint.load", slow_load)
    results, errors = run_together(THREADS, lambda i: registry.lookup(names[i % 2]).factory)
    assert errors == []
    assert calls == ["lossreg_segmentation.losses:soft_dice_factory"]
    assert all(result is results[0] for result in results)
    assert results[0].__name__ == "soft_dice_factory"
