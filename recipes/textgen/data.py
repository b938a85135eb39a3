"""Text in, character ids and (input, next-character) windows out.

Sources: the built-in "HOME" word (no argument), `--text PATH`, or `--corpus
tinyshakespeare` (RECIPES_DATA_DIR/text/tinyshakespeare.txt, else Karpathy's
char-rnn file, downloaded once and verified). The last `val_fraction` of the
text is held out; the vocabulary and the unigram baseline come from the rest.
"""
import dataclasses
import math

import numpy as np
import tensorflow as tf

from shared.data import download, locate, prefetched, read_text
from shared.errors import UserError

HOME = "HOME"  # the teaching example: fed "H", predict "O", then "M", then "E"
CORPORA = {
    "tinyshakespeare": (
        "text/tinyshakespeare.txt",
        "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
    ),
}
MIN_BATCHES = 50  # a tiny text is repeated so one epoch is at least this many batches


@dataclasses.dataclass
class Corpus:
    train: str
    val: str
    source: str
    dropped: int = 0  # validation characters left out because training never saw them


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
    relative, url, digest = CORPORA[name]
    return lambda cache: (cache / relative if (cache / relative).is_file()
                          else download(url, cache / relative, digest))


def load_text(text_path, corpus, encoding):
    """(text, description of where it came from)."""
    if text_path and corpus:
        raise UserError("give either --text or --corpus, not both")
    if text_path:
        return read_corpus(text_path, encoding), str(text_path)
    if corpus:
        path = locate(CORPORA[corpus][0], _fetch(corpus))
        return read_corpus(path, encoding), str(path)
    return HOME, 'the built-in word "HOME"'


def split(text, val_fraction, seq_len, holdout=True):
    """Training head and validation tail, each long enough for one window of seq_len + 1.

    Without `holdout` (the HOME word, too short to split) the validation text is the
    training text: it then measures memorisation, nothing more.
    """
    need = seq_len + 1
    if len(text) < need:
        raise UserError(f"the text has {len(text)} characters, fewer than --seq-len + 1 = {need}; "
                        "use a longer text or a smaller --seq-len")
    if not holdout:
        return Corpus(text, text, "")
    cut = len(text) - round(len(text) * val_fraction)
    if cut < need or len(text) - cut < need:
        raise UserError(f"the text has {len(text)} characters: too few for a training part and a "
                        f"validation tail ({val_fraction:.0%}) of at least --seq-len + 1 = {need} each; "
                        "use a longer text or a smaller --seq-len")
    train, val = text[:cut], text[cut:]
    known = set(train)
    kept = "".join(c for c in val if c in known)
    if len(kept) < need:
        raise UserError("the validation tail shares too few characters with the training text")
    return Corpus(train, kept, "", dropped=len(val) - len(kept))


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


def batches(ids, seq_len, batch_size, shuffle_seed=None, min_batches=MIN_BATCHES):
    """A tf.data pipeline of (batch, seq_len) int32 pairs; shuffled (per epoch) when given a seed."""
    inputs, targets = windows(ids, seq_len)
    data = tf.data.Dataset.from_tensor_slices((inputs, targets))
    if shuffle_seed is not None:
        repeats = max(1, math.ceil(min_batches * batch_size / len(inputs)))
        data = data.repeat(repeats).shuffle(len(inputs) * repeats, seed=shuffle_seed,
                                            reshuffle_each_iteration=True)
    return prefetched(data.batch(batch_size))


def unigram_loss(train_ids, target_ids, vocab_size):
    """Cross-entropy (nats/char) of predicting every target from training character frequencies."""
    counts = np.bincount(train_ids, minlength=vocab_size).astype("float64")
    probabilities = counts / counts.sum()
    return float(-np.mean(np.log(probabilities[target_ids])))


def describe(name, text, seq_len):
    return f"{name:<10} {len(text):>9,} characters, {(len(text) - 1) // seq_len:>7,} windows of {seq_len}"
