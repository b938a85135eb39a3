"""Paired comparisons of two classifiers on the same reviews: McNemar's exact test and a paired bootstrap.

Two models scored on one test split are not independent samples: most reviews are right (or wrong) for
both, and only the reviews where they disagree say which is better. McNemar's test asks whether those
discordant reviews split more unevenly than a fair coin would; the paired bootstrap gives an interval of
the accuracy difference. A difference with p >= LEVEL is reported as "level".

Imports nothing of the recipe (numpy and scipy only), so train.py and the tests can both use it.
"""
import numpy as np

LEVEL = 0.05  # below this p-value, one side is "ahead"
RESAMPLES = 1000  # paired bootstrap resamples


def mcnemar(model_right, other_right):
    """(only_model_right, only_other_right, p): McNemar's exact test on per-review correctness (n,) bools.

    p is the two-sided exact binomial test of the discordant reviews against a fair coin (1.0 when the two
    never disagree).
    """
    from scipy.stats import binomtest

    model_right, other_right = np.asarray(model_right, bool), np.asarray(other_right, bool)
    only_model, only_other = int(np.sum(model_right & ~other_right)), int(np.sum(~model_right & other_right))
    discordant = only_model + only_other
    p_value = binomtest(only_model, discordant, 0.5).pvalue if discordant else 1.0
    return only_model, only_other, float(min(p_value, 1.0))


def bootstrap_interval(model_right, other_right, resamples=RESAMPLES, seed=0):
    """[low, high]: the 95% percentile interval of accuracy(model) - accuracy(other) over `resamples`
    resamples of the reviews with replacement, each review keeping both models' answers (paired).

    A review adds +1 (only the model right), -1 (only the other) or 0 to the difference, so resampling n
    reviews draws the three kinds' counts from a multinomial with their shares: the same distribution as
    drawing indices, without a (resamples, n) array (25,000 test reviews: 200 MB of indices).
    """
    model_right, other_right = np.asarray(model_right, bool), np.asarray(other_right, bool)
    n = len(model_right)
    shares = np.array([np.sum(model_right & ~other_right), np.sum(~model_right & other_right)]) / n
    counts = np.random.default_rng(seed).multinomial(n, [*shares, max(0.0, 1.0 - shares.sum())], size=resamples)
    differences = (counts[:, 0] - counts[:, 1]) / n  # (resamples,)
    low, high = np.percentile(differences, [2.5, 97.5])
    return [float(low), float(high)]


def compare(model_right, other_right, seed=0, resamples=RESAMPLES):
    """metrics.json's entry for one comparison on the same reviews: the discordant counts, McNemar's p,
    the accuracy difference (model - other) and its paired-bootstrap 95% interval."""
    only_model, only_other, p_value = mcnemar(model_right, other_right)
    return {"only_model_right": only_model, "only_baseline_right": only_other, "p_value": p_value,
            "accuracy_difference": (only_model - only_other) / len(model_right),
            "interval_95": bootstrap_interval(model_right, other_right, resamples, seed), "reviews": len(model_right)}


def verdict(entry, other):
    """'level' when p >= LEVEL, else which side is ahead: 'the model ahead' or f'{other} ahead'."""
    if entry["p_value"] >= LEVEL:
        return "level"
    return "the model ahead" if entry["only_model_right"] > entry["only_baseline_right"] else f"{other} ahead"


def print_paired(comparisons):
    """The paired rows under the results table: {name: compare(...)}."""
    if not comparisons:
        return
    reviews = next(iter(comparisons.values()))["reviews"]
    print(f"  paired with the model on the same {reviews} reviews (McNemar's exact test; "
          f"bootstrap 95% interval of the accuracy difference):")
    for name, entry in comparisons.items():
        low, high = entry["interval_95"]
        label = name.replace("_", " ")
        print(f"  {label:<17} {entry['only_model_right']} reviews only the model gets right, "
              f"{entry['only_baseline_right']} only it: p = {entry['p_value']:.3g}, {verdict(entry, label)}; "
              f"difference {entry['accuracy_difference']:+.4f} [{low:+.4f}, {high:+.4f}]")
