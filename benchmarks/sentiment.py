"""Sentiment speed: this recipe's training beside the keras.io "Bidirectional LSTM on IMDB" settings.

Every case trains on the same real IMDB training reviews, tokenised by one vocabulary,
and counts reviews per second. The tutorial (TUTORIAL, every setting written out): 20,000
words, the last 200 tokens (left-padded, no mask), Embedding 128, two Bidirectional LSTM(64),
no dropout, batch 32, Adam defaults. The variants change one thing each, to show what each
speed lever is worth here.
"""
import tempfile
import time

import keras
import numpy as np

from benchmarks.harness import timed, train_throughput, train_to_target
from recipes.sentiment import data, model
from recipes.sentiment.train import Config
from shared.device import set_mixed_precision
from shared.run import compile_from_config

STEPS = {"full": 60, "small": 2}  # measured steps per case, after 3 warm-up steps (60: a third of an epoch)
TARGET = 0.87  # test accuracy the time-to-target cases train for
# keras.io "Bidirectional LSTM on IMDB" (fchollet; keras.io/examples/nlp/bidirectional_lstm_imdb/): every
# setting written out here, none taken from the recipe's Config, whose defaults change. pad_sequences'
# defaults ("pre") keep each review's last maxlen tokens and pad on the left.
TUTORIAL = {"max_features": 20000, "maxlen": 200, "padding": "pre", "truncating": "pre", "embedding_dim": 128,
            "cell": "lstm", "bidirectional": True, "layers": 2, "units": 64, "dropout": 0.0, "batch_size": 32,
            "epochs": 2, "optimizer": "adam", "lr": 1e-3, "clipnorm": None, "loss": "binary_crossentropy"}
# The tutorial's time to TARGET: trained past its 2-epoch schedule, its test accuracy checked every
# TUTORIAL_CHECK_SECONDS of training (a check scores 25,000 reviews: ~0.5 min here), up to the cap.
TUTORIAL_CAP_MINUTES = {"full": 15.0, "small": 0.05}  # full: 2-4x its 2 epochs on this project's machines
TUTORIAL_CHECK_SECONDS = {"full": 60.0, "small": 0.5}
TUTORIAL_MIN_CHECKS = 5  # a crossing before 5 checks reruns with closer ones (each rerun costs the whole run)
# XLA compiles once per input shape, and bucketed batches give nearly every step a new one: the XLA
# comparison times both sides on the same reviews, all padded to max_words, after a warm-up that compiles.
FIXED_SHAPE = {"bucketed": False, "steps": 20}


def _reviews():
    train_all, _, _ = data.load_splits("", seed=0)
    return data.stratified_split(train_all, 0.1, seed=0)[0]  # the recipe's training part, shuffled


def _recipe_batches(config, size, bucketed=True, steps=None):
    reviews = _reviews()
    vectorizer = data.make_vectorizer(reviews.texts, config.max_tokens, config.max_words)
    if bucketed:
        batches = data.token_batches(vectorizer, reviews, config.batch_size, config.max_words, shuffle_seed=0)
    else:  # every review padded to max_words, as a fixed-shape pipeline would
        needed = config.batch_size * (3 + steps)
        ids = np.asarray(vectorizer(reviews.texts[:needed]))
        batches = [(ids[i:i + config.batch_size], reviews.labels[i:i + config.batch_size].astype("float32"))
                   for i in range(0, needed, config.batch_size)]
        return batches, vectorizer
    # Batches come out of the buckets in an order that favours common lengths; timing the first few
    # would measure mostly mid-length reviews. Draw the timed ones at random from a whole epoch instead.
    epoch = [(np.asarray(x), np.asarray(y)) for x, y in batches]
    # One fixed order, so that cases timing fewer steps time the first of the same batches.
    picked = np.random.default_rng(0).permutation(len(epoch))[: 3 + steps]
    return [epoch[i] for i in picked], vectorizer


def _with_ngram_weights(batches, order):
    """((tokens, (batch, time, order) n-gram weights), labels) batches: the network's inputs in training.
    The weights are random, not fitted: a step's time does not depend on their values."""
    rng = np.random.default_rng(0)
    return [((x, (rng.normal(size=x.shape + (order,)) * (x > 0)[..., None]).astype("float32")), y) for x, y in batches]


