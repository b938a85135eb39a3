"""A strong simple baseline for translation: the English of the most similar training sentence.

Tatoeba's sentences are short and repetitive, so retrieval (TF-IDF over the training
split's Spanish sentences, cosine similarity, the nearest one's English) is far stronger
than copying the source. Its analyzer is the one of ANALYZERS with the best validation BLEU;
the test split is never seen while choosing.
"""
import numpy as np

from . import scoring

ANALYZERS = {  # name -> TfidfVectorizer settings
    "word 1-2-grams": {"analyzer": "word", "ngram_range": (1, 2), "token_pattern": r"(?u)\b\w+\b"},
    "character 2-4-grams": {"analyzer": "char_wb", "ngram_range": (2, 4)},
}


class Retriever:
    """Spanish sentence -> the English of the training pair whose Spanish is most similar."""

    def __init__(self, train, settings):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizer = TfidfVectorizer(lowercase=True, sublinear_tf=True, **settings)
        self.index = self.vectorizer.fit_transform(train.spanish)  # (train pairs, n-grams), rows of norm 1
        self.english = list(train.english)

    def __call__(self, spanish, chunk=512):
        queries = self.vectorizer.transform(spanish)  # (n, n-grams)
        nearest = []
        for begin in range(0, queries.shape[0], chunk):  # (chunk, train pairs) similarities at a time
            similarities = queries[begin: begin + chunk] @ self.index.T
            nearest += np.asarray(similarities.argmax(axis=1)).ravel().tolist()
        return [self.english[i] for i in nearest]


def nearest_sentence(train, val):
    """(Retriever with the analyzer of best validation BLEU, {analyzer: validation BLEU})."""
    tried = {name: scoring.bleu(Retriever(train, settings)(val.spanish), val.english)
             for name, settings in ANALYZERS.items()}
    best = max(tried, key=tried.get)
    return Retriever(train, ANALYZERS[best]), tried
