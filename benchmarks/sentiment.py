"""Sentiment speed: this recipe's training beside the keras.io "Bidirectional LSTM on IMDB" settings.

Every case trains on the same real IMDB training reviews, tokenised by one vocabulary,
and counts reviews per second. The tutorial: 20,000 words, the last 200 tokens
(left-padded, no mask), Embedding 128, two Bidirectional LSTM(64), batch 32, Adam defaults.
The variants change one thing each, to show what each speed lever is worth here.
"""
import tempfile
import time

import keras
import numpy as np

from benchmarks.harness import timed, train_throughput
from recipes.sentiment import data, model
from recipes.sentiment.train import Config
from shared.device import set_mixed_precision
from shared.run import compile_from_config

STEPS = {"full": 60, "small": 2}  # measured steps per case, after 3 warm-up steps (60: a third of an epoch)
TARGET = 0.87  # test accuracy the time-to-target cases train for
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
    inputs = keras.Input(shape=(None,), dtype="int64")
    x = keras.layers.Embedding(20000, 128)(inputs)
    x = keras.layers.Bidirectional(keras.layers.LSTM(64, return_sequences=True))(x)
    x = keras.layers.Bidirectional(keras.layers.LSTM(64))(x)
    classifier = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))
    classifier.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    return classifier


def tutorial(size):
    """keras.io's Bidirectional LSTM on IMDB, with its data shape: the last 200 tokens, left-padded."""
    keras.utils.set_random_seed(0)
    reviews = _reviews()
    vectorizer = data.make_vectorizer(reviews.texts, 20000, 2500)
    padded = _last_tokens(vectorizer, reviews.texts[: 32 * (3 + STEPS[size])], 200)
    batches = [(padded[i:i + 32], reviews.labels[i:i + 32].astype("float32")) for i in range(0, len(padded), 32)]
    return {"what": "keras.io tutorial: 2x BiLSTM(64), last 200 tokens, batch 32", "unit": "reviews",
            **train_throughput(_tutorial_model(), batches, count=lambda batch: len(batch[0]))}


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


def time_to_target(size):
    """Training minutes of `python -m recipes.sentiment --epochs 1 --batch-size 128` and its test accuracy.

    The recipe's quickest setting: the n-gram branch alone passes TARGET once fitted, so one epoch of
    the network in batches of 128 (a quarter of the default's steps) is all the blend waits for. The
    minutes are an upper bound; the defaults' run (two epochs of batch 32) is in the README.
    """
    from recipes.sentiment import train

    with tempfile.TemporaryDirectory() as out:
        metrics = train.main(["--out", out, "--epochs", "1", "--batch-size", "128"]
                             + (["--smoke"] if size == "small" else []))
    accuracy = metrics["test"]["accuracy"]
    # Training is the n-gram branch's fitting and cross-fitting (before the network's epochs) plus the network's.
    branch = metrics["baselines"].get("ngram_branch", {})
    ngram_seconds = branch.get("fit_seconds", 0.0) + branch.get("cross_fit", {}).get("seconds", 0.0)
    return {"what": f"recipe, --epochs 1 --batch-size 128 (n-gram branch {ngram_seconds:.0f} s, then "
                    f"{metrics['epochs_run']} epoch), test accuracy {accuracy:.4f}",
            "unit": "minutes", "minutes": (metrics["train_seconds"] + ngram_seconds) / 60, "reached": accuracy >= TARGET}


def time_to_target_autotuned(size):
    """The same run with tf.data's autotuning left on: the stall at epoch boundaries (shared.data.prefetched)."""
    import tensorflow as tf

    data.prefetched = lambda batches: batches.prefetch(tf.data.AUTOTUNE)  # this case's process only
    result = time_to_target(size)
    return {**result, "what": result["what"] + ", tf.data autotuning on"}


def tutorial_time_to_target(size):
    """The tutorial's own schedule (2 epochs, batch 32), test accuracy after each epoch, until TARGET.

    The test split is scored after every epoch here: this measures when the tutorial gets there,
    it selects nothing. Only training time counts.
    """
    keras.utils.set_random_seed(0)
    train_all, test, _ = data.load_splits("", seed=0)
    train_part = data.stratified_split(train_all, 0.1, seed=0)[0]
    if size == "small":
        train_part, test = train_part.subset(np.arange(512)), test.subset(np.arange(256))
    vectorizer = data.make_vectorizer(train_part.texts, 20000, 2500)
    x_train, x_test = (_last_tokens(vectorizer, part.texts, 200) for part in (train_part, test))
    classifier = _tutorial_model()
    minutes, accuracy, epochs = 0.0, 0.0, 0
    for epochs in range(1, 3):
        started = time.perf_counter()
        classifier.fit(x_train, train_part.labels.astype("float32"), batch_size=32, epochs=1, verbose=0)
        minutes += (time.perf_counter() - started) / 60
        accuracy = classifier.evaluate(x_test, test.labels.astype("float32"), batch_size=256, verbose=0)[1]
        if accuracy >= TARGET:
            break
    return {"what": f"keras.io tutorial, {epochs} epochs of batch 32, test accuracy {accuracy:.4f}",
            "unit": "minutes", "minutes": minutes, "reached": accuracy >= TARGET}


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
