"""A recipe folder is a template: copy it under a new name and it runs with no edit anywhere else."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_copied_recipe_trains_and_predicts_as_its_own_recipe(tmp_path, reviews_csv):
    tree = tmp_path / "project"
    shutil.copytree(ROOT / "shared", tree / "shared", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "recipes", tree / "recipes", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(tree / "recipes" / "sentiment", tree / "recipes" / "mytask")
    env = {**os.environ, "PYTHONPATH": str(tree), "TF_CPP_MIN_LOG_LEVEL": "2"}

    def run(*args):
        return subprocess.run([sys.executable, "-m", "recipes.mytask", *args], cwd=tree, env=env,
                              capture_output=True, text=True, timeout=300, check=False)

    trained = run("--smoke", "--data", str(reviews_csv), "--units", "4", "--layers", "1", "--epochs", "1")
    assert trained.returncode == 0, trained.stderr[-2000:]
    out = tree / "runs" / "mytask"  # the copy's own default output folder
    assert '"recipe": "mytask"' in (out / "config.json").read_text()
    predicted = run("predict", "--model", str(out), "a great film")
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    assert predicted.stdout.split()[1] in ("positive", "negative")
    # It is its own recipe: the original refuses its model.
    original = subprocess.run([sys.executable, "-m", "recipes.sentiment", "predict", "--model", str(out), "x"],
                              cwd=tree, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert original.returncode == 2 and "model of recipe 'mytask', not 'sentiment'" in original.stderr
