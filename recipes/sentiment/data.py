"""Load movie reviews, split them honestly, and turn text into padded token batches.

Sources, in order: `--data PATH` (a CSV with review,sentiment columns, a folder
with train.csv and test.csv, or an aclImdb-style folder with train/ and test/,
each holding pos/ and neg/ *.txt); RECIPES_DATA_DIR/imdb/{train,test}.csv; the
`imdb_reviews` dataset of the TensorFlow Datasets catalog (its official split),
fetched once and written to the same two CSV files in the cache.
"""
import collections
import csv
import dataclasses
import re
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from shared.data import catalog, check_held_out, csv_rows, locate, prefetched, read_text, slices, written
from shared.errors import UserError

LABELS = {"positive": 1, "negative": 0, "pos": 1, "neg": 0, "1": 1, "0": 0}
CSV_TEST_FRACTION = 0.2  # a single CSV has no official test split: hold out this much, by seed
# name_groups: a capitalised word of 3+ letters is a name or title when at most MOST_REVIEWS reviews hold it
# (IMDB keeps at most 30 reviews of a movie); a review looks for one among the GROUP_WINDOW reviews before it.
NAME = re.compile(r"\b[A-Z][a-z]{2,}\b")
MOST_REVIEWS = 30
GROUP_WINDOW = 5


@dataclasses.dataclass
class Reviews:
    texts: list  # raw review strings, HTML and all
    labels: np.ndarray  # (n,) int, 1 = positive
    groups: np.ndarray = None  # (n,) int, reviews likely of one movie share a number (name_groups); None: none known

    def __len__(self):
        return len(self.texts)

    def subset(self, indices):
        return Reviews([self.texts[i] for i in indices], self.labels[indices],
                       None if self.groups is None else self.groups[indices])


def read_csv(path):
    """Reviews from a CSV with `review` and `sentiment` columns; errors name the line."""
    rows = csv_rows(path, read_text(path, what="CSV file"))  # (line where the row starts, fields)
    header = [name.strip().lower() for name in next(rows)[1]]
    if "review" not in header or "sentiment" not in header:
        raise UserError(f"{path}: line 1: expected columns review,sentiment, found {','.join(header)}")
    text_at, label_at = header.index("review"), header.index("sentiment")
    texts, labels = [], []
    for line, row in rows:
        if not any(field.strip() for field in row):
            continue  # blank line
        if len(row) != len(header):
            raise UserError(f"{path}: line {line}: expected {len(header)} fields, found {len(row)}")
        label = row[label_at].strip().lower()
        if label not in LABELS:
            raise UserError(f"{path}: line {line}: sentiment {row[label_at]!r} is not "
                            "positive/negative (or 1/0)")
        if not row[text_at].strip():
            raise UserError(f"{path}: line {line}: empty review")
        texts.append(row[text_at])
        labels.append(LABELS[label])
    if not texts:
        raise UserError(f"{path}: no reviews after the header")
    return Reviews(texts, np.array(labels, dtype="int32"))


def read_folder(split_dir):
    """Reviews from an aclImdb split folder: pos/*.txt and neg/*.txt."""
    texts, labels = [], []
    for name, label in (("neg", 0), ("pos", 1)):
        files = sorted((split_dir / name).glob("*.txt"))
        if not files:
            raise UserError(f"{split_dir / name}: no .txt reviews")
        for file in files:
            texts.append(read_text(file, what="review").strip())
            labels.append(label)
    return Reviews(texts, np.array(labels, dtype="int32"))


def _fetch_imdb(cache):
    """cache/imdb/{train,test}.csv from tfds's imdb_reviews (label 1 = pos): RECIPES_DATA_DIR's layout."""
    folder = cache / "imdb"
    for split in ("train", "test"):
        if not (folder / f"{split}.csv").is_file():
            with written(folder / f"{split}.csv") as handle:
                writer = csv.writer(handle)
                writer.writerow(["review", "sentiment"])
                for example in catalog("imdb_reviews", split, cache):
                    writer.writerow([example["text"].decode("utf-8"), "positive" if example["label"] else "negative"])
    return folder / "train.csv"


