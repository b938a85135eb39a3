"""Labelled texts from a CSV, split honestly, turned into batches of token ids.

Sources: `--data FILE.csv` (any header; --text-column and --label-column name the two columns; 20% of
each class held out for test, by seed); `--data FOLDER` holding train.csv and test.csv; by default
IMDB's reviews (RECIPES_DATA_DIR/imdb/{train,test}.csv, else fetched once from the TensorFlow Datasets
catalog into the cache, in the same layout).
"""
import csv
from pathlib import Path
from typing import NamedTuple

import numpy as np

from shared.data import catalog, check_held_out, csv_rows, locate, prefetched, read_text, slices, written
from shared.errors import UserError

TEST_FRACTION = 0.2  # a single CSV has no test split: hold out this share of each class
IMDB_COLUMNS = ("review", "sentiment")  # the default data's text and label columns


class Texts(NamedTuple):
    texts: list  # raw strings
    labels: np.ndarray  # (n,) class names as strings, then (after encode) class numbers


def read_csv(path, text_column, label_column):
    """Texts of a CSV with a header; a one-line UserError names the line of any problem."""
    rows = csv_rows(path, read_text(path, what="CSV file"))  # (line where the row starts, fields)
    header = [name.strip() for name in next(rows, (1, []))[1]]
    for flag, column in (("--text-column", text_column), ("--label-column", label_column)):
        if column not in header:
            raise UserError(f"{path}: line 1: no column {column!r} (choose one with {flag}); "
                            f"the header has {', '.join(map(repr, header))}")
    at_text, at_label = header.index(text_column), header.index(label_column)
    texts, labels = [], []
    for line, row in rows:
        if not any(field.strip() for field in row):
            continue  # a blank line
        if len(row) != len(header):
            raise UserError(f"{path}: line {line}: expected {len(header)} fields, found {len(row)}")
        if not row[at_label].strip():
            raise UserError(f"{path}: line {line}: no class name in column {label_column!r}")
        texts.append(row[at_text])
        labels.append(row[at_label].strip())
    if not texts:
        raise UserError(f"{path}: no rows after the header")
    return Texts(texts, np.array(labels, dtype=object))


def _fetch_imdb(cache):
    """cache/imdb/{train,test}.csv from the catalog's imdb_reviews (label 1 = positive)."""
    for split in ("train", "test"):
        if not (cache / "imdb" / f"{split}.csv").is_file():
            with written(cache / "imdb" / f"{split}.csv") as handle:
                writer = csv.writer(handle)
                writer.writerow(IMDB_COLUMNS)
                for example in catalog("imdb_reviews", split, cache):
                    writer.writerow([example["text"].decode("utf-8"), "positive" if example["label"] else "negative"])
    return cache / "imdb" / "train.csv"


def stratified_split(part, fraction, seed):
    """(rest, held_out): `fraction` of each class held out at random; both parts shuffled."""
    rng = np.random.default_rng(seed)
    held = np.zeros(len(part.texts), dtype=bool)
    for name in np.unique(part.labels):
        members = rng.permutation(np.flatnonzero(part.labels == name))
        held[members[: round(len(members) * fraction)]] = True
    return tuple(Texts([part.texts[i] for i in order], part.labels[order])
                 for order in (rng.permutation(np.flatnonzero(~held)), rng.permutation(np.flatnonzero(held))))


def load_splits(data, text_column, label_column, val_fraction, seed):
    """({"train", "validation", "test"}: Texts with class numbers, class names, source description)."""
    if not data:
        train_file = locate("imdb/train.csv", _fetch_imdb)
        text_column, label_column = IMDB_COLUMNS
        train_all, test = (read_csv(train_file.with_name(name), *IMDB_COLUMNS) for name in ("train.csv", "test.csv"))
        source = str(train_file.parent)
    elif Path(data).is_file():
        train_all, test = stratified_split(read_csv(data, text_column, label_column), TEST_FRACTION, seed)
        source = f"{data} ({TEST_FRACTION:.0%} of each class held out for test, by seed)"
    elif (Path(data) / "train.csv").is_file() and (Path(data) / "test.csv").is_file():
        train_all, test = (read_csv(Path(data) / name, text_column, label_column) for name in ("train.csv", "test.csv"))
        source = data
    else:
        raise UserError(f"--data {data}: expected a CSV file or a folder with train.csv and test.csv")
    check_held_out(train_all.labels, val_fraction, "--val-fraction", "texts")  # before the splits' own check
    train, validation = stratified_split(train_all, val_fraction, seed)
    classes = sorted(set(train.labels))  # from training data only; saved with the model
    parts = {"train": train, "validation": validation, "test": test}
    for name, part in parts.items():
        missing = sorted(set(classes) - set(part.labels))
        unknown = sorted(set(part.labels) - set(classes))
        if len(classes) < 2 or missing or unknown:
            raise UserError(f"{source}: the {name} split " + (f"has classes the training split lacks: {unknown}"
                            if unknown else f"lacks classes {missing or classes}") + "; every split needs every "
                            "class, and there must be two or more (give at least 10 rows of each class)")
    number = {name: index for index, name in enumerate(classes)}
    encoded = {name: Texts(part.texts, np.array([number[label] for label in part.labels], dtype="int32"))
               for name, part in parts.items()}
    return encoded, classes, source


def make_vectorizer(train_texts, max_tokens, max_words):
    """A TextVectorization fitted on training text only: text -> (max_words,) ids, 0 = padding, 1 = unknown."""
    import keras
    import tensorflow as tf

    vectorizer = keras.layers.TextVectorization(max_tokens=max_tokens, output_sequence_length=max_words,
                                                name="vectorizer")  # lower-cased, punctuation stripped
    vectorizer.adapt(tf.data.Dataset.from_tensor_slices(train_texts).batch(1024))
    return vectorizer


def batches(vectorizer, part, batch_size, shuffle_seed=None):
    """(ids (batch, longest text in the batch) int64, right-padded with 0; labels (batch,) int32).

    Tokenised once. With a seed, epoch e's order is a function of (seed, e), so a resumed run sees
    the same batches.
    """
    import tensorflow as tf

    ids = tf.concat([vectorizer(tf.constant(part.texts[i: i + 4096])) for i in range(0, len(part.texts), 4096)], 0)

    def trim(ids, labels):  # padding past the batch's longest text costs time and changes nothing (masked)
        longest = tf.reduce_max(tf.reduce_sum(tf.cast(ids > 0, tf.int32), axis=1))
        return ids[:, : tf.maximum(longest, 1)], labels

    return prefetched(slices((ids, part.labels), shuffle_seed).batch(batch_size).map(trim))


def describe(name, part, classes):
    counts = np.bincount(part.labels, minlength=len(classes)) / len(part.texts)
    largest = ", ".join(f"{classes[i]} {counts[i]:.0%}" for i in np.argsort(-counts)[:5])
    return f"{name:<10} {len(part.texts):>6} texts ({largest}{', ...' * (len(classes) > 5)})"
