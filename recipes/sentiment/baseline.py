"""The strongest simple baseline for review classification: a bag of n-grams.

TF-IDF of word unigrams and bigrams (sublinear term frequency) and a logistic
regression, fitted on the training split; its regularisation C is the one of
`C_GRID` with the best validation accuracy. On IMDB it is hard to beat: see README.
"""
import time

import numpy as np

C_GRID = (1.0, 4.0, 16.0, 64.0)  # inverse regularisation strengths tried on validation


def bag_of_ngrams(train, val):
    """A fitted (vectorizer, classifier) pair and what choosing it measured.

    train, val: Reviews (texts, labels). Only the training texts shape the vocabulary and
    the weights; the validation split picks C. The test split is never seen here.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    started = time.perf_counter()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True,
                                 token_pattern=r"(?u)\b\w[\w']*\b")  # keeps "didn't" whole
    features = vectorizer.fit_transform(train.texts)  # (reviews, n-grams) sparse
    val_features = vectorizer.transform(val.texts)
    tried = {}
    for c in C_GRID:
        classifier = LogisticRegression(C=c, solver="liblinear").fit(features, train.labels)
        tried[c] = float(np.mean(classifier.predict(val_features) == val.labels))
    best = max(tried, key=tried.get)
    classifier = LogisticRegression(C=best, solver="liblinear").fit(features, train.labels)
    facts = {"name": "bag of n-grams: TF-IDF of word 1-2-grams, logistic regression",
             "n_grams": len(vectorizer.vocabulary_), "C": best,
             "validation_accuracy_by_C": {str(c): a for c, a in tried.items()},
             "fit_seconds": time.perf_counter() - started}
    return vectorizer, classifier, facts


def probabilities(vectorizer, classifier, reviews):
    """(reviews,) P(positive) of every review, in `reviews`' order (for paired comparisons)."""
    return classifier.predict_proba(vectorizer.transform(reviews.texts))[:, 1]


def scores(vectorizer, classifier, reviews):
    """Accuracy and AUC on `reviews`."""
    from sklearn.metrics import roc_auc_score

    predicted = probabilities(vectorizer, classifier, reviews)
    return {"accuracy": float(np.mean((predicted >= 0.5) == reviews.labels)),
            "auc": float(roc_auc_score(reviews.labels, predicted))}
