import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import csv  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

POSITIVE = "great wonderful superb moving brilliant delightful".split()
NEGATIVE = "awful boring dull terrible clumsy tedious".split()
NEUTRAL = "the film plot actor scene story camera music it was and a".split()


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


def synthetic_reviews(count, seed=0):
    """Reviews whose sentiment is carried by a few words: learnable in seconds, no real data needed."""
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(count):
        label = index % 2
        words = list(rng.choice(NEUTRAL, size=rng.integers(5, 25)))
        cue = POSITIVE if label else NEGATIVE
        for _ in range(3):
            words.insert(rng.integers(0, len(words) + 1), rng.choice(cue))
        text = " ".join(words).capitalize() + ".<br /><br />" + " ".join(rng.choice(NEUTRAL, size=4))
        rows.append((text, "positive" if label else "negative"))
    return rows


@pytest.fixture
def reviews_csv(tmp_path):
    path = tmp_path / "reviews.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["review", "sentiment"])
        writer.writerows(synthetic_reviews(400))
    return path
