"""What inference commands share: a finished run's files, a compiled model call, recurrent state sizes."""
import json
from pathlib import Path

import keras

from shared.artifacts import load_model
from shared.config import load_saved
from shared.errors import UserError


def load_run(model_dir, recipe, *json_files):
    """(model, config dict, {name: parsed JSON}) of a finished run of `recipe` in model_dir.

    Every problem (no folder, another recipe's model, a missing or unreadable file) is a
    one-line UserError naming the file; predicting never reads the training data.
    """
    config = load_saved(model_dir, recipe)
    extras = {}
    for name in json_files:
        path = Path(model_dir) / name
        if not path.is_file():
            raise UserError(f"{model_dir}: no {name} (not a finished {recipe} run); train again to write it")
        try:
            extras[name] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise UserError(f"{path}: unreadable or not JSON; train again to write it") from None
    return load_model(model_dir), config, extras


def inference_copy(trained):
    """An uncompiled copy of `trained` with its weights: what a saved model needs (no Adam moments,
    which would triple the file); clone_model would copy the compile settings too."""
    copy = keras.Model.from_config(trained.get_config())
    copy.set_weights(trained.get_weights())
    return copy


def compiled(network, signature):
    """`network(inputs)` in inference mode, traced once into a graph on TensorFlow (a plain call elsewhere).

    signature: one (shape, dtype) per input, None for a free dimension. A direct call, not
    model.predict (which builds a dataset and a loop per call); the graph spares Keras's eager
    per-layer overhead, which dominates a one-step call (make bench: textgen's generate cases).
    """
    def call(*inputs):
        return network(list(inputs) if len(inputs) > 1 else inputs[0], training=False)
    if keras.config.backend() != "tensorflow":
        return call
    import tensorflow as tf
    return tf.function(call, input_signature=[tf.TensorSpec(shape, dtype) for shape, dtype in signature])


def state_count(cell):
    """Recurrent state tensors a layer of `cell` carries: LSTM (h, c), GRU and SimpleRNN only h."""
    return 2 if cell == "lstm" else 1
