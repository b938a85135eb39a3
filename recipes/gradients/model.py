"""The networks, all from the shared factory: one recurrent layer reading one-hot steps, a Dense over 4 classes.

Gate initialisation (`gate_init`):
- "chrono" (default): the LSTM forget-gate bias, and the GRU update-gate bias, start at log(u) with
  u uniform in [1, length - 1], one value per unit (Tallec & Ollivier 2018, "Can recurrent neural
  networks warp time?"). A gate of sigmoid(log u) = u / (1 + u) keeps the state for about u steps,
  so from the first step some units remember for the whole sequence; the LSTM input gate gets -log u.
- "keras": Keras's defaults (LSTM forget bias 1, so the cell keeps sigmoid(1) = 0.73 of itself per
  step; GRU biases 0, keeping 0.5): at initialisation its gradient shrinks geometrically as well.
SimpleRNN has no gate: its recurrent matrix starts orthogonal (Keras's default), spectral radius 1.
"""
import keras
import numpy as np
from keras import layers

from shared.layers import recurrent_layer

from .data import CLASSES, FEATURES


@keras.saving.register_keras_serializable(package=__name__)  # Bidirectional copies its layer by config
class ChronoBias(keras.initializers.Initializer):
    """Bias of an "lstm" or "gru" layer whose keep gate remembers for up to `length` steps (see above)."""

    def __init__(self, cell, units, length, seed=0):
        self.cell, self.units, self.length, self.seed = cell, units, length, seed

    def __call__(self, shape, dtype=None):
        units = self.units
        keep = np.log(np.random.default_rng(self.seed).uniform(1.0, max(self.length - 1, 2), units))
        bias = np.zeros(shape, "float32")
        if self.cell == "lstm":  # (4 * units,): input, forget, cell, output gates
            bias[:units], bias[units:2 * units] = -keep, keep
        else:  # GRU with reset_after: (2, 3 * units), input and recurrent biases of update, reset, candidate
            bias[0, :units] = keep  # Keras's GRU keeps z * h_{t-1}: z is the keep gate
        return keras.ops.convert_to_tensor(bias, dtype=dtype)

    def get_config(self):
        return {"cell": self.cell, "units": self.units, "length": self.length, "seed": self.seed}


def gate_options(cell, units, length, gate_init, seed):
    """Extra recurrent_layer options for the chosen gate initialisation."""
    if gate_init != "chrono" or cell == "rnn":
        return {}
    options = {"bias_initializer": ChronoBias(cell, units, length, seed)}
    if cell == "lstm":
        options["unit_forget_bias"] = False  # else Keras overwrites the forget part with ones
    return options


def build_classifier(cell, length, units, *, bidirectional=False, gate_init="chrono", seed=0, **options):
    """(batch, length, FEATURES) one-hot steps -> (batch, CLASSES) logits, from the last step's state.

    `options` go to the recurrent layer (the exploding experiment sets its recurrent_initializer).
    """
    steps = keras.Input((length, FEATURES), name="steps")
    options = {**gate_options(cell, units, length, gate_init, seed), **options}
    # Many-to-one: the state after the last step (for Bidirectional, the forward direction's after
    # step `length` beside the backward direction's after step 1), (batch, units) or (batch, 2 * units).
    state = recurrent_layer(cell, units, bidirectional=bidirectional, name="recurrent", **options)(steps)
    logits = layers.Dense(CLASSES, name="logits")(state)  # (batch, CLASSES)
    return keras.Model(steps, logits, name=f"{'bi' if bidirectional else ''}{cell}_{length}")


def worked_example_layer(W, U, b):
    """A 2-unit SimpleRNN with h_t = tanh(W x_t + U h_{t-1} + b) (column vectors), returning every h_t.

    Keras multiplies row vectors from the left (x_t @ kernel), so its kernels are the transposes.
    """
    layer = recurrent_layer("rnn", len(b), return_sequences=True, name="worked_example")
    layer.build((None, None, W.shape[1]))
    layer.set_weights([np.asarray(W).T, np.asarray(U).T, np.asarray(b)])
    return layer
