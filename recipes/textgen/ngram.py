"""A smoothed character n-gram baseline: interpolated Kneser-Ney, counted with numpy.

Interpolated Kneser-Ney as in Chen & Goodman, "An Empirical Study of Smoothing Techniques
for Language Modeling" (Harvard TR-10-98, 1998), section 3 (one discount per order,
D = n1 / (n1 + 2 n2)). For a context h of length n - 1 and its shortening h':

    P_n(w | h) = max(c(hw) - D, 0) / c(h.) + D * N1+(h .) / c(h.) * P_{n-1}(w | h')

with raw counts c at the highest order and continuation counts (the number of distinct
characters seen before hw) at every lower one; the lowest order interpolates with the
uniform 1/V, so every character of the vocabulary keeps some probability. A context never
seen in training backs off to the shorter one entirely. Each level sums to 1 over the
vocabulary for every context (tested).

An n-gram of ids is one int64, its ids as the digits of a base-V number, so counting is
np.unique and look-up is np.searchsorted: no Python loop per character.
"""
import dataclasses
import math

import numpy as np

MAX_ORDER = 8  # orders 1..MAX_ORDER are tried on the validation tail
DISCOUNT_RANGE = (0.1, 0.9)  # D clipped into this: no count of 1 or 2 must not make D 0 (or undefined)


@dataclasses.dataclass
class Level:
    """Counts of one order's n-grams: sorted codes, their counts, and per context its total and types."""
    keys: np.ndarray
    counts: np.ndarray
    contexts: np.ndarray
    totals: np.ndarray
    types: np.ndarray
    discount: float


def _level(keys, counts, vocab_size):
    contexts, start, types = np.unique(keys // vocab_size, return_index=True, return_counts=True)
    totals = np.add.reduceat(counts, start) if len(keys) else np.zeros(0, "int64")  # keys are sorted by context
    n1, n2 = np.sum(counts == 1), np.sum(counts == 2)
    discount = n1 / (n1 + 2 * n2) if n1 + 2 * n2 else 0.5
    return Level(keys, counts, contexts, totals, types, float(np.clip(discount, *DISCOUNT_RANGE)))


def _lookup(keys, values, queries):
    """values[keys == q] for each query, 0 where a query is not among the (sorted) keys."""
    if len(keys) == 0:
        return np.zeros(len(queries), values.dtype)
    at = np.minimum(np.searchsorted(keys, queries), len(keys) - 1)
    return np.where(keys[at] == queries, values[at], 0)


def max_order_for(vocab_size, wanted=MAX_ORDER):
    """The highest order whose n-gram codes fit in an int64 (vocab_size ** order < 2 ** 62)."""
    return max(1, min(wanted, int(62 / math.log2(max(vocab_size, 2)))))


class KneserNey:
    """Counts from the training ids for orders 1..max_order; `order` picks the model that scores."""

    def __init__(self, train_ids, vocab_size, max_order=MAX_ORDER, order=None):
        if max_order > max_order_for(vocab_size, max_order):
            raise ValueError(f"order {max_order} n-grams of {vocab_size} characters do not fit in int64")
        self.vocab_size, self.max_order = vocab_size, max_order
        self.order = max_order if order is None else order
        ids = np.asarray(train_ids, dtype="int64")
        self.raw, codes = [], ids
        for n in range(1, max_order + 1):  # codes: every n-gram of the training text, as one int64 each
            if n > 1:
                codes = codes[:-1] * vocab_size + ids[n - 1:]
            keys, counts = np.unique(codes, return_counts=True)
            self.raw.append(_level(keys, counts, vocab_size))
        # Continuation counts of order n: distinct characters before each n-gram = (n+1)-gram types per suffix.
        self.continuation = [
            _level(*np.unique(self.raw[n].keys % vocab_size ** n, return_counts=True), vocab_size)
            for n in range(1, max_order)]

    def _all_orders(self, grams, lengths):
        """P_n(last column | the columns before it) for n = 1..max_order: (max_order, rows).

        grams (rows, max_order) int ids, the character to predict last; lengths (rows,): how
        many of the columns before it are real context (the rest is padding, never read).
        """
        grams = np.asarray(grams, dtype="int64")
        vocab = self.vocab_size
        lower = np.full(len(grams), 1.0 / vocab)  # below order 1: uniform
        code = np.zeros(len(grams), "int64")
        result = []
        for n in range(1, self.max_order + 1):
            code = code + grams[:, -n] * vocab ** (n - 1)  # the last n columns as one number
            usable = lengths >= n - 1
            result.append(self._fold(self.raw[n - 1], code, lower, usable))
            if n < self.max_order:
                lower = self._fold(self.continuation[n - 1], code, lower, usable)
        return np.stack(result)

    def _fold(self, level, code, lower, usable):
        """One order on top of the next lower one's probabilities (see the module docstring)."""
        count = _lookup(level.keys, level.counts, code)
        context = code // self.vocab_size
        total = _lookup(level.contexts, level.totals, context)
        types = _lookup(level.contexts, level.types, context)
        seen = usable & (total > 0)
        total = np.where(seen, total, 1)
        mixed = np.maximum(count - level.discount, 0) / total + level.discount * types / total * lower
        return np.where(seen, mixed, lower)

    def _rows(self, ids, positions):
        """Each position's character and up to max_order - 1 characters before it in `ids`."""
        ids = np.asarray(ids, dtype="int64")
        positions = np.asarray(positions, dtype="int64")
        padded = np.concatenate([np.zeros(self.max_order - 1, "int64"), ids])
        grams = np.lib.stride_tricks.sliding_window_view(padded, self.max_order)[positions]
        return grams, np.minimum(positions, self.max_order - 1)

    def losses(self, ids, positions):
        """Cross-entropy (nats/char) of ids[positions] for every order 1..max_order: {order: loss}."""
        probabilities = self._all_orders(*self._rows(ids, positions))
        return {n: float(-np.mean(np.log(p))) for n, p in enumerate(probabilities, start=1)}

    def loss(self, ids, positions):
        """Cross-entropy (nats/char) of ids[positions] under the chosen order, each from its own context."""
        return self.losses(ids, positions)[self.order]

    def distribution(self, context):
        """P(w | context) for every w in the vocabulary, under the chosen order: (vocab,)."""
        context = list(context)[-(self.max_order - 1):] if self.max_order > 1 else []
        pad = [0] * (self.max_order - 1 - len(context))
        grams = np.array([pad + context + [w] for w in range(self.vocab_size)])
        lengths = np.full(self.vocab_size, len(context))
        return self._all_orders(grams, lengths)[self.order - 1]


def choose_order(train_ids, val_ids, val_positions, vocab_size, max_order=MAX_ORDER):
    """Counts from training, the order with the lowest validation loss; (model, {order: validation loss}).

    Takes no test text: the order is chosen on validation alone, the test tail is scored once after.
    """
    model = KneserNey(train_ids, vocab_size, max_order_for(vocab_size, max_order))
    by_order = model.losses(val_ids, val_positions)
    model.order = min(by_order, key=by_order.get)
    return model, by_order
