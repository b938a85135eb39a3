"""The tiny GRU problem the training tests share, in-process and in the subprocess scripts.

Importable as `tiny` from the tests and from `python tests/SCRIPT.py` (whose folder is on sys.path).
"""
import dataclasses

import keras
import numpy as np

from shared.config import TrainConfig


@dataclasses.dataclass
class TinyConfig(TrainConfig):
    epochs: int = 4
    patience: int = 10
    batch_size: int = 16
    lr: float = 0.05


def tiny_problem(seed=0):
    """128 sequences of 6 steps x 2 features; the label: is the first feature's sum positive."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(128, 6, 2)).astype("float32")  # (batch, time, features)
    y = (x[:, :, 0].sum(axis=1) > 0).astype("float32")  # (batch,)
    return x, y


def tiny_gru():
    """GRU(4) -> P(label); uncompiled, so each caller compiles it inside its own strategy scope."""
    inputs = keras.Input((6, 2))
    outputs = keras.layers.Dense(1, activation="sigmoid", dtype="float32")(keras.layers.GRU(4)(inputs))
    return keras.Model(inputs, outputs)


class Interrupt(keras.callbacks.Callback):
    """Stands in for a killed process: raises after the backup of epoch `after` is written."""

    def __init__(self, after):
        super().__init__()
        self.after = after

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.after:
            raise KeyboardInterrupt


# The harness (shared.training) takes explicit arguments; these pass a config's fields, as
# shared.run.TrainingRun does for the recipes.
def config_setup(config):
    from shared.training import setup

    return setup(seed=config.seed, mixed_precision=config.mixed_precision, strategy=config.strategy)


def config_compile(model, config, **options):
    from shared.run import compile_from_config

    compile_from_config(model, config, **options)


def config_fit(model, train_data, val_data, config, workdir, **options):
    from shared.run import fit_from_config

    return fit_from_config(model, train_data, val_data, config, workdir, **options)
