"""Score every review of a split, in the split's order, and the figures reported from those scores.

Every review counts, one with no token left after standardising (emoji only, "!!!") included, so the
model's denominators are the split's size, as the baselines' are. Training batches drop such reviews
(data.token_batches: cuDNN fails on all-padding rows); scoring never does.
"""
import numpy as np
import tensorflow as tf

from . import data


def score_reviews(branches, vectorizer, reviews, batch_size):
    """{name: (reviews,) P(positive)}: each output of `branches` (model.with_branches) for every review,
    in `reviews`' order.

    Reviews with tokens go in batches of similar length, each padded to its longest (padding is masked:
    a review's score does not depend on it). A review with none gets the model's probability of an empty
    review, as `predict` gives it (the saved model scores the vectorizer's all-padding row), computed once
    on a batch of its own.
    """
    ids = data.token_ids(vectorizer, list(reviews.texts))  # (reviews, None) ragged
    lengths = ids.row_lengths().numpy()
    order = np.argsort(lengths, kind="stable")
    order = order[lengths[order] > 0]  # the reviews with tokens, shortest first
    batches = (tf.data.Dataset.from_tensor_slices(tf.gather(ids, order)).ragged_batch(batch_size)
               .map(lambda rows: rows.to_tensor()))  # (batch, longest in the batch) int64, 0 = padding
    parts = []  # (rows, {name: (len(rows) or 1, 1)})
    if len(order):
        parts.append((order, branches.predict(batches, verbose=0)))
    if (lengths == 0).any():  # no token at all: one all-padding row
        parts.append((np.flatnonzero(lengths == 0), branches.predict(np.zeros((1, 1), "int64"), verbose=0)))
    probabilities = {}
    for rows, scored in parts:
        for name, values in scored.items():
            probabilities.setdefault(name, np.empty(len(reviews), "float32"))[rows] = values[:, 0]
    return probabilities


def right(labels, probability):
    """(reviews,) bool: whether each review's label is the one `predict` gives it (positive at >= 0.5)."""
    return (np.asarray(probability) >= 0.5) == np.asarray(labels, bool)


def figures(labels, probability):
    """loss (binary cross-entropy, clipped as Keras clips it), accuracy and AUC over every review, and their count."""
    from sklearn.metrics import roc_auc_score

    labels, probability = np.asarray(labels, "float64"), np.asarray(probability, "float64")
    clipped = np.clip(probability, 1e-7, 1 - 1e-7)
    loss = -np.mean(labels * np.log(clipped) + (1 - labels) * np.log(1 - clipped))
    return {"loss": float(loss), "accuracy": float(np.mean(right(labels, probability))),
            "auc": float(roc_auc_score(labels, probability)), "reviews": len(labels)}