def load_splits(data, seed, grouped=False):
    """(train, test, description of the source). Without `data`: IMDB's official 25k/25k split.

    grouped: the training reviews carry name_groups (read in the file's order), so that later splits hold out
    whole groups; a single CSV's test split is then held out by groups too.
    """
    def with_groups(reviews):
        return Reviews(reviews.texts, reviews.labels, name_groups(reviews.texts)) if grouped else reviews

    if not data:
        source = locate("imdb/train.csv", _fetch_imdb)
        return with_groups(read_csv(source)), read_csv(source.with_name("test.csv")), str(source.parent)
    path = Path(data)
    if path.is_file():
        reviews = with_groups(read_csv(path))
        train, test = stratified_split(reviews, CSV_TEST_FRACTION, seed)
        return train, test, f"{path} ({1 - CSV_TEST_FRACTION:.0%} train / {CSV_TEST_FRACTION:.0%} test by seed)"
    if (path / "train.csv").is_file() and (path / "test.csv").is_file():
        return with_groups(read_csv(path / "train.csv")), read_csv(path / "test.csv"), str(path)
    for root in (path, path / "aclImdb"):
        if all((root / split / label).is_dir() for split in ("train", "test") for label in ("pos", "neg")):
            return with_groups(read_folder(root / "train")), read_folder(root / "test"), str(root)
    if not path.exists():
        raise UserError(f"--data {path}: no such file or folder")
    raise UserError(f"--data {path}: expected a CSV file, a folder with train.csv and test.csv, "
                    "or an aclImdb-style folder with train/ and test/, each holding pos/ and neg/")


def name_groups(texts, window=GROUP_WINDOW, most_reviews=MOST_REVIEWS):
    """(reviews,) int64 group numbers: a review joins the group of the nearest of the `window` reviews before it
    that shares one of its rare names (a capitalised word found in 2 to `most_reviews` reviews); else its own.

    Why: IMDB's train and test splits hold disjoint movies, but a random validation split shares movies with
    training, and a model that learns a movie's cast and titles looks better there than on the test split.
    The files carry no movie ids, but keep a movie's reviews near each other, and those share names: in IMDB's
    training file, 11,929 of 25,000 reviews join a neighbour (229 would, in a shuffled file).
    """
    names = [set(NAME.findall(text)) for text in texts]
    reviews_with = collections.Counter(name for found in names for name in found)
    rare = [{name for name in found if 2 <= reviews_with[name] <= most_reviews} for found in names]
    groups = np.arange(len(texts))
    for i in range(1, len(texts)):
        near = next((j for j in range(i - 1, max(i - window, 0) - 1, -1) if rare[i] & rare[j]), None)
        if near is not None:
            groups[i] = groups[near]
    return np.unique(groups, return_inverse=True)[1]  # numbered 0..groups - 1


def stratified_split(reviews, fraction, seed):
    """(rest, held_out): `fraction` of each class held out at random. The IMDB files are
    ordered by label, so taking the last rows would hold out positives only. With reviews.groups,
    whole groups are held out, class by class in one random order of the groups: only the group at each
    class's cut, and a group holding both labels (none in IMDB's files), can end up on both sides."""
    rng = np.random.default_rng(seed)
    held = []
    if reviews.groups is not None:
        # A random order of the groups, and of the reviews within each: a group's reviews stay together.
        order = rng.permutation(len(reviews))
        group_rank = rng.permutation(reviews.groups.max(initial=-1) + 1)  # (groups,)
        order = order[np.argsort(group_rank[reviews.groups[order]], kind="stable")]
    for label in np.unique(reviews.labels):
        members = (rng.permutation(np.flatnonzero(reviews.labels == label)) if reviews.groups is None
                   else order[reviews.labels[order] == label])
        held.extend(members[: round(len(members) * fraction)])
    held_mask = np.zeros(len(reviews), dtype=bool)
    held_mask[held] = True
    # Shuffle both parts so no later step sees the label order of the file.
    return (reviews.subset(rng.permutation(np.flatnonzero(~held_mask))),
            reviews.subset(rng.permutation(np.flatnonzero(held_mask))))


