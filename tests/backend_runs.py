"""Each recipe's model trained by shared.training under another Keras backend, with TensorFlow blocked.

    KERAS_BACKEND=jax python tests/backend_runs.py RESULTS.json WORKDIR RECIPE...

For each recipe: its model factory on small arrays, compile_model, fit for 2 epochs,
then save and reload; RESULTS.json gets the epochs' logs and the largest difference
between the predictions before saving and after reloading. `import tensorflow` fails
in this process, so anything that still needs it shows up as an error.
"""
import dataclasses
import json
import os
import sys
from pathlib import Path

sys.modules["tensorflow"] = None  # type: ignore[assignment]  # `import tensorflow` now raises ImportError
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("KERAS_BACKEND", "jax")

import keras
import numpy as np
from tiny import config_compile, config_fit, config_setup

from shared.config import TrainConfig
from shared.errors import UserError


@dataclasses.dataclass
class TinyConfig(TrainConfig):
    """Every field the recipes' model factories read, at unit-test size."""

    epochs: int = 2
    patience: int = 5
    batch_size: int = 16
    lr: float = 0.01
    cell: str = "gru"
    bidirectional: bool = True
    units: int = 8
    layers: int = 1
    pooling: str = "mean"
    embedding_dim: int = 8
    dropout: float = 0.1
    window: int = 10
    horizon: int = 2
    attention: str = "dot"
    ngrams: bool = True  # sentiment's n-gram branch: its int32 hashing on every backend
    ngram_inputs: bool = True  # and the per-step n-gram weights its network reads
    ngram_order: int = 3
    ngram_buckets: int = 64


def sentiment(config, rng):
    from recipes.sentiment import model, ngrams

    ids = rng.integers(3, 30, size=(128, 12))
    ids[::3, 8:] = 0  # right padding
    labels = np.isin(ids, (3, 4, 5, 6)).any(axis=1).astype("float32")  # (batch,)
    classifier = model.build_classifier(config, 30)  # the recurrent branch trains; the n-gram branch is fitted
    matrix = ngrams.gram_matrix(ids, config.ngram_order, config.ngram_buckets, 30)
    weights, bias = ngrams.fit(matrix, labels.astype(int), c=1.0)
    classifier.get_layer("bag_of_ngrams").set_regression(weights, bias)
    classifier.get_layer("ngram_weights").set_ngram_weights(weights)  # what the network reads at each step
    return classifier, "binary_crossentropy", ids, labels


def forecast(config, rng):
    from recipes.forecast import model

    walk = rng.normal(size=(128, config.window + config.horizon)).astype("float32")
    windows = np.stack([walk[:, :config.window], np.abs(walk[:, :config.window])], axis=-1)  # (batch, window, 2)
    return model.build_forecaster(config, 2), model.pinball_loss, windows, walk[:, config.window:]


def textgen(config, rng):
    from recipes.textgen import model

    text = np.tile(np.arange(1, 11), 200)  # 1 2 .. 10 1 2 ..: the next id is predictable
    starts = rng.integers(0, len(text) - 21, size=128)
    windows = np.stack([text[s:s + 21] for s in starts])
    return (model.build_language_model(config, 11), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            windows[:, :-1], windows[:, 1:])


def translate(config, rng):
    from recipes.translate import model

    source = rng.integers(3, 20, size=(128, 7))
    target = np.concatenate([np.full((128, 1), 1), (source[:, ::-1] % 15) + 3, np.full((128, 1), 2)], axis=1)
    return (model.build_translator(config, 20, 20), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            [source, target[:, :-1]], target[:, 1:])


def run(recipe, workdir):
    config = TinyConfig()
    strategy = config_setup(config)
    rng = np.random.default_rng(0)
    with strategy.scope():
        network, loss, inputs, targets = globals()[recipe](config, rng)
        config_compile(network, config, loss=loss)
    split = 96
    head = [part[:split] for part in inputs] if isinstance(inputs, list) else inputs[:split]
    tail = [part[split:] for part in inputs] if isinstance(inputs, list) else inputs[split:]
    history = config_fit(network, (head, targets[:split]), (tail, targets[split:]), config, workdir / recipe, verbose=0)
    before = network.predict(tail, verbose=0)
    network.save(workdir / f"{recipe}.keras")
    after = keras.saving.load_model(workdir / f"{recipe}.keras").predict(tail, verbose=0)
    return {"epochs": history["epochs"], "reload_max_difference": float(np.max(np.abs(before - after))),
            "tensorboard_written": (workdir / recipe / "unfinished" / "tensorboard").exists()}


def refused_strategies():
    refused = {}
    for name in ("mirrored", "multiworker"):
        try:
            config_setup(TinyConfig(strategy=name))
            refused[name] = None
        except UserError as error:
            refused[name] = str(error)
    return refused


if __name__ == "__main__":
    results_path, workdir, *recipes = sys.argv[1:]
    results = {"backend": keras.config.backend(), "refused": refused_strategies()}
    results.update({recipe: run(recipe, Path(workdir)) for recipe in recipes})
    Path(results_path).write_text(json.dumps(results, indent=1), encoding="utf-8")
