"""Beam search against exhaustive search, on tiny random decoders plugged into Translator.beam.

Each of 200 random bigram decoders (the next word's log-probabilities depend on the previous word
only; 4 words plus [end], at most 4 words) is one sentence of a batch: Translator.beam runs its own
code on them, with only _encode and _step replaced. Exhaustive search scores every sequence of at
most MAX_LEN words followed by [end] by GNMT's length-penalised log-probability.
"""
import itertools

import numpy as np
import pytest

from .. import data
from .. import translator as inference

WORDS, MAX_LEN, DECODERS = 4, 4, 200
ALPHA = 0.6  # GNMT's length penalty, the recipe's setting: ((5 + length) / 6) ** 0.6, length counting [end]
START, END = data.SPECIALS.index(data.START), data.SPECIALS.index(data.END)
VOCAB = len(data.SPECIALS) + WORDS  # padding, [UNK], [start], [end], then the words
BANNED = [0, 1, START]


def random_decoders(seed=0):
    """(DECODERS, VOCAB previous token, VOCAB next token) log-probabilities; banned tokens get none."""
    logits = np.random.default_rng(seed).normal(0.0, 2.0, (DECODERS, VOCAB, VOCAB))
    logits[:, :, BANNED] = -np.inf
    return logits - np.log(np.exp(logits).sum(axis=2, keepdims=True))


def penalised(log_p, words, alpha=ALPHA):
    """One decoder's length-penalised log-probability of `words` then [end]."""
    tokens = [START, *words, END]
    return sum(log_p[a, b] for a, b in zip(tokens, tokens[1:])) / ((5.0 + len(words) + 1) / 6.0) ** alpha


def exhaustive(log_p, alpha=ALPHA):
    """Per decoder, the best sequence of at most MAX_LEN words then [end], and its penalised score."""
    best, best_score = [None] * len(log_p), np.full(len(log_p), -np.inf)
    for length in range(MAX_LEN + 1):
        for words in itertools.product(range(len(data.SPECIALS), VOCAB), repeat=length):
            tokens = [START, *words, END]
            score = sum(log_p[:, a, b] for a, b in zip(tokens, tokens[1:])) / ((5.0 + length + 1) / 6.0) ** alpha
            for d in np.flatnonzero(score > best_score):
                best[d], best_score[d] = list(words), score[d]
    return best, best_score


class BigramTranslator(inference.Translator):
    """Translator.beam on random decoders: sentence [d] is decoder d. The decoder state is the prefix
    decoded so far, so every prefix the search expands is recorded in `expanded` as (decoder, words)."""

    def __init__(self, log_p):  # no model: only what beam search reads
        self.log_p = log_p
        self.target_vocab = data.Vocabulary(data.SPECIALS + [f"w{i}" for i in range(WORDS)])
        self.max_len, self.banned, self.end = MAX_LEN, BANNED, END
        self.expanded = set()

    def _encode(self, sources):
        source = np.array(sources, dtype="int32")  # (batch, 1): the decoder of each sentence
        prefix = np.zeros((len(sources), MAX_LEN + 2), dtype="float32")  # (batch, count + tokens)
        return source, np.zeros((len(sources), 1, 1), dtype="float32"), [prefix]

    def _step(self, previous, memory, source, states):
        decoder, prefix = np.asarray(source)[:, 0], np.array(states[0])
        for row in np.flatnonzero(previous != START):
            count = int(prefix[row, 0])
            prefix[row, 0], prefix[row, 1 + count] = count + 1, previous[row]
        for row in range(len(prefix)):
            words = tuple(int(t) for t in prefix[row, 1: 1 + int(prefix[row, 0])])
            if all(t >= len(data.SPECIALS) for t in words):  # a live prefix, not one after [end]
                self.expanded.add((int(decoder[row]), words))
        logits = self.log_p[decoder, previous].copy()  # (rows, VOCAB)
        logits[:, BANNED] = 3.0  # large: the search must ban these itself
        return logits, np.zeros((len(prefix), 1), dtype="float32"), [prefix]


@pytest.fixture(scope="module")
def decoders():
    log_p = random_decoders()
    return log_p, exhaustive(log_p)


def test_the_decoders_tell_a_missing_length_penalty_and_ranking_by_length_apart(decoders):
    log_p, (best, _) = decoders
    unpenalised, _ = exhaustive(log_p, alpha=0.0)
    assert sum(a != b for a, b in zip(best, unpenalised)) >= 10  # the penalty changes the optimum
    assert len({len(words) for words in best}) >= 3  # the optimum is not always the longest or shortest


def test_a_beam_that_keeps_every_prefix_finds_the_exhaustive_optimum(decoders):
    log_p, (best, best_score) = decoders
    # Width WORDS ** MAX_LEN keeps every prefix live, so only the finished pool, the stopping rule and the
    # final ranking are tested. (Width >= the vocabulary is not enough even for a bigram decoder: the k
    # best prefixes of a length can share their last word and push out the optimum's prefix.)
    found = BigramTranslator(log_p).beam([[d] for d in range(DECODERS)], WORDS ** MAX_LEN)
    assert [d for d in range(DECODERS) if found[d] != best[d]] == []
    np.testing.assert_allclose([penalised(log_p[d], found[d]) for d in range(DECODERS)], best_score)


@pytest.mark.parametrize("width", [2, 3, 4])
def test_a_narrow_beam_returns_a_finished_translation_no_worse_than_any_it_found(decoders, width):
    log_p, (_, best_score) = decoders
    translator = BigramTranslator(log_p)
    found = translator.beam([[d] for d in range(DECODERS)], width)
    unfinished = [d for d in range(DECODERS) if len(found[d]) > MAX_LEN]
    assert unfinished == [], f"no [end] within {MAX_LEN} words, decoders {unfinished[:5]}"
    score = np.array([penalised(log_p[d], found[d]) for d in range(DECODERS)])
    assert np.all(score <= best_score + 1e-9)
    # Every prefix the search expanded had its [end] extension scored: none may beat the choice.
    beaten = [(d, words) for d, words in sorted(translator.expanded) if penalised(log_p[d], words) > score[d] + 1e-9]
    assert beaten == [], f"a finished translation that was found scores higher than the choice: {beaten[:3]}"
    # The narrow beam is not exhaustive: widths below WORDS ** MAX_LEN are allowed to miss the optimum.
    assert len(translator.expanded) < DECODERS * sum(WORDS ** n for n in range(MAX_LEN + 1))
