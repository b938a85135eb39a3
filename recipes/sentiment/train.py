"""Train the sentiment classifier, evaluate it once on the test split, save what predicting needs."""
import time

import numpy as np

from shared.report import print_comparison
from shared.run import TrainingRun

from . import baseline
from .config import NGRAM_C_GRID, Config

RECIPE = __name__.split(".")[-2]  # the folder's name, so a copied recipe is its own recipe
SMOKE = {"train": 1000, "test": 400}  # a --smoke run's reviews
SMOKE_CAPS = {"epochs": 2, "max_words": 128, "ngram_buckets": 2 ** 16}  # and settings
BLEND_FOLDS = 10  # cross-validation folds for the blend's own validation accuracy
# Reviews per batch where nothing is trained (validation, test): scores do not depend on it (padding is
# masked), and 128 scores about 4x as fast as the training batch of 32 (61-64 s against 14-18 s on test).
SCORING_BATCH = 128


def scoring_batch(run):
    """Reviews per batch for validation and test: SCORING_BATCH, or the training batch if larger."""
    return max(run.batch_size, SCORING_BATCH)


def fit_blend(logits, labels, seed):
    """How much each branch counts: a logistic regression on the two branches' logits (reviews, 2),
    fitted on validation reviews that neither branch was fitted on (stacking, Wolpert 1992).

    Three numbers fitted on 2,500 reviews overfit little, but its validation accuracy would still be
    in-sample: the accuracy reported is cross-validated (each fold's reviews blended by weights
    fitted on the other folds), and that is the figure `validate` compares designs by.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    regression = LogisticRegression(C=1.0)  # two features on the logit scale: barely regularised
    folds = min(BLEND_FOLDS, int(np.bincount(labels, minlength=2).min()))  # a small CSV: fewer folds
    regression.fit(logits, labels)
    held_out = (cross_val_predict(regression, logits, labels, method="decision_function",
                                  cv=StratifiedKFold(folds, shuffle=True, random_state=seed))
                if folds >= 2 else regression.decision_function(logits))  # one review of a class: in-sample
    return {"weights": [float(w) for w in regression.coef_[0]], "bias": float(regression.intercept_[0]),
            "validation_accuracy_cv": float(np.mean((held_out > 0) == labels))}


def fit(run):
    """Everything up to the trained classifier: (vectorizer, classifier, {split: Reviews}, facts).

    The test split is loaded (its source and size are checked before training) but not scored.
    """
    # Imported here, not at the top: they load Keras, and --help and option errors answer before it loads.
    import keras

    from . import data, model, ngrams

    config = run.config
    train_all, test, source = data.load_splits(config.data, config.seed, grouped=config.val_split == "grouped")
    if config.smoke:
        train_all = data.stratified_split(train_all, min(1.0, SMOKE["train"] / max(len(train_all), 1)), config.seed)[1]
        test = data.stratified_split(test, min(1.0, SMOKE["test"] / max(len(test), 1)), config.seed)[1]
    data.check_held_out(train_all.labels, config.val_fraction, "--val-fraction", "reviews",
                        name=lambda label: f"labelled {'positive' if label else 'negative'}")
    train_part, val = data.stratified_split(train_all, config.val_fraction, config.seed)
    parts = {"train": train_part, "validation": val, "test": test}
    data.check_splits(parts, source)
    print(f"data: {source}" + ("  [smoke: a small slice, not a real result]" if config.smoke else ""))
    for name, part in parts.items():
        print("  " + data.describe(name, part))
    if val.groups is not None:
        print(f"  validation: {len(np.unique(val.groups))} whole groups of nearby reviews sharing rare names "
              f"(--val-split grouped; the training part keeps {len(np.unique(train_part.groups))})")

    vectorizer = data.make_vectorizer(train_part.texts, config.max_tokens, config.max_words)
    vocab_size = vectorizer.vocabulary_size()
    ids = {name: data.token_ids(vectorizer, list(parts[name].texts)) for name in ("train", "validation")}
    labels = {"train": train_part.labels, "validation": val.labels}
    facts, steps = {"source": source}, {"train": None, "validation": None}
    if config.ngrams:  # the linear branch first: seconds, and it chooses its C on validation
        padded = {name: ids[name].to_tensor().numpy() for name in ids}  # (reviews, longest review) each
        weights, bias, ngram_val_logits, branch_facts, train_matrix = ngrams.fit_branch(
            padded, labels, config.ngram_order, config.ngram_buckets, vocab_size,
            [config.ngram_c] if config.ngram_c else NGRAM_C_GRID)
        facts.update(branch_facts)
        print(f"  n-gram branch: {facts['features']:,} weights (1-{config.ngram_order}-grams), C = {facts['C']:g} "
              f"(validation accuracy {facts['validation_accuracy_by_C'][str(facts['C'])]:.4f}), "
              f"fitted in {facts['fit_seconds']:.0f} s")
    if model.reads_ngram_weights(config):
        # What the network reads beside each word: in training, each review's n-gram weights from a
        # regression fitted without it; for every other review, the mean of those regressions' weights.
        started = time.perf_counter()
        grams = (config.ngram_order, config.ngram_buckets, vocab_size)
        fold_of, fold_weights = ngrams.cross_fit(train_matrix, labels["train"], facts["C"], config.seed,
                                                 groups=train_part.groups)
        reader_weights = fold_weights.mean(axis=0)  # (features,): what the classifier's NgramWeights holds
        steps = {"train": ngrams.step_weights(padded["train"], fold_weights, *grams, fold_of=fold_of),
                 "validation": ngrams.step_weights(padded["validation"], reader_weights, *grams)}
        facts["cross_fit"] = {"folds": len(fold_weights), "seconds": time.perf_counter() - started}
        print(f"  the n-gram weights the network reads: {len(fold_weights)} cross-fitted regressions, "
              f"{facts['cross_fit']['seconds']:.0f} s")
    batches = {"train": data.token_batches(vectorizer, train_part, run.batch_size, config.max_words,
                                           shuffle_seed=config.seed, ids=ids["train"], ngram_weights=steps["train"]),
               "validation": data.token_batches(vectorizer, val, scoring_batch(run), config.max_words,
                                                ids=ids["validation"], ngram_weights=steps["validation"])}
    print(f"  vocabulary {vocab_size} tokens from training text; batches of {run.batch_size} "
          f"reviews, each padded to its longest review (at most {config.max_words} tokens)")
    with run.scope():
        recurrent = model.build_recurrent(config, vocab_size)
        network = model.build_network(recurrent)  # the recurrent branch alone: its inputs -> (batch, 1)
        run.compile(network, loss="binary_crossentropy",
                    metrics=[keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.AUC(name="auc")],
                    steps_per_epoch=int(batches["train"].reduce(0, lambda count, _: count + 1)))
    network.summary(print_fn=lambda line, **_: print("  " + line))
    run.fit(network, batches["train"], batches["validation"])  # ends with the best epoch's weights
    classifier = model.build_classifier(config, vocab_size, recurrent)  # the branches together: token ids in
    if model.reads_ngram_weights(config):
        classifier.get_layer("ngram_weights").set_ngram_weights(reader_weights)
    if config.ngrams:
        classifier.get_layer("bag_of_ngrams").set_regression(weights, bias)
        # Validation reviews, in their own order (no bucketing): neither branch was fitted on them.
        inputs = padded["validation"] if steps["validation"] is None else [padded["validation"], steps["validation"]]
        recurrent_val_logits = recurrent.predict(inputs, batch_size=scoring_batch(run), verbose=0)[:, 0]  # (reviews,)
        blend = fit_blend(np.stack([recurrent_val_logits, ngram_val_logits], axis=1), val.labels, config.seed)
        model.set_blend(classifier, blend["weights"], blend["bias"])
        facts["blend"] = blend
        print(f"  blend: {blend['weights'][0]:.3f} x recurrent + {blend['weights'][1]:.3f} x n-gram logit "
              f"{blend['bias']:+.3f}; validation accuracy {blend['validation_accuracy_cv']:.4f} "
              f"({BLEND_FOLDS}-fold cross-validated on the validation split)")
    return vectorizer, classifier, parts, facts


def train(run):
    """Train, save, then evaluate once on the test split beside the baselines; returns OUT/metrics.json's content."""
    from . import model, paired, scoring

    config = run.config
    vectorizer, classifier, parts, facts = fit(run)
    source, blend, ngram_facts = facts.pop("source"), facts.pop("blend", None), facts
    run.save(model.with_vectorizer(vectorizer, classifier), curves=("loss", "accuracy"))  # before any scoring

    # The test split is touched here, once, with the best epoch's weights; the baselines score it too.
    # Every test review counts, an empty one included: the model's denominators are the split's size.
    train_part, test = parts["train"], parts["test"]
    started = time.perf_counter()
    probabilities = scoring.score_reviews(model.with_branches(classifier), vectorizer, test, scoring_batch(run))
    test_seconds = time.perf_counter() - started
    majority = int(train_part.labels.mean() >= 0.5)
    ngram_vectorizer, ngram_classifier, ngram_facts_tfidf = baseline.bag_of_ngrams(train_part, parts["validation"])
    probabilities["bag_of_ngrams"] = baseline.probabilities(ngram_vectorizer, ngram_classifier, test)
    figures = {name: scoring.figures(test.labels, values) for name, values in probabilities.items()}
    scores = figures["probability"]  # the model's: loss, accuracy, AUC and the count of reviews scored
    baselines = {
        "bag_of_ngrams": {**{k: figures["bag_of_ngrams"][k] for k in ("accuracy", "auc")}, **ngram_facts_tfidf},
        "majority": {"name": f"majority class of the training split ({'positive' if majority else 'negative'})",
                     "accuracy": float(np.mean(test.labels == majority)), "auc": 0.5},
    }
    if config.ngrams:  # the model's own n-gram branch alone: Naive-Bayes-scaled logistic regression (NBSVM)
        baselines["ngram_branch"] = {"name": f"the model's n-gram branch alone: NB-scaled logistic regression on "
                                             f"word 1-{config.ngram_order}-grams",
                                     **{k: figures["ngram_branch"][k] for k in ("accuracy", "auc")}, **ngram_facts}
        baselines["recurrent_branch"] = {"name": "the model's recurrent network alone",
                                         **{k: figures["recurrent_branch"][k] for k in ("accuracy", "auc")}}
    # "Beats" needs a paired test on the same reviews: McNemar's on who is right where, and a bootstrap interval.
    model_right = scoring.right(test.labels, probabilities["probability"])
    comparisons = {name: paired.compare(model_right, scoring.right(test.labels, probabilities[name]), seed=config.seed)
                   for name in ("ngram_branch", "recurrent_branch", "bag_of_ngrams") if name in probabilities}
    print_comparison(f"test split ({len(test)} reviews)", {k: scores[k] for k in ("loss", "accuracy", "auc")},
                     {name.replace("_", " "): {k: b[k] for k in ("accuracy", "auc")} for name, b in baselines.items()})
    paired.print_paired(comparisons)
    return run.finish({
        "data": source, "sizes": {k: len(v) for k, v in parts.items()},
        "validation": run.best_epoch_logs(), "test": scores, "baselines": baselines, "paired": comparisons,
        "test_seconds": test_seconds, **({"blend": blend} if blend else {}),
    })


