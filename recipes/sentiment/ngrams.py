"""The n-gram branch, fitted before the network: a Naive-Bayes-scaled logistic regression (NBSVM).

Features are the recipe's own token ids, so the branch inside the model (model.BagOfNgrams)
computes exactly what was fitted here: every word, and every run of 2..order words hashed into
`buckets` (model.gram_ids), counted in the review and divided by sqrt(review length). Each
feature is scaled by its Naive Bayes log-count ratio from the training split (Wang & Manning
2012), then a logistic regression is fitted to convergence by a convex solver (liblinear):
two epochs of Adam leave a linear model of two million sparse features far from its optimum.

The network then learns what this branch gets wrong. It must see the branch's logit on reviews
the branch was not fitted on (on its own training reviews it is nearly always right, and the
network would learn nothing), so the training split is cut in `folds` and each fold's logits
come from a regression fitted on the other folds (stacking, Wolpert 1992).
"""
import numpy as np


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
    regression = LogisticRegression(C=c, solver="liblinear").fit(matrix.multiply(ratios).tocsr(), labels)
    # logit = coef . (x * ratios) + b = (coef * ratios) . x + b: the layer holds the product.
    return (regression.coef_[0] * ratios).astype("float32"), float(regression.intercept_[0])


def logits(matrix, weights, bias):
    """(reviews,) the branch's logit for each row of `matrix`."""
    return np.asarray(matrix @ weights).ravel() + bias


def out_of_fold_logits(matrix, labels, c, folds, seed):
    """(reviews,) each training review's logit from a regression fitted without its fold (ratios too)."""
    rng = np.random.default_rng(seed)
    fold_of = np.empty(len(labels), dtype=int)
    for label in (0, 1):  # stratified: each fold keeps the classes' balance
        members = rng.permutation(np.flatnonzero(labels == label))
        fold_of[members] = np.arange(len(members)) % folds
    result = np.empty(len(labels), dtype="float32")
    for fold in range(folds):
        held = fold_of == fold
        weights, bias = fit(matrix[~held], labels[~held], c)
        result[held] = logits(matrix[held], weights, bias)
    return result
