"""Fixtures only the sentiment recipe's tests use (the shared ones come from shared.testing)."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from shared.testing import synthetic_texts, write_csv  # noqa: E402


@pytest.fixture
def reviews_csv(tmp_path):
    """400 synthetic reviews in the recipe's CSV layout (review,sentiment), both classes in turn."""
    return write_csv(tmp_path / "reviews.csv", ["review", "sentiment"], synthetic_texts(400))
