"""The baselines a character model must beat, on the same split: a unigram and a smoothed n-gram."""
import math
import time

from . import data, ngram


def per_char(loss):
    """The same cross-entropy three ways: nats and bits per character, perplexity = exp(nats)."""
    return {"nats_per_char": loss, "bits_per_char": loss / math.log(2), "perplexity": math.exp(loss)}


def score_baselines(train_ids, val_ids, test_ids, vocab_size, seq_len, positions=None):
    """Unigram and Kneser-Ney n-gram, counted on the training ids, scored on the model's targets.

    The n-gram's order is chosen on the validation ids alone (choose_order never sees the
    test ids); the test ids, when there are any, are scored once with that order.
    positions: ids -> indices of the characters the model's figure scores (default: the targets
    of windows of seq_len, data.scored_positions; carried.positions for the carried evaluation).
    """
    positions = positions or (lambda ids: data.scored_positions(ids, seq_len))
    val_positions = positions(val_ids)
    baselines = {"unigram": {"name": "unigram (training character frequencies)", "label": "unigram",
                             "validation": per_char(data.unigram_loss(train_ids, val_ids[val_positions], vocab_size))}}
    if test_ids is None:  # the HOME word: validation is the training word, nothing to choose an order on
        return baselines
    test_positions = positions(test_ids)
    baselines["unigram"]["test"] = per_char(data.unigram_loss(train_ids, test_ids[test_positions], vocab_size))
    started = time.perf_counter()
    counts, by_order = ngram.choose_order(train_ids, val_ids, val_positions, vocab_size)
    seconds = time.perf_counter() - started
    baselines["ngram"] = {
        "name": "interpolated Kneser-Ney character n-gram, order chosen on validation", "order": counts.order,
        "label": f"{counts.order}-gram KN", "validation": per_char(by_order[counts.order]),
        "test": per_char(counts.loss(test_ids, test_positions)),
        "validation_by_order": {str(n): loss for n, loss in by_order.items()},
        "seconds_to_count_and_choose": seconds}
    print(f"\n{counts.order}-gram Kneser-Ney baseline: order chosen on validation ({len(val_positions):,} characters "
          f"scored) among 1..{counts.max_order} "
          f"in {seconds:.1f} s (" + ", ".join(f"{n}: {loss:.3f}" for n, loss in by_order.items()) + " nats/char)")
    return baselines