def _recipe_case(size, jit=False, bucketed=True, steps=None, **changes):
    config = Config(**changes)
    keras.utils.set_random_seed(0)
    policy = set_mixed_precision(config.mixed_precision)  # mixed_float16 on a GPU, mixed_bfloat16 on CPU
    batches, vectorizer = _recipe_batches(config, size, bucketed, min(steps or STEPS[size], STEPS[size]))
    tokens = sum(int(np.count_nonzero(x)) for x, _ in batches) / sum(len(x) for x, _ in batches)
    if model.reads_ngram_weights(config):
        batches = _with_ngram_weights(batches, config.ngram_order)
    # What train.py fits: the recurrent network alone (the n-gram branch is fitted apart, ngrams.py).
    classifier = model.build_network(model.build_recurrent(config, vectorizer.vocabulary_size()))
    compile_from_config(classifier, config, loss="binary_crossentropy", steps_per_epoch=100)
    if jit:
        classifier.compile(optimizer=classifier.optimizer, loss="binary_crossentropy", jit_compile=True)
    return {"what": f"recipe: {config.layers}x BiLSTM({config.units}), embedding {config.embedding_dim}, "
                    f"mean pooling, batch {config.batch_size}, "
                    f"{'bucketed' if bucketed else 'padded to ' + str(config.max_words)}"
                    f"{', XLA (one shape, compiled in the warm-up)' if jit else ''}"
                    f"{', ' + policy if config.mixed_precision else ''}",
            "unit": "reviews", "mean_tokens_per_review": tokens,
            **train_throughput(classifier, batches, count=lambda batch: len(batch[1]))}


def _last_tokens(vectorizer, texts, length):
    """(n, length) ids of each text's last `length` tokens, left-padded: keras pad_sequences' defaults."""
    out = np.zeros((len(texts), length), dtype="int64")
    for begin in range(0, len(texts), 1000):  # chunks: 2,500 ids a review for all reviews would be GBs
        ids = np.asarray(vectorizer(texts[begin: begin + 1000]))
        for row, tokens in enumerate(ids, start=begin):
            kept = tokens[: np.count_nonzero(tokens)][-length:]
            out[row, length - len(kept):] = kept
    return out


def _tutorial_model():
    """The tutorial's model, compiled as it compiles it (TUTORIAL's settings, Adam's defaults)."""
    t = TUTORIAL
    inputs = keras.Input(shape=(None,), dtype="int64")
    x = keras.layers.Embedding(t["max_features"], t["embedding_dim"])(inputs)  # (batch, time, 128)
    for index in range(t["layers"]):
        x = keras.layers.Bidirectional(keras.layers.LSTM(t["units"], dropout=t["dropout"],
                                                         return_sequences=index < t["layers"] - 1))(x)
    classifier = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))
    classifier.compile(optimizer=keras.optimizers.Adam(t["lr"], clipnorm=t["clipnorm"]), loss=t["loss"],
                       metrics=["accuracy"])
    return classifier


def _tutorial_tokens(vectorizer, texts):
    return _last_tokens(vectorizer, texts, TUTORIAL["maxlen"])


def tutorial(size):
    """keras.io's Bidirectional LSTM on IMDB, with its data shape: the last 200 tokens, left-padded."""
    keras.utils.set_random_seed(0)
    reviews, batch = _reviews(), TUTORIAL["batch_size"]
    vectorizer = data.make_vectorizer(reviews.texts, TUTORIAL["max_features"], 2500)
    padded = _tutorial_tokens(vectorizer, reviews.texts[: batch * (3 + STEPS[size])])
    batches = [(padded[i:i + batch], reviews.labels[i:i + batch].astype("float32"))
               for i in range(0, len(padded), batch)]
    return {"what": f"keras.io tutorial: {_tutorial_words()}", "unit": "reviews",
            **train_throughput(_tutorial_model(), batches, count=lambda batch: len(batch[0]))}


def _tutorial_words():
    t = TUTORIAL
    return (f"{t['layers']}x BiLSTM({t['units']}), embedding {t['embedding_dim']}, last {t['maxlen']} tokens, "
            f"batch {t['batch_size']}")


def pipeline(size):
    """Reviews per second out of the recipe's input pipeline alone (tokenised once, before the first epoch)."""
    config = Config()
    reviews = _reviews()
    if size == "small":
        reviews = reviews.subset(np.arange(2000))
    vectorizer = data.make_vectorizer(reviews.texts, config.max_tokens, config.max_words)
    batches = data.token_batches(vectorizer, reviews, config.batch_size, config.max_words, shuffle_seed=0)
    for _ in batches:  # a first epoch, as training would
        pass
    started = time.perf_counter()
    count = sum(int(labels.shape[0]) for _, labels in batches)
    return {"what": "input pipeline alone, tokenised once, prefetch, second pass",
            "unit": "reviews", "per_second": count / (time.perf_counter() - started)}


