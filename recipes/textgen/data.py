"""Text in, character ids and (input, next-character) windows out.

Sources: the built-in "HOME" word (no argument), `--text PATH`, or `--corpus
tinyshakespeare` (RECIPES_DATA_DIR/text/tinyshakespeare.txt, else the
`tiny_shakespeare` dataset of the TensorFlow Datasets catalog, fetched once and
written whole to the same file in the cache). The last `test_fraction` of the
text is the test tail, the `val_fraction` before it the validation part; the
vocabulary and the baselines' counts come from the rest.
"""
import dataclasses
import math

import numpy as np

from shared.data import catalog, locate, prefetched, read_text, slices, written
from shared.errors import UserError

from .config import CORPORA, TEST_FRACTION  # the settings' module: the known corpora, the default test tail

HOME = "HOME"  # the teaching example: fed "H", predict "O", then "M", then "E"
CATALOG_PARTS = ("train", "validation", "test")  # tfds cuts the file 90/5/5 in this order: joined, the whole file
MIN_BATCHES = 50  # a tiny text is repeated so one epoch is at least this many batches


@dataclasses.dataclass
class Corpus:
    train: str
    val: str
    source: str
    dropped: int = 0  # validation characters left out because training never saw them
    test: str = ""  # empty for the HOME word, which has no tail to hold out
    test_dropped: int = 0  # the same for the test tail


def read_corpus(path, encoding="utf-8"):
    """A text file as a string; errors are one line and name the file (and the line, for bad bytes)."""
    try:
        text = read_text(path, encoding=encoding, what="text file")
    except UserError as error:
        if "not valid" in str(error):
            raise UserError(f"{error}, or name its encoding with --encoding (e.g. --encoding latin-1)") from None
        raise
    if not text.strip():
        raise UserError(f"{path}: the text file holds only whitespace")
    return text


def _fetch(name):
    relative, dataset = CORPORA[name]

    def fetch(cache):
        if not (cache / relative).is_file():
            parts = [catalog(dataset, part, cache)[0]["text"].decode("utf-8") for part in CATALOG_PARTS]
            with written(cache / relative) as handle:
                handle.write("".join(parts))  # this recipe makes its own split (split() below)
        return cache / relative
    return fetch


def load_text(text_path, corpus, encoding):
    """(text, description of where it came from)."""
    if text_path and corpus == "home":  # the home command's corpus, never given as --corpus
        raise UserError(f"--text {text_path}: the home command trains on the built-in word \"HOME\" and takes "
                        f"no --text; to learn a file, use the train command: python -m {__package__} --text FILE")
    if text_path and corpus:
        raise UserError("give either --text or --corpus, not both")
    if text_path:
        return read_corpus(text_path, encoding), str(text_path)
    if corpus == "home":
        return HOME, 'the built-in word "HOME"'
    if corpus:
        path = locate(CORPORA[corpus][0], _fetch(corpus))
        return read_corpus(path, encoding), str(path)
    return HOME, 'the built-in word "HOME"'


def split(text, val_fraction, seq_len, holdout=True, test_fraction=TEST_FRACTION):
    """Training head, validation part and test tail, each long enough for one window of seq_len + 1.

    The text's last `test_fraction` is the test tail, the `val_fraction` before it the
    validation part; characters that training never saw are dropped from both (and counted).
    Without `holdout` (the HOME word, too short to split) the validation text is the
    training text and there is no test tail: it then measures memorisation, nothing more.
    """
    need = seq_len + 1
    if len(text) < need:
        raise UserError(f"the text has {len(text)} characters, fewer than --seq-len + 1 = {need}; "
                        "use a longer text or a smaller --seq-len")
    if not holdout:
        return Corpus(text, text, "")
    if val_fraction + test_fraction >= 1:
        raise UserError(f"--val-fraction {val_fraction} and --test-fraction {test_fraction} leave no training part")
    # Both cuts rounded from the end, so the training part is the same as with one tail of their sum.
    train_end = len(text) - round(len(text) * (val_fraction + test_fraction))
    val_end = len(text) - round(len(text) * test_fraction)
    if min(train_end, val_end - train_end, len(text) - val_end) < need:
        raise UserError(f"the text has {len(text)} characters: too few for a training part, a validation "
                        f"part ({val_fraction:.0%}) and a test tail ({test_fraction:.0%}) of at least "
                        f"--seq-len + 1 = {need} each; use a longer text or a smaller --seq-len")
    train = text[:train_end]
    known = set(train)
    val, test = ("".join(c for c in part if c in known) for part in (text[train_end:val_end], text[val_end:]))
    if min(len(val), len(test)) < need:
        raise UserError("the validation part or the test tail shares too few characters with the training text")
    return Corpus(train, val, "", dropped=val_end - train_end - len(val), test=test,
                  test_dropped=len(text) - val_end - len(test))


