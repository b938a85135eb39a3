"""The check every recipe's tests run, keras-hub style: smoke-train, files present, reload, same inference.

    from shared.testing import check_recipe

    def test_recipe_contract(tmp_path):
        check_recipe(train.main, tmp_path / "run", ["--data", my_small_file],
                     infer=lambda out: predict.main(["--model", str(out), "a great film"]))

A copied recipe can call it from its own tests, with its own data and inference command.
"""
import csv
import json
import math
from pathlib import Path

RUN_FILES = ("model.keras", "config.json", "metrics.json", "curves.png", "training_log.csv")


def check_recipe(main, out, argv=(), *, infer, files=()):
    """Train `main(argv + --smoke --out out)`, check what the run folder must hold, and that inference
    from the saved folder gives the same answer twice (nothing in it depends on the training process).

    infer(out) runs the recipe's inference entry on the folder and returns something comparable.
    Returns (metrics, first inference result).
    """
    out = Path(out)
    metrics = main([*argv, "--smoke", "--out", str(out)])
    missing = [name for name in (*RUN_FILES, *files) if not (out / name).is_file()]
    assert not missing, f"{out} lacks {missing}"
    saved = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert saved["recipe"] == metrics["recipe"] and saved["smoke"] is True
    assert json.loads((out / "config.json").read_text(encoding="utf-8"))["recipe"] == metrics["recipe"]
    with (out / "training_log.csv").open(newline="") as handle:
        losses = [float(row["loss"]) for row in csv.DictReader(handle)]
    assert losses and all(math.isfinite(loss) for loss in losses), losses
    assert not list(out.glob(".*partial*")), "a half-written file was left behind"
    first, second = infer(out), infer(out)
    assert _same(first, second), (first, second)
    return metrics, first


def _same(a, b):
    try:
        import numpy as np

        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    except (TypeError, ValueError):
        return a == b
