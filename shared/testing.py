"""What every recipe's tests share, keras-hub style; loaded by pytest as a plugin (pyproject: -p shared.testing).

A recipe's tests live in its own folder (`recipes/NAME/tests/`) and import the recipe relatively
(`from .. import train`), so `cp -r recipes/NAME recipes/mine && python -m pytest recipes/mine`
runs the copy's own tests. What they may use from here:

    real_data                 fixture: RECIPES_DATA_DIR, skipped without it, a failure in CI
    synthetic_texts, write_csv  labelled texts whose class is carried by a few cue words
    check_recipe              smoke-train (or a full run), files present, reload, same inference

    def test_recipe_contract(tmp_path):
        check_recipe(train.main, tmp_path / "run", ["--data", my_small_file],
                     infer=lambda out: predict.main(["--model", str(out), "a great film"]))
"""
import csv
import json
import math
import os
from pathlib import Path

import pytest

RUN_FILES = ("model.keras", "config.json", "metrics.json", "curves.png", "training_log.csv")
NEUTRAL = "the film plot actor scene story camera music it was and a".split()
CUES = {  # a few cue words per class; further classes get made-up ones
    "positive": "great wonderful superb moving brilliant delightful".split(),
    "negative": "awful boring dull terrible clumsy tedious".split(),
}


@pytest.fixture
def real_data():
    """RECIPES_DATA_DIR, the folder of real datasets; skip without it, fail in CI (RECIPES_REQUIRE_DATA=1)."""
    value = os.environ.get("RECIPES_DATA_DIR")
    reason = None
    if not value:
        reason = "RECIPES_DATA_DIR is not set (point it at a folder laid out like ../shared/data)"
    elif not Path(value).is_dir():
        reason = f"RECIPES_DATA_DIR={value} is not a folder"
    if reason:
        if os.environ.get("RECIPES_REQUIRE_DATA") == "1":
            pytest.fail(f"real-data test cannot run: {reason}")
        pytest.skip(reason)
    return Path(value)


def synthetic_texts(count, labels=("negative", "positive"), seed=0):
    """[(text, label)]: `count` texts, labels in turn, each with three cue words of its label among
    neutral ones (and an HTML line break, as IMDB has): learnable in seconds, no real data needed."""
    import numpy as np

    rng = np.random.default_rng(seed)
    rows = []
    for index in range(count):
        label = labels[index % len(labels)]
        cues = CUES.get(label) or [f"{label.lower().replace(' ', '')}{n}" for n in range(4)]
        words = list(rng.choice(NEUTRAL, size=rng.integers(5, 25)))
        for _ in range(3):
            words.insert(rng.integers(0, len(words) + 1), rng.choice(cues))
        rows.append((" ".join(words).capitalize() + ".<br /><br />" + " ".join(rng.choice(NEUTRAL, size=4)), label))
    return rows


def write_csv(path, header, rows):
    """Write a CSV (header, then rows) as a user's file would be; returns path."""
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return Path(path)


def check_recipe(main, out, argv=(), *, infer, files=(), smoke=True):
    """Train `main(argv + --out out)` (with --smoke unless smoke=False), check what the run folder must
    hold, and that inference from the saved folder gives the same answer twice (nothing in it depends
    on the training process).

    infer(out) runs the recipe's inference entry on the folder and returns something comparable.
    Returns (metrics, first inference result).
    """
    out = Path(out)
    metrics = main([*argv, *(["--smoke"] if smoke else []), "--out", str(out)])
    missing = [name for name in (*RUN_FILES, *files) if not (out / name).is_file()]
    assert not missing, f"{out} lacks {missing}"
    saved = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert saved["recipe"] == metrics["recipe"] and saved["smoke"] is smoke
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