def check_variety(train_text):
    """A UserError when the training part has fewer than 2 distinct characters: nothing to predict."""
    if len(set(train_text)) < 2:
        raise UserError(f"the training text uses {len(set(train_text))} distinct character(s); a language "
                        "model needs at least 2 to have anything to predict")


def vocabulary(train_text):
    """Sorted distinct characters of the training text; a character's id is its index."""
    return sorted(set(train_text))


def encode(text, vocab):
    index = {char: i for i, char in enumerate(vocab)}
    unknown = sorted({char for char in text if char not in index})
    if unknown:
        raise UserError(f"characters not in the model's vocabulary: {' '.join(repr(c) for c in unknown)}")
    return np.array([index[char] for char in text], dtype="int32")


def windows(ids, seq_len):
    """(inputs, targets), each (n, seq_len): back-to-back windows, targets shifted by one."""
    count = (len(ids) - 1) // seq_len
    inputs = ids[: count * seq_len].reshape(count, seq_len)
    targets = ids[1: count * seq_len + 1].reshape(count, seq_len)
    return inputs, targets


def _repeats(count, batch_size, min_batches):
    """How often a training epoch repeats the `count` windows of a short text, to have min_batches."""
    return max(1, math.ceil(min_batches * batch_size / count))


def batch_count(ids, seq_len, batch_size, shuffled=False, min_batches=MIN_BATCHES):
    """Batches per epoch of `batches` with the same arguments (shuffled: the training pipeline)."""
    count = (len(ids) - 1) // seq_len
    if shuffled:
        count *= _repeats(count, batch_size, min_batches)
    return math.ceil(count / batch_size)


def batches(ids, seq_len, batch_size, shuffle_seed=None, min_batches=MIN_BATCHES):
    """A tf.data pipeline of (batch, seq_len) int32 pairs; shuffled (per epoch) when given a seed."""
    inputs, targets = windows(ids, seq_len)
    if shuffle_seed is not None:  # a short text: repeat its windows so an epoch has min_batches
        repeats = _repeats(len(inputs), batch_size, min_batches)
        inputs, targets = np.tile(inputs, (repeats, 1)), np.tile(targets, (repeats, 1))
    import tensorflow as tf  # here: --help answers before TensorFlow loads

    # With a seed, each epoch's order is a function of (seed, epoch): a resumed run sees the same batches.
    # The number of batches is declared: of a pipeline of unknown length Keras counts one step more per
    # epoch in the optimizer's iterations (no update), and the cosine schedule, read at those, ends early.
    pipeline = slices((inputs, targets), shuffle_seed).batch(batch_size)
    return prefetched(pipeline.apply(tf.data.experimental.assert_cardinality(math.ceil(len(inputs) / batch_size))))


def unigram_loss(train_ids, target_ids, vocab_size):
    """Cross-entropy (nats/char) of predicting every target from training character frequencies."""
    counts = np.bincount(train_ids, minlength=vocab_size).astype("float64")
    probabilities = counts / counts.sum()
    return float(-np.mean(np.log(probabilities[target_ids])))


def scored_positions(ids, seq_len):
    """Indices into `ids` of the characters the model is scored on: the targets of `windows`."""
    return np.arange(1, (len(ids) - 1) // seq_len * seq_len + 1)


def describe(name, text, seq_len):
    return f"{name:<10} {len(text):>9,} characters, {(len(text) - 1) // seq_len:>7,} windows of {seq_len}"
