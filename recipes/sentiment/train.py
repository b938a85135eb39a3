"""Train the sentiment classifier, evaluate it once on the test split, save what predicting needs."""
import dataclasses
import time

import numpy as np

from shared.report import print_comparison
from shared.run import TrainConfig, TrainingRun, option

from . import baseline

RECIPE = __name__.split(".")[-2]  # the folder's name, so a copied recipe is its own recipe
SMOKE = {"train": 1000, "test": 400}  # a --smoke run's reviews
SMOKE_CAPS = {"epochs": 2, "max_words": 128}  # and settings


@dataclasses.dataclass
class Config(TrainConfig):
    data: str = option("", "CSV with review,sentiment columns, a folder with train.csv and test.csv, "
                           "or an aclImdb-style folder (default: IMDB)")
    cell: str = option("lstm", "recurrent cell", choices=("rnn", "lstm", "gru"))
    bidirectional: bool = option(True, "read each review in both directions")
    # One small layer by default: the README's ablation (validation accuracy) says what each setting gives.
    units: int = option(32, "units per recurrent layer (per direction)", bounds="[1, inf)")
    layers: int = option(1, "stacked recurrent layers", bounds="[1, inf)")
    pooling: str = option("mean", "summarise the review by the mean of all steps' outputs, or the last state",
                          choices=("mean", "last"))
    embedding_dim: int = option(64, "size of each word vector", bounds="[1, inf)")
    ngrams: bool = option(True, "add a bag of word n-grams: a linear branch beside the recurrent one")
    ngram_order: int = option(2, "longest n-gram in the bag (1: words only)", bounds="[1, 5]")
    ngram_buckets: int = option(2 ** 20, "weights for each n-gram length from 2 (hashed into this many)",
                               bounds="[1, 67108864]")
    ngram_lr_scale: float = option(100.0, "the n-gram branch's learning rate, as a multiple of --lr", bounds="(0, inf)")
    ngram_nb: bool = option(True, "scale the n-gram branch's weights by Naive Bayes log-count ratios from the "
                                   "training split (NBSVM)")
    ngram_dropout: float = option(0.5, "in training, leave out each word and pair of the n-gram branch with "
                                       "this probability", bounds="[0, 1)")
    dropout: float = option(0.3, "dropout on each layer's inputs", bounds="[0, 1)")
    max_tokens: int = option(20000, "vocabulary size, from training text only", bounds="[3, inf)")
    max_words: int = option(600, "words kept from the start of each review", bounds="[1, inf)")
    val_fraction: float = option(0.1, "share of the training split held out for validation", bounds="(0, 1)")
    epochs: int = option(2, "maximum passes over the training data", bounds="[1, inf)")
    lr_schedule: str = option("cosine", "learning rate: constant, or cosine decay to 0 over all epochs",
                              choices=("constant", "cosine"))
    patience: int = option(1, "stop after this many epochs without a lower validation loss", bounds="[1, inf)")


def train(run):
    """Train, save, then evaluate once on the test split beside the baselines; returns OUT/metrics.json's content."""
    # Imported here, not at the top: they load Keras, and --help and option errors answer before it loads.
    import keras

    from . import data, model

    config = run.config
    train_all, test, source = data.load_splits(config.data, config.seed)
    if config.smoke:
        train_all = data.stratified_split(train_all, min(1.0, SMOKE["train"] / max(len(train_all), 1)), config.seed)[1]
        test = data.stratified_split(test, min(1.0, SMOKE["test"] / max(len(test), 1)), config.seed)[1]
    train_part, val = data.stratified_split(train_all, config.val_fraction, config.seed)
    data.check_splits({"train": train_part, "validation": val, "test": test}, source)
    print(f"data: {source}" + ("  [smoke: a small slice, not a real result]" if config.smoke else ""))
    for name, part in (("train", train_part), ("validation", val), ("test", test)):
        print("  " + data.describe(name, part))

    vectorizer = data.make_vectorizer(train_part.texts, config.max_tokens, config.max_words)
    train_ids = data.token_ids(vectorizer, list(train_part.texts))  # once: for the batches and the n-gram counts
    train_batches = data.token_batches(vectorizer, train_part, run.batch_size, config.max_words,
                                       shuffle_seed=config.seed, ids=train_ids)
    val_batches = data.token_batches(vectorizer, val, run.batch_size, config.max_words)
    print(f"  vocabulary {vectorizer.vocabulary_size()} tokens from training text; batches of {run.batch_size} "
          f"reviews, each padded to its longest review (at most {config.max_words} tokens)")
    with run.scope():
        classifier = model.build_classifier(config, vectorizer.vocabulary_size())
        run.compile(classifier, loss="binary_crossentropy",
                    metrics=[keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.AUC(name="auc")],
                    steps_per_epoch=int(train_batches.reduce(0, lambda count, _: count + 1)))
    if config.ngrams and config.ngram_nb:  # fixed weights, counted on the training split, saved with the model
        classifier.get_layer("bag_of_ngrams").set_ratios(model.naive_bayes_ratios(
            data.per_review(train_ids), train_part.labels, vectorizer.vocabulary_size(),
            config.ngram_buckets, config.ngram_order))
    classifier.summary(print_fn=lambda line, **_: print("  " + line))
    run.fit(classifier, train_batches, val_batches)
    run.save(model.with_vectorizer(vectorizer, classifier), curves=("loss", "accuracy"))  # before any scoring

    # The test split is touched here, once, with the best epoch's weights; the baselines score it too.
    started = time.perf_counter()
    scores = run.evaluate(classifier, data.token_batches(vectorizer, test, run.batch_size, config.max_words))
    test_seconds = time.perf_counter() - started
    majority = int(train_part.labels.mean() >= 0.5)
    ngram_vectorizer, ngram_classifier, ngram_facts = baseline.bag_of_ngrams(train_part, val)
    baselines = {
        "bag_of_ngrams": {**baseline.scores(ngram_vectorizer, ngram_classifier, test), **ngram_facts},
        "majority": {"name": f"majority class of the training split ({'positive' if majority else 'negative'})",
                     "accuracy": float(np.mean(test.labels == majority)), "auc": 0.5},
    }
    print_comparison(f"test split ({len(test)} reviews)", {k: scores[k] for k in ("accuracy", "auc", "loss")},
                     {name.replace("_", " "): {k: b[k] for k in ("accuracy", "auc")} for name, b in baselines.items()})
    return run.finish({
        "data": source, "sizes": {"train": len(train_part), "validation": len(val), "test": len(test)},
        "validation": run.best_epoch_logs(), "test": scores, "baselines": baselines, "test_seconds": test_seconds,
    })


def main(argv=None):
    return TrainingRun.main(Config, argv, train, recipe=RECIPE, description=__doc__, smoke=SMOKE_CAPS)
