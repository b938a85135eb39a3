"""The baselines beside the network: the majority class, and the strongest simple one for text
classification, a bag of word n-grams (TF-IDF of 1-2-grams, multinomial logistic regression);
and the paired test that says whether two classifiers differ on the same texts."""
import time

import numpy as np

C_GRID = (1.0, 4.0, 16.0, 64.0)  # inverse regularisation strengths, chosen on validation


def scores(labels, predicted):
    """Accuracy and macro-averaged F1 (each class counts alike, however rare) of predicted class numbers."""
    from sklearn.metrics import f1_score

    return {"accuracy": float(np.mean(predicted == labels)),
            "macro_f1": float(f1_score(labels, predicted, average="macro"))}


def bag_of_ngrams(train, validation, test):
    """TF-IDF + logistic regression fitted on `train`, C chosen on `validation`: its scores on `test`,
    its test predictions (for the paired test) and what choosing it measured."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    started = time.perf_counter()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    features = vectorizer.fit_transform(train.texts)  # (texts, n-grams) sparse: training text only
    val_features = vectorizer.transform(validation.texts)
    fitted = {c: LogisticRegression(C=c, max_iter=1000).fit(features, train.labels) for c in C_GRID}
    by_c = {c: float(np.mean(model.predict(val_features) == validation.labels)) for c, model in fitted.items()}
    best = max(by_c, key=by_c.get)
    predicted = fitted[best].predict(vectorizer.transform(test.texts))  # the test split, read once
    return predicted, {"name": "TF-IDF word 1-2-grams, logistic regression", **scores(test.labels, predicted),
                       "C": best, "validation_accuracy_by_C": {str(c): a for c, a in by_c.items()},
                       "fit_seconds": time.perf_counter() - started}


def mcnemar(labels, predicted_a, predicted_b):
    """McNemar's exact test on the texts where exactly one of two classifiers is right: the counts and the
    two-sided p-value that both are equally often right (a small p: one is better on this test set)."""
    from scipy.stats import binomtest

    only_a = int(np.sum((predicted_a == labels) & (predicted_b != labels)))
    only_b = int(np.sum((predicted_b == labels) & (predicted_a != labels)))
    p_value = binomtest(only_a, only_a + only_b).pvalue if only_a + only_b else 1.0
    return {"only_model_right": only_a, "only_baseline_right": only_b, "p_value": float(p_value)}
