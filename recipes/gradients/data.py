"""The synthetic tasks: sequences of one-hot symbols whose class sits at one or both ends, the rest noise.

Each input step is a one-hot vector over MARKERS + NOISE symbols (batch, time, FEATURES), float32,
so the gradient of the loss with respect to every input step, dL/dx_t, exists. Inputs are one-hot
rather than embedded token ids for that reason. Every batch is drawn from a numpy Generator: the
same seed gives the same batches; validation sets come from a seed training never uses.
"""
import numpy as np

MARKERS = 4  # symbols 0..3 carry the class
NOISE = 4  # symbols 4..7 are filler, drawn uniformly at every other step
FEATURES = MARKERS + NOISE
CLASSES = 4  # both tasks have 4 classes: chance (the best guess without the signal) is 1/4


def _noise(rng, count, length):
    """(count, length, FEATURES) float32: a uniformly drawn noise symbol at every step."""
    x = np.zeros((count, length, FEATURES), "float32")
    symbols = rng.integers(MARKERS, FEATURES, (count, length))
    np.put_along_axis(x, symbols[..., None], 1.0, axis=2)
    return x


def first_symbol(rng, count, length):
    """The class is the first step's marker (0..3); the other length - 1 steps are noise.

    Returns x (count, length, FEATURES) and y (count,) int: what the model must carry from step 1
    to the output at step `length`.
    """
    x = _noise(rng, count, length)
    y = rng.integers(0, CLASSES, count)
    x[:, 0, :] = 0.0
    x[np.arange(count), 0, y] = 1.0
    return x, y


def both_ends(rng, count, length):
    """The class needs both ends: first marker a in {0, 1}, last marker 2 + b in {2, 3}, class 2a + b.

    One end alone gives 2 of the 4 classes: accuracy 1/2 at best, against chance 1/4.
    """
    if length < 2:
        raise ValueError("both_ends needs sequences of at least 2 steps")
    x = _noise(rng, count, length)
    first, last = rng.integers(0, 2, count), rng.integers(0, 2, count)
    x[:, 0, :] = 0.0
    x[:, -1, :] = 0.0
    x[np.arange(count), 0, first] = 1.0
    x[np.arange(count), -1, 2 + last] = 1.0
    return x, 2 * first + last


TASKS = {"first_symbol": first_symbol, "both_ends": both_ends}


def generator(seed, *streams):
    """A Generator for one (seed, stream...) pair: e.g. (seed, length, TRAIN) or (seed, length, VALIDATION)."""
    return np.random.default_rng([seed, *streams])


TRAIN, VALIDATION = 0, 1  # the last stream number: batches for training, and the held-out set
