"""The recipes' models and the shared training loop under other Keras backends, without TensorFlow.

The backend is fixed when Keras is imported, so the runs happen in a fresh
interpreter (tests/backend_runs.py) in which `import tensorflow` fails.
"""
import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

RUNS = Path(__file__).with_name("backend_runs.py")
ROOT = RUNS.parents[1]
RECIPES = ["sentiment", "forecast", "textgen"] + (
    ["translate"] if (ROOT / "recipes" / "translate" / "model.py").is_file() else [])

# The runs under JAX are one module fixture: one process of `make test` runs this whole file.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("backends")]


def backend_runs(python, backend, workdir):
    """tests/backend_runs.py under KERAS_BACKEND=backend in `python`: its results.json."""
    env = {**os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu", "CUDA_VISIBLE_DEVICES": "",
           "PYTHONPATH": str(ROOT)}
    process = subprocess.run([python, str(RUNS), str(workdir / "results.json"), str(workdir), *RECIPES],
                             env=env, capture_output=True, text=True, timeout=900, check=False)
    assert process.returncode == 0, (process.stdout + process.stderr)[-3000:]
    return json.loads((workdir / "results.json").read_text())


@pytest.fixture(scope="module")
def jax_runs(tmp_path_factory):
    pytest.importorskip("jax", reason="JAX is not installed (pip install -e '.[dev]' installs it)")
    return backend_runs(sys.executable, "jax", tmp_path_factory.mktemp("jax"))


def torch_python():
    """An interpreter with torch: this one, else RECIPES_TORCH_PYTHON (torch in a venv of its own); or None."""
    if importlib.util.find_spec("torch") is not None:
        return sys.executable
    return os.environ.get("RECIPES_TORCH_PYTHON") or None


@pytest.fixture(scope="module")
def torch_runs(tmp_path_factory):
    python = torch_python()
    if python is None:
        pytest.skip("torch is not installed (its PyPI wheel pulls the CUDA libraries, gigabytes; CI does not "
                    "install it): pip install torch, or point RECIPES_TORCH_PYTHON at a venv's python with torch")
    return backend_runs(python, "torch", tmp_path_factory.mktemp("torch"))


def check_two_epochs_and_reload(result):
    rows = result["epochs"]
    assert len(rows) == 2
    losses = [float(row["loss"]) for row in rows]
    assert all(math.isfinite(float(row[name])) for row in rows for name in ("loss", "val_loss"))
    assert losses[1] < losses[0]
    # The optimizer's gradient-norm statistics are backend-neutral variables.
    assert all(0 < float(row["grad_norm_mean"]) <= float(row["grad_norm_max"]) for row in rows)
    assert result["reload_max_difference"] <= 1e-6
    assert not result["tensorboard_written"]  # TensorBoard logs need TensorFlow; training goes on without


@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_model_trains_saves_and_reloads_under_jax(jax_runs, recipe):
    assert jax_runs["backend"] == "jax"
    check_two_epochs_and_reload(jax_runs[recipe])


def test_distribution_strategies_are_refused_under_jax_in_one_line(jax_runs):
    for name, message in jax_runs["refused"].items():
        assert message and "needs the TensorFlow backend" in message and "\n" not in message, (name, message)


@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_model_trains_saves_and_reloads_under_torch(torch_runs, recipe):
    assert torch_runs["backend"] == "torch"
    check_two_epochs_and_reload(torch_runs[recipe])
    for name, message in torch_runs["refused"].items():
        assert message and "needs the TensorFlow backend" in message and "\n" not in message, (name, message)


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_the_gradients_recipe_probes_under_another_backend(backend):
    """recipes/gradients/loop.py's JAX and torch branches: the recipe's own unit tests (clipping bounds each
    variable's step, SimpleRNN's input gradient vanishes where LSTM's does not, ...) rerun under that backend."""
    if backend == "jax":
        pytest.importorskip("jax", reason="JAX is not installed (pip install -e '.[dev]' installs it)")
    python = sys.executable if backend == "jax" else torch_python()
    if python is None:
        pytest.skip("torch is not installed (see test_recipe_model_trains_saves_and_reloads_under_torch)")
    env = {**os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu", "CUDA_VISIBLE_DEVICES": "",
           "PYTHONPATH": str(ROOT)}
    process = subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow",
                              str(ROOT / "recipes" / "gradients" / "tests")], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=600, check=False)
    assert process.returncode == 0 and " passed" in process.stdout, (process.stdout + process.stderr)[-3000:]
