"""The n-gram branch, fitted before the network: a Naive-Bayes-scaled logistic regression (NBSVM).

Features are the recipe's own token ids, so the branch inside the model (model.BagOfNgrams)
computes exactly what was fitted here: every word, and every run of 2..order words hashed into
`buckets` (model.gram_ids), counted in the review and divided by sqrt(review length). Each
feature is scaled by its Naive Bayes log-count ratio from the training split (Wang & Manning
2012), then a logistic regression is fitted by a convex solver (liblinear):
two epochs of Adam leave a linear model of two million sparse features far from its optimum.

The recurrent network reads the branch's weights of each word and word pair beside the word's vector
(model.NgramWeights). Fitted on all training reviews, those weights know every training review's label
(the regression is nearly always right on them), and a network trained on them would learn to trust them
more than they deserve on new reviews. So in training each review's weights come from a regression fitted
without it (cross_fit: five folds), and the model holds the mean of the five for new reviews.
train.fit_blend then weighs the two branches' logits on the validation split, which neither was fitted
on (stacking, Wolpert 1992).
"""
import numpy as np

CROSS_FOLDS = 5  # regressions whose held-out weights the network reads in training


def gram_matrix(ids, order, buckets, vocab_size):
    """(reviews, vocab_size + (order - 1) * buckets) scipy CSR: each n-gram's count / sqrt(review length).

    ids: (reviews, time) int, right-padded with 0 (data.token_ids(...).to_tensor()).
    """
    import scipy.sparse

    from .model import gram_ids

    ids = np.asarray(ids, dtype="int32")
    length = np.sqrt(np.maximum((ids > 0).sum(axis=1), 1))  # (reviews,)
    rows, columns, values = [], [], []
    offset = 0
    for n, (gram, real) in enumerate(gram_ids(ids, order, buckets, np), 1):
        review, step = np.nonzero(real)  # every real n-gram occurrence
        rows.append(review)
        columns.append(gram[review, step].astype("int64") + offset)
        values.append(1.0 / length[review])
        offset += vocab_size if n == 1 else buckets
    matrix = scipy.sparse.csr_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(columns))), shape=(len(ids), offset))
    matrix.sum_duplicates()  # repeated n-grams: counts
    return matrix


def naive_bayes_ratios(matrix, labels, smoothing=1.0):
    """(features,) log(P(feature | positive) / P(feature | negative)), from presence counts, smoothed."""
    present = matrix > 0
    positive = np.asarray(present[labels == 1].sum(axis=0)).ravel() + smoothing
    negative = np.asarray(present[labels == 0].sum(axis=0)).ravel() + smoothing
    return np.log((positive / positive.sum()) / (negative / negative.sum())).astype("float32")


def fit(matrix, labels, c):
    """(weights (features,), bias): the logistic regression on NB-scaled features, as weights of raw ones."""
    from sklearn.linear_model import LogisticRegression

    ratios = naive_bayes_ratios(matrix, labels)
    # The dual problem: far fewer reviews than features, so it converges in seconds (the primal, 5x slower).
    regression = LogisticRegression(C=c, solver="liblinear", dual=True, random_state=0)
    regression.fit(matrix.multiply(ratios).tocsr(), labels)
    # logit = coef . (x * ratios) + b = (coef * ratios) . x + b: the layer holds the product.
    return (regression.coef_[0] * ratios).astype("float32"), float(regression.intercept_[0])


def logits(matrix, weights, bias):
    """(reviews,) the branch's logit for each row of `matrix`."""
    return np.asarray(matrix @ weights).ravel() + bias


def fit_branch(ids, labels, order, buckets, vocab_size, c_grid):
    """The branch fitted on the training reviews, C chosen by validation accuracy.

    ids, labels: {"train": ..., "validation": ...}, ids (reviews, time) right-padded token ids.
    Returns (weights, bias, validation logits (reviews,), facts for metrics.json, the training reviews'
    gram_matrix, which cross_fit reuses).
    """
    import time

    started = time.perf_counter()
    matrices = {name: gram_matrix(ids[name], order, buckets, vocab_size) for name in ("train", "validation")}
    fitted, accuracy = {}, {}
    for c in c_grid:
        fitted[c] = fit(matrices["train"], labels["train"], c)  # (weights, bias)
        accuracy[c] = float(np.mean((logits(matrices["validation"], *fitted[c]) > 0) == labels["validation"]))
    best = max(accuracy, key=accuracy.get)
    weights, bias = fitted[best]
    facts = {"C": best, "validation_accuracy_by_C": {str(c): value for c, value in accuracy.items()},
             "features": matrices["train"].shape[1], "fit_seconds": time.perf_counter() - started}
    return weights, bias, logits(matrices["validation"], weights, bias), facts, matrices["train"]


def cross_fit(matrix, labels, c, seed, folds=CROSS_FOLDS, groups=None):
    """(fold of each review (reviews,), weights (folds, features)): regression k fitted without fold k.

    Folds are stratified and drawn by seed; with groups (reviews,) (data.name_groups), a group's reviews
    share a fold, so no review reads weights fitted on its movie's other reviews. Fewer reviews of a class
    than folds (a small CSV): fewer folds; a single review of a class: one regression on everything (then
    in-sample: one fold).
    """
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    folds = min(folds, int(np.bincount(labels, minlength=2).min()))
    if folds < 2:
        return np.zeros(len(labels), "int32"), fit(matrix, labels, c)[0][None]
    splitter = (StratifiedKFold(folds, shuffle=True, random_state=seed) if groups is None
                else StratifiedGroupKFold(folds, shuffle=True, random_state=seed))
    fold_of, weights = np.zeros(len(labels), "int32"), []
    for k, (rest, held) in enumerate(splitter.split(matrix, labels, groups)):
        fold_of[held] = k
        weights.append(fit(matrix[rest], labels[rest], c)[0])
    return fold_of, np.stack(weights)


def step_weights(ids, weights, order, buckets, vocab_size, fold_of=None):
    """(reviews, time, order) float32: model.NgramWeights's output for `ids` (reviews, time), right-padded.

    weights: (features,), or (folds, features) with fold_of (reviews,): row r reads weights[fold_of[r]].
    """
    from .model import gram_ids

    ids = np.asarray(ids, dtype="int32")
    weights = np.atleast_2d(weights)
    fold_of = np.zeros(len(ids), "int32") if fold_of is None else fold_of
    steps = np.zeros(ids.shape + (order,), "float32")
    offset = 0
    for n, (gram, real) in enumerate(gram_ids(ids, order, buckets, np)):
        for k in range(len(weights)):
            rows = fold_of == k
            steps[rows, :, n] = weights[k][offset + gram[rows]] * real[rows]
        offset += vocab_size if n == 0 else buckets
    return steps
