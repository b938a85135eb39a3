"""Beam search with a pool of finished translations, for any step function (numpy only, no Keras).

A translation is finished when it emits [end]. Finished translations leave the beam at once:
each step, every live beam's [end] extension is scored by its length-penalised score and the best
one per sentence is kept; the `beam_size` live beams continue with the best extensions that are
not [end]. A sentence stops when no live beam can still beat its best finished translation, or at
`max_len` words, where [end] is the only extension left (live beams are finished by force, [end]'s
probability included). The choice is the best finished translation by length-penalised score, so a
sentence without [end] is never returned and a finished one is never pushed out by unfinished ones.
"""
import numpy as np

LENGTH_PENALTY = 0.6  # alpha of GNMT's length penalty: finished translations rank by log P / penalty(length)


def penalty(length, alpha=LENGTH_PENALTY):
    """GNMT's ((5 + length) / 6) ** alpha; `length` counts the words and the [end] token."""
    return ((5.0 + np.asarray(length, dtype="float64")) / 6.0) ** alpha


def log_softmax(logits):
    """(rows, vocab) logits -> log-probabilities; a banned token's -inf stays -inf."""
    top = logits.max(axis=1, keepdims=True)
    return logits - (top + np.log(np.exp(logits - top).sum(axis=1, keepdims=True)))


def beam_search(step, state, reorder, batch, beam_size, start, end, max_len, alpha=LENGTH_PENALTY):
    """Best finished word id lists (without [end]) for `batch` sentences, with their penalised scores.

    step(previous (batch * beam_size,) int32 ids, state) -> (log-probabilities (batch * beam_size, vocab),
    new state): row b * beam_size + j is beam j of sentence b. reorder(state, rows) -> the state of the
    rows (batch * beam_size,) that the beams continue from.
    """
    k = beam_size
    scores = np.full((batch, k), -np.inf)  # summed log-probabilities of the live beams
    scores[:, 0] = 0.0  # one live beam at first, so the k beams do not start as copies
    history = np.zeros((batch, k, 0), dtype="int32")  # the live beams' words
    best_score = np.full(batch, -np.inf)  # the best finished translation per sentence, penalised
    best = [[] for _ in range(batch)]
    done = np.zeros(batch, dtype=bool)
    previous = np.full(batch * k, start, dtype="int32")
    for length in range(max_len + 1):  # `length` words so far in every live beam
        log_p, state = step(previous, state)
        vocab = log_p.shape[1]
        candidates = scores[:, :, None] + log_p.reshape(batch, k, vocab)  # (batch, k, vocab)
        # The finished pool: each live beam's [end] extension, scored with its length penalty.
        finished = candidates[:, :, end] / penalty(length + 1, alpha)  # (batch, k)
        beam = finished.argmax(axis=1)
        improved = ~done & (finished[np.arange(batch), beam] > best_score)
        for b in np.flatnonzero(improved):
            best_score[b], best[b] = finished[b, beam[b]], history[b, beam[b]].tolist()
        if length == max_len:
            break  # [end] was the only extension left
        # The live beams: the k best extensions that are not [end].
        candidates[:, :, end] = -np.inf
        candidates = candidates.reshape(batch, k * vocab)
        if k == 1:
            top = candidates.argmax(axis=1)[:, None]
        else:
            top = np.argpartition(-candidates, k - 1, axis=1)[:, :k]
            top = np.take_along_axis(top, np.argsort(-np.take_along_axis(candidates, top, 1), 1, kind="stable"), 1)
        beam, token = top // vocab, (top % vocab).astype("int32")  # (batch, k) each
        scores = np.take_along_axis(candidates, top, 1)
        history = np.concatenate([np.take_along_axis(history, beam[:, :, None], 1), token[:, :, None]], 2)
        state = reorder(state, (np.arange(batch)[:, None] * k + beam).ravel())
        previous = token.ravel()
        # Log-probabilities are <= 0, so a live beam's best outcome is its score today over the largest
        # penalty, reached at max_len words and [end].
        done |= best_score >= scores.max(axis=1) / penalty(max_len + 1, alpha)
        if done.all():
            break
    return best, best_score