def one_thread(size):
    """The recipe's training with TensorFlow limited to one thread per op and one op at a time."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    result = _recipe_case(size)
    return {**result, "what": result["what"] + ", 1 thread"}


def predict_strings(size):
    """Predictions per second on raw review strings through the saved-model form (vectorizer inside)."""
    config = Config()
    reviews = _reviews()
    vectorizer = data.make_vectorizer(reviews.texts, config.max_tokens, config.max_words)
    classifier = model.with_vectorizer(vectorizer, model.build_classifier(config, vectorizer.vocabulary_size()))
    texts = np.asarray(reviews.texts[: 1000 if size == "full" else 64], dtype=object)
    seconds, _ = timed(lambda: classifier.predict(texts, batch_size=128, verbose=0), repeats=1)
    return {"what": f"predict on {len(texts)} raw reviews, batch 128, first {config.max_words} words",
            "unit": "reviews", "per_second": len(texts) / seconds}


def _timing_what_train_seconds_leaves_out(train):
    """Wrap, in this case's process only, two steps of the recipe's fit() that its train_seconds leaves out.

    grouping: data.name_groups (validation holds out whole groups of reviews), timed apart as data
    preparation, like tokenising. blend: from the network's trained weights to the blended classifier
    (the network's validation logits and the 3-weight regression on them), counted as training.
    Returns the dict the wrappers fill, and a function that takes the wrappers off.
    """
    from recipes.sentiment import model as recipe_model

    seconds = {"grouping": 0.0, "blend": 0.0}
    name_groups, build_classifier, fit = data.name_groups, recipe_model.build_classifier, train.fit

    def timed_groups(*args, **kwargs):
        started = time.perf_counter()
        try:
            return name_groups(*args, **kwargs)
        finally:
            seconds["grouping"] += time.perf_counter() - started

    def marked_classifier(*args, **kwargs):  # fit() builds it right after the network's training
        seconds["blend_started"] = time.perf_counter()
        return build_classifier(*args, **kwargs)

    def timed_fit(run):
        fitted = fit(run)
        seconds["blend"] = time.perf_counter() - seconds.pop("blend_started")
        return fitted

    data.name_groups, recipe_model.build_classifier, train.fit = timed_groups, marked_classifier, timed_fit

    def restore():
        data.name_groups, recipe_model.build_classifier, train.fit = name_groups, build_classifier, fit

    return seconds, restore


def time_to_target(size):
    """Training minutes of `python -m recipes.sentiment --epochs 1 --batch-size 128` and its test accuracy.

    The recipe's quickest setting: the n-gram branch alone passes TARGET once fitted, so one epoch of
    the network in batches of 128 (a quarter of the default's steps) is all the blend waits for. The
    minutes are an upper bound (the test split is scored once, at the end); the defaults' run (two
    epochs of batch 32) is in the README.
    Counted: the n-gram branch's fit and cross-fit, the network's fit (validation passes included),
    the blend's fit. Not counted: reading and grouping the reviews (grouping_seconds, given apart),
    tokenising, building the model, saving it, scoring the test split.
    """
    from recipes.sentiment import train

    seconds, restore = _timing_what_train_seconds_leaves_out(train)
    try:
        with tempfile.TemporaryDirectory() as out:
            metrics = train.main(["--out", out, "--epochs", "1", "--batch-size", "128"]
                                 + (["--smoke"] if size == "small" else []))
    finally:
        restore()
    accuracy = metrics["test"]["accuracy"]
    # The n-gram branch's fitting and cross-fitting (before the network's epochs), the network's, the blend's.
    branch = metrics["baselines"].get("ngram_branch", {})
    ngram_seconds = branch.get("fit_seconds", 0.0) + branch.get("cross_fit", {}).get("seconds", 0.0)
    minutes = (metrics["train_seconds"] + ngram_seconds + seconds["blend"]) / 60
    return {"what": f"recipe, --epochs 1 --batch-size 128 (n-gram branch {ngram_seconds:.0f} s, then "
                    f"{metrics['epochs_run']} epoch, then the blend {seconds['blend']:.0f} s; not counted: "
                    f"grouping {seconds['grouping']:.0f} s, tokenising, test scoring), test accuracy {accuracy:.4f}",
            "unit": "minutes", "minutes": minutes, "reached": accuracy >= TARGET, "label": "the recipe",
            "target_text": f"test accuracy {TARGET}", "best": f"{accuracy:.4f}", "test_accuracy": accuracy,
            "ngram_seconds": ngram_seconds, "network_seconds": metrics["train_seconds"],
            "blend_seconds": seconds["blend"], "grouping_seconds": seconds["grouping"]}


def time_to_target_autotuned(size):
    """The same run with tf.data's autotuning left on: the stall at epoch boundaries (shared.data.prefetched)."""
    import tensorflow as tf

    data.prefetched = lambda batches: batches.prefetch(tf.data.AUTOTUNE)  # this case's process only
    result = time_to_target(size)
    return {**result, "what": result["what"] + ", tf.data autotuning on", "label": "the recipe, autotuning on"}


def tutorial_time_to_target(size):
    """The tutorial's settings trained past its own 2-epoch schedule until TARGET, or its cap.

    Its test error (1 - accuracy, on the whole test split) is checked every TUTORIAL_CHECK_SECONDS
    of training, with the clock stopped (benchmarks.harness.train_to_target): this measures when it
    gets there and selects nothing. Counted: training steps only. Not counted: reading and
    tokenising the reviews, the checks' scoring.
    """
    train_all, test, _ = data.load_splits("", seed=0)
    train_part = data.stratified_split(train_all, 0.1, seed=0)[0]
    if size == "small":  # at random: the files hold one class, then the other
        rng = np.random.default_rng(0)
        train_part, test = (part.subset(rng.permutation(len(part))[:count]) for part, count in
                            ((train_part, 512), (test, 256)))
    vectorizer = data.make_vectorizer(train_part.texts, TUTORIAL["max_features"], 2500)
    x_train, x_test = (_tutorial_tokens(vectorizer, part.texts) for part in (train_part, test))
    y_test = test.labels.astype("float32")
    import tensorflow as tf

    batches = tf.data.Dataset.from_tensor_slices((x_train, train_part.labels.astype("float32")))
    batches = batches.shuffle(len(x_train), seed=0).batch(TUTORIAL["batch_size"]).prefetch(2)  # fit's shuffle

    def build():
        keras.utils.set_random_seed(0)
        return _tutorial_model()

    def error(classifier):
        return 1.0 - classifier.evaluate(x_test, y_test, batch_size=256, verbose=0)[1]

    result = train_to_target(build, batches, error, 1.0 - TARGET, check_seconds=TUTORIAL_CHECK_SECONDS[size],
                             cap_minutes=TUTORIAL_CAP_MINUTES[size], min_checks=TUTORIAL_MIN_CHECKS)
    steps = result["checks"][-1][2]
    epochs = steps * TUTORIAL["batch_size"] / len(x_train)
    accuracy, best = 1.0 - result["score"], 1.0 - result["best_score"]
    return {**result, "what": f"keras.io tutorial ({_tutorial_words()}), trained past its 2 epochs, test accuracy "
                              f"checked every {result['check_seconds']:.0f} s, cap {result['cap_minutes']:g} min: "
                              f"{epochs:.1f} epochs, test accuracy {accuracy:.4f} (best {best:.4f})",
            "unit": "minutes", "label": "the keras.io tutorial", "target_text": f"test accuracy {TARGET}",
            "best": f"{best:.4f}", "epochs": epochs}


CASES = {
    "train": lambda size: _recipe_case(size),
    "train_tutorial": tutorial,
    "train_previous": lambda size: _recipe_case(size, layers=2, units=64, embedding_dim=128),
    "train_padded": lambda size: _recipe_case(size, **FIXED_SHAPE),
    "train_batch128": lambda size: _recipe_case(size, batch_size=128),
    "train_xla": lambda size: _recipe_case(size, jit=True, **FIXED_SHAPE),
    "train_1thread": one_thread,
    "train_mixed": lambda size: _recipe_case(size, mixed_precision=True),
    "pipeline": pipeline,
    "predict": predict_strings,
    "target": time_to_target,
    "target_tutorial": tutorial_time_to_target,
    "target_autotuned": time_to_target_autotuned,
}
COMPARE = [
    ("train", "train_tutorial", "training reviews/s, recipe / keras.io tutorial"),
    ("train", "train_previous", "this model / the recipe's first model (2x BiLSTM(64), embedding 128)"),
    ("train", "train_padded", "bucketed by length / padded to 600"),
    ("train_batch128", "train", "reviews/s, batch 128 / batch 32 (the default)"),
    ("train_padded", "train_xla", "padded to 600, one shape: without XLA / with XLA (jit_compile), after compiling"),
    ("train", "train_1thread", "TensorFlow's default threads / 1 thread"),
    ("train_mixed", "train", "mixed precision / float32"),
    ("target", "target_tutorial", "minutes to test accuracy 0.87, tutorial / recipe"),
    ("target", "target_autotuned", "minutes to test accuracy 0.87, tf.data autotuning on / off"),
]
