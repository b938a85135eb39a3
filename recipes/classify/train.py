"""Train a text classifier on any labelled CSV, score it once on the test split beside its baselines, save it."""
import json

import numpy as np

from shared.report import print_comparison
from shared.run import TrainingRun

from . import baseline
from .config import SMOKE_CAPS, SMOKE_TEXTS, Config

RECIPE = __name__.split(".")[-2]  # the folder's name, so a copied recipe is its own recipe


def train(run):
    """Load, train, save, then score the test split once beside the baselines; returns metrics.json's content."""
    # Imported here, not at the top: they load Keras, and --help and option errors answer before it loads.
    import keras

    from . import data, model

    config = run.config
    parts, classes, source = data.load_splits(config.data, config.text_column, config.label_column,
                                              config.val_fraction, config.seed)
    if config.smoke:  # a small stratified slice of each split: seconds, not a result
        parts = {name: data.stratified_split(part, min(1.0, SMOKE_TEXTS.get(name, 200) / len(part.texts)),
                                             config.seed)[1] for name, part in parts.items()}
    print(f"data: {source}" + ("  [smoke: a small slice, not a result]" if config.smoke else ""))
    for name, part in parts.items():
        print("  " + data.describe(name, part, classes))

    vectorizer = data.make_vectorizer(parts["train"].texts, config.max_tokens, config.max_words)
    train_batches = data.batches(vectorizer, parts["train"], run.batch_size, shuffle_seed=config.seed)
    val_batches = data.batches(vectorizer, parts["validation"], run.batch_size)
    with run.scope():
        classifier = model.build_classifier(
            vectorizer.vocabulary_size(), len(classes), embedding_dim=config.embedding_dim, cell=config.cell,
            units=config.units, num_layers=config.layers, bidirectional=config.bidirectional, dropout=config.dropout)
        run.compile(classifier, loss="sparse_categorical_crossentropy",
                    metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
                    steps_per_epoch=-(-len(parts["train"].texts) // run.batch_size))
    classifier.summary(print_fn=lambda line, **_: print("  " + line))
    run.fit(classifier, train_batches, val_batches)  # ends with the best epoch's weights (validation loss)
    text_classifier = model.with_vectorizer(vectorizer, classifier)
    run.save(text_classifier, {"classes.json": json.dumps(classes, ensure_ascii=False)}, curves=("loss", "accuracy"))

    # The test split, read once, with the saved model as users get it (raw strings in); the baselines too.
    test = parts["test"]
    predicted = np.argmax(model.predict(text_classifier, test.texts), axis=1)  # (texts,) class numbers
    scores = baseline.scores(test.labels, predicted)
    ngram_predicted, bag_of_ngrams = baseline.bag_of_ngrams(parts["train"], parts["validation"], test)
    majority = int(np.bincount(parts["train"].labels).argmax())
    baselines = {"bag_of_ngrams": bag_of_ngrams,
                 "majority": {"name": f"majority class of the training split ({classes[majority]})",
                              **baseline.scores(test.labels, np.full(len(test.labels), majority))}}
    paired = baseline.mcnemar(test.labels, predicted, ngram_predicted)
    print_comparison(f"test split ({len(test.texts)} texts, {len(classes)} classes)", scores,
                     {name.replace("_", " "): {k: b[k] for k in scores} for name, b in baselines.items()})
    print(f"  model against the bag of n-grams, same texts: only the model right on {paired['only_model_right']}, "
          f"only the bag on {paired['only_baseline_right']}, McNemar p = {paired['p_value']:.3g}")
    return run.finish({"data": source, "classes": classes, "sizes": {k: len(v.texts) for k, v in parts.items()},
                       "validation": run.best_epoch_logs(), "test": scores, "baselines": baselines,
                       "model_vs_bag_of_ngrams": paired})


def main(argv=None):
    return TrainingRun.main(Config, argv, train, recipe=RECIPE, description=__doc__, smoke=SMOKE_CAPS)
