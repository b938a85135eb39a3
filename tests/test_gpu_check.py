"""benchmarks/gpu.py (`make gpu-check`): its shapes are the recipes' defaults, and it runs without TensorFlow."""
import dataclasses
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import gpu

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("recipe", list(gpu.SHAPES))
def test_the_check_uses_each_recipes_default_settings(recipe):
    defaults = dataclasses.asdict(importlib.import_module(f"recipes.{recipe}.train").Config())
    shape = gpu.SHAPES[recipe]
    assert {key: defaults[key] for key in shape["config"]} == shape["config"]
    assert shape["batch"] == defaults["batch_size"]
    length = {"sentiment": "max_words", "forecast": "window", "textgen": "seq_len", "translate": "max_len"}[recipe]
    assert shape["length"] == defaults[length]
    if recipe in ("sentiment", "translate"):
        assert shape["vocab"] == defaults["max_tokens"]


@pytest.mark.slow
def test_the_check_runs_without_tensorflow_and_marks_absent_gpu_rows(tmp_path):
    pytest.importorskip("jax", reason="the check is tested under JAX (pip install -e '.[dev]')")
    blocked = tmp_path / "blocked" / "tensorflow"
    blocked.mkdir(parents=True)
    (blocked / "__init__.py").write_text("raise ImportError('TensorFlow is blocked in this test')\n")
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": f"{blocked.parent}{os.pathsep}{ROOT}",
           "CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu"}  # no GPU here, whatever the machine has
    process = subprocess.run([sys.executable, "-m", "benchmarks.gpu", "--quick", "--seconds", "0",
                              "--out", str(tmp_path / "out")], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=300, check=False)
    assert process.returncode == 0, (process.stdout + process.stderr)[-3000:]
    assert "no GPU is visible to the jax backend" in process.stdout
    results = json.loads((tmp_path / "out" / "gpu.json").read_text())
    assert results["backend"] == "jax" and results["gpu"]["gpus"] == 0 and not results["gpu"]["rows"]
    rows = {(row["recipe"], row["layer"], row["precision"]): row for row in results["cpu"]["rows"]}
    assert len(rows) == len(gpu.SHAPES) * len(gpu.VARIANTS)
    for (recipe, layer, precision), row in rows.items():
        assert row["per_second"] > 0, row
        cell = gpu.SHAPES[recipe]["config"]["cell"].upper()
        assert row["recurrent"] == (["RNN"] if layer.startswith("generic") else [cell]), row
    table = (tmp_path / "out" / "gpu.md").read_text()
    assert table.count("not measured: no GPU is visible") == len(gpu.SHAPES) * len(gpu.VARIANTS)
