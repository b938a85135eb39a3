"""Train the sentiment classifier, evaluate it once on the test split, save what predicting needs."""
import dataclasses
import time

import keras
import numpy as np

from shared.artifacts import ensure_writable, publish
from shared.config import TrainConfig, option, parse, to_json
from shared.device import is_chief
from shared.errors import reported
from shared.report import metrics_json, plot_curves, print_comparison, training_facts
from shared.training import check_resumable, compile_model, evaluate, fit, setup

from . import baseline, data, model

RECIPE = __name__.split(".")[-2]  # the folder's name, so a copied recipe is its own recipe
SMOKE = {"train": 1000, "test": 400, "epochs": 2, "seq_len": 128}  # a --smoke run's limits


@dataclasses.dataclass
class Config(TrainConfig):
    data: str = option("", "CSV with review,sentiment columns, a folder with train.csv and test.csv, "
                           "or an aclImdb-style folder (default: IMDB)")
    cell: str = option("lstm", "recurrent cell", choices=("rnn", "lstm", "gru"))
    bidirectional: bool = option(True, "read each review in both directions")
    # One small layer: as accurate here as two BiLSTM(64) with embedding 128, and 5x faster (README).
    units: int = option(32, "units per recurrent layer (per direction)", bounds="[1, inf)")
    layers: int = option(1, "stacked recurrent layers", bounds="[1, inf)")
    pooling: str = option("mean", "summarise the review by the mean of all steps' outputs, or the last state",
                          choices=("mean", "last"))
    embedding_dim: int = option(64, "size of each word vector", bounds="[1, inf)")
    dropout: float = option(0.3, "dropout on each layer's inputs", bounds="[0, 1)")
    max_tokens: int = option(20000, "vocabulary size, from training text only", bounds="[3, inf)")
    seq_len: int = option(600, "words kept from the start of each review", bounds="[1, inf)")
    val_fraction: float = option(0.1, "share of the training split held out for validation", bounds="(0, 1)")
    epochs: int = option(2, "maximum passes over the training data", bounds="[1, inf)")
    lr_schedule: str = option("cosine", "learning rate: constant, or cosine decay to 0 over all epochs",
                              choices=("constant", "cosine"))
    patience: int = option(1, "stop after this many epochs without a lower validation loss", bounds="[1, inf)")


def run(config):
    """Train and evaluate; returns the metrics written to OUT/metrics.json."""
    if config.smoke:
        config.epochs = min(config.epochs, SMOKE["epochs"])
        config.seq_len = min(config.seq_len, SMOKE["seq_len"])
    config_json = to_json(config, RECIPE)
    check_resumable(config.out, config_json)
    train_all, test, source = data.load_splits(config.data, config.seed)
    ensure_writable(config.out)
    strategy = setup(config)
    if config.smoke:
        train_all = data.stratified_split(train_all, min(1.0, SMOKE["train"] / len(train_all)), config.seed)[1]
        test = data.stratified_split(test, min(1.0, SMOKE["test"] / len(test)), config.seed)[1]
    train, val = data.stratified_split(train_all, config.val_fraction, config.seed)
    print(f"data: {source}" + ("  [smoke: a small slice, not a real result]" if config.smoke else ""))
    for name, part in (("train", train), ("validation", val), ("test", test)):
        print("  " + data.describe(name, part))

    vectorizer = data.make_vectorizer(train.texts, config.max_tokens, config.seq_len)
    batch = config.batch_size * strategy.num_replicas_in_sync
    train_batches = data.token_batches(vectorizer, train, batch, config.seq_len, shuffle_seed=config.seed)
    val_batches = data.token_batches(vectorizer, val, batch, config.seq_len)
    print(f"  vocabulary {vectorizer.vocabulary_size()} tokens from training text; batches of {batch} "
          f"reviews, each padded to its longest review (at most {config.seq_len} tokens)")
    with strategy.scope():
        classifier = model.build_classifier(config, vectorizer.vocabulary_size())
        compile_model(classifier, config, loss="binary_crossentropy",
                      metrics=[keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.AUC(name="auc")],
                      steps_per_epoch=int(train_batches.reduce(0, lambda count, _: count + 1)))
    classifier.summary(print_fn=lambda line, **_: print("  " + line))
    history = fit(classifier, train_batches, val_batches, config, config.out, config_json=config_json)

    metrics = {
        "recipe": RECIPE, "smoke": config.smoke, "data": source,
        "sizes": {"train": len(train), "validation": len(val), "test": len(test)},
        "validation": {k.removeprefix("val_"): float(v) for k, v in history["epochs"][best_row(history)].items()
                       if k.startswith("val_")},
        **training_facts(history),
    }
    chief = is_chief(strategy)  # multiworker: one model, written by the chief
    if chief:  # saved before anything else can fail: scoring never costs the trained weights
        publish(config.out, {"config.json": config_json, "metrics.json": metrics_json(metrics),
                             "curves.png": plot_curves(history["epochs"], ("loss", "accuracy"))},
                model=model.with_vectorizer(vectorizer, classifier))

    # The test split is touched here, once, with the best epoch's weights; the baselines score it too.
    started = time.perf_counter()
    scores = evaluate(classifier, data.token_batches(vectorizer, test, batch, config.seq_len))  # every worker
    metrics.update(test=scores, test_seconds=time.perf_counter() - started)
    if not chief:
        print("\nfinished; the chief worker saves the model")
        return metrics
    majority = int(train.labels.mean() >= 0.5)
    ngram_vectorizer, ngram_classifier, ngram_facts = baseline.bag_of_ngrams(train, val)
    metrics["baselines"] = {
        "bag_of_ngrams": {**baseline.scores(ngram_vectorizer, ngram_classifier, test), **ngram_facts},
        "majority": {"name": f"majority class of the training split ({'positive' if majority else 'negative'})",
                     "accuracy": float(np.mean(test.labels == majority)), "auc": 0.5},
    }
    print_comparison(f"test split ({len(test)} reviews)", {k: scores[k] for k in ("accuracy", "auc", "loss")},
                     {name.replace("_", " "): {k: b[k] for k in ("accuracy", "auc")}
                      for name, b in metrics["baselines"].items()})
    publish(config.out, {"metrics.json": metrics_json(metrics)})
    print(f"\nsaved model, config, metrics and curves in {config.out}/ "
          f"({metrics['train_seconds'] / 60:.1f} min of training)")
    return metrics


def best_row(history, monitor="val_loss"):
    """Index of the epoch whose weights the model ended with (lowest validation loss)."""
    losses = [float(row[monitor]) for row in history["epochs"]]
    return losses.index(min(losses))


def main(argv=None):
    prog = f"python -m recipes.{RECIPE}"
    with reported(prog):
        config = parse(Config, argv, recipe=RECIPE, description=__doc__,
                       epilog=f"then: {prog} predict --model OUT \"An absolute joy to watch.\"")
        return run(config)
