"""The recipes' models and the shared training loop under other Keras backends, without TensorFlow.

The backend is fixed when Keras is imported, so the runs happen in a fresh
interpreter (tests/backend_runs.py) in which `import tensorflow` fails.
"""
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

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def jax_runs(tmp_path_factory):
    pytest.importorskip("jax", reason="JAX is not installed (pip install -e '.[dev]' installs it)")
    workdir = tmp_path_factory.mktemp("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}
    process = subprocess.run([sys.executable, str(RUNS), str(workdir / "results.json"), str(workdir), *RECIPES],
                             env=env, capture_output=True, text=True, timeout=900, check=False)
    assert process.returncode == 0, (process.stdout + process.stderr)[-3000:]
    return json.loads((workdir / "results.json").read_text())


@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_model_trains_saves_and_reloads_under_jax(jax_runs, recipe):
    assert jax_runs["backend"] == "jax"
    result = jax_runs[recipe]
    rows = result["epochs"]
    assert len(rows) == 2
    losses = [float(row["loss"]) for row in rows]
    assert all(math.isfinite(float(row[name])) for row in rows for name in ("loss", "val_loss"))
    assert losses[1] < losses[0]
    # The optimizer's gradient-norm statistics are backend-neutral variables.
    assert all(0 < float(row["grad_norm_mean"]) <= float(row["grad_norm_max"]) for row in rows)
    assert result["reload_max_difference"] <= 1e-6
    assert not result["tensorboard_written"]  # TensorBoard logs need TensorFlow; training goes on without


def test_distribution_strategies_are_refused_under_jax_in_one_line(jax_runs):
    for name, message in jax_runs["refused"].items():
        assert message and "needs the TensorFlow backend" in message and "\n" not in message, (name, message)


def test_torch_backend():
    pytest.skip("torch is not installed: the PyPI CPU wheel pulls in the CUDA libraries (gigabytes) "
                "and this project's CI index does not carry it; the JAX runs above cover another backend")