@keras.saving.register_keras_serializable(package=__name__)
def standardize(texts):
    """Lower-case, turn the reviews' HTML line breaks into spaces, drop punctuation but apostrophes."""
    texts = tf.strings.lower(texts)
    texts = tf.strings.regex_replace(texts, r"<br\s*/?>", " ")
    return tf.strings.regex_replace(texts, r"[^\w\s']", " ")


def make_vectorizer(train_texts, max_tokens, max_words):
    """A TextVectorization fitted on training text only: text -> (max_words,) ids, 0 = padding, 1 = unknown."""
    vectorizer = keras.layers.TextVectorization(
        max_tokens=max_tokens, standardize=standardize, output_sequence_length=max_words, name="vectorizer")
    vectorizer.adapt(tf.data.Dataset.from_tensor_slices(train_texts).batch(1024))
    return vectorizer


def token_ids(vectorizer, texts):
    """Every text's token ids, padding trimmed: a RaggedTensor (reviews, None) of int64.

    Tokenised once, so epochs never redo the text processing.
    """
    rows = [tf.RaggedTensor.from_tensor(vectorizer(tf.constant(texts[begin: begin + 1024])), padding=0)
            for begin in range(0, len(texts), 1024)]  # (<=1024, max_words) padded with 0 -> ragged
    return tf.concat(rows, axis=0)


def token_batches(vectorizer, reviews, batch_size, max_words, shuffle_seed=None, ids=None, ngram_weights=None):
    """(tokens, label) batches, grouped by length so short reviews do not pay for long ones' padding.

    Each batch is (batch, longest review in it) int64 plus (batch,) float32 labels;
    padding stays on the right, where masking and cuDNN expect it. With a seed, each
    epoch's order is a function of (seed, epoch), so a resumed run sees the same batches.
    ids: the reviews' token_ids, when the caller has them already.
    ngram_weights: (reviews, time >= longest, order) per-step inputs (ngrams.step_weights), right-padded;
    the batches are then ((tokens, (batch, longest, order) float32), label).
    """
    ids = token_ids(vectorizer, list(reviews.texts)) if ids is None else ids
    lengths = ids.row_lengths()
    keep = lengths.numpy() > 0  # all-padding rows break cuDNN
    inputs = tf.ragged.boolean_mask(ids, keep)
    if ngram_weights is not None:
        weights = tf.RaggedTensor.from_tensor(ngram_weights[:, : int(tf.reduce_max(lengths))], lengths=lengths)
        inputs = (inputs, tf.ragged.boolean_mask(weights, keep))
    pairs = slices((inputs, reviews.labels.astype("float32")[keep]), shuffle_seed)  # (tokens,) [+ (tokens, order)], ()
    boundaries = list(range(32, max_words, 32))
    batches = pairs.bucket_by_sequence_length(lambda inputs, label: tf.shape(tf.nest.flatten(inputs)[0])[0],
                                              boundaries, [batch_size] * (len(boundaries) + 1))
    return prefetched(batches)


def check_splits(parts, source):
    """A UserError unless every split ({name: Reviews}) holds reviews of both classes."""
    for name, part in parts.items():
        negative, positive = np.bincount(part.labels, minlength=2)[:2]
        if not (negative and positive):
            raise UserError(f"{source}: the {name} split has {positive} positive and {negative} negative "
                            "reviews; training and scoring need both classes in every split (give at "
                            "least 10 reviews of each class)")


def describe(name, reviews):
    lengths = np.array([len(text.split()) for text in reviews.texts])
    return (f"{name:<10} {len(reviews):>6} reviews, {reviews.labels.mean():.1%} positive, "
            f"median {int(np.median(lengths))} words")
