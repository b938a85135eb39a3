"""Fixtures of this recipe's tests: small labelled CSVs made on the spot (no real data needed)."""
import pytest

from shared.testing import synthetic_texts, write_csv

# Five classes whose names a user might have: spaces, unicode, punctuation.
CLASSES = ("Lady Macbeth", "Æthelred", "duke, the", "ROMEO", "第一")


@pytest.fixture
def five_class_csv(tmp_path):
    """400 texts of five classes in turn, columns text,speaker (each class has its own cue words)."""
    return write_csv(tmp_path / "speeches.csv", ["text", "speaker"], synthetic_texts(400, CLASSES))