def validate(run):
    """Train as `train` does and report validation figures only: for choosing settings (the README's
    ablation). The test split is never scored. Writes OUT/validation.json (its epochs: the training log's
    rows) and leaves no model, checkpoint or unfinished/ logs; returns its content."""
    from shared.artifacts import publish
    from shared.report import metrics_json

    from . import model, scoring

    vectorizer, classifier, parts, facts = fit(run)
    branches = model.with_branches(classifier)  # the classifier as users get it, and each branch alone
    val = parts["validation"]  # every review scored, an empty one included
    probabilities = scoring.score_reviews(branches, vectorizer, val, scoring_batch(run))  # {name: (reviews,)}
    accuracy = {name: float(np.mean(scoring.right(val.labels, values))) for name, values in probabilities.items()}
    rows = run.history["epochs"]
    best = min(range(len(rows)), key=lambda i: float(rows[i]["val_loss"]))
    blend = facts.pop("blend", None)
    # The network's validation logs (run.best_epoch_logs) are the recurrent branch's alone, over the reviews
    # with a token (training's batches drop the others); "accuracy" counts every review. With n-grams the
    # blend was fitted on these reviews, so "probability" is in-sample; compare designs by the blend's
    # cross-validated accuracy.
    result = {"validation": run.best_epoch_logs(), "accuracy": accuracy, "best_epoch": best + 1,
              "epochs_run": len(rows), "train_seconds": run.history["train_seconds"],
              "ngram_branch": {k: v for k, v in facts.items() if k != "source"}, "blend": blend,
              "epochs": [{k: int(v) if k == "epoch" else float(v) for k, v in row.items() if v} for row in rows]}
    print(f"validation accuracy: {accuracy['probability']:.4f}"
          + (f" (blend fitted on it; cross-validated {blend['validation_accuracy_cv']:.4f})" if blend else "")
          + "".join(f", {name.replace('_', ' ')} alone {value:.4f}"
                    for name, value in accuracy.items() if name != "probability"))
    publish(run.out, {"validation.json": metrics_json(result)})
    return result


def main(argv=None):
    return TrainingRun.main(Config, argv, train, recipe=RECIPE, description=__doc__, smoke=SMOKE_CAPS)


def validate_main(argv=None):
    return TrainingRun.main(Config, argv, validate, recipe=RECIPE, description=validate.__doc__, smoke=SMOKE_CAPS,
                            command="validate")
