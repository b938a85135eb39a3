"""What inference commands share: a finished run's files, a compiled model call, recurrent state sizes,
what a text classifier knows of a text, and text made safe to print."""
import dataclasses
import json
import typing
import unicodedata
from pathlib import Path

from shared.artifacts import check_unchanged, load_model
from shared.config import load_saved
from shared.errors import UserError


def load_run(model_dir, recipe, *json_files, config_class=None, added=None):
    """(model, config dict, {name: parsed JSON}) of a finished run of `recipe` in model_dir.

    Every problem (no folder, another recipe's model, a missing or unreadable file, a config.json
    that lacks a setting of `config_class` or holds one of the wrong type, a file edited since
    the model was saved) is a one-line UserError naming the file; predicting never reads the
    training data. added: {setting: value} of settings newer than some saved runs; a config.json
    without one loads with that value (what those runs did).
    """
    config = {**(added or {}), **load_saved(model_dir, recipe)}
    if config_class is not None:
        check_settings(config, config_class, Path(model_dir) / "config.json")
    extras = {}
    for name in json_files:
        path = Path(model_dir) / name
        if not path.is_file():
            raise UserError(f"{model_dir}: no {name} (not a finished {recipe} run); train again to write it")
        try:
            extras[name] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise UserError(f"{path}: unreadable or not JSON; train again to write it") from None
    # Last: the messages above say more about a file that is missing, unreadable or incomplete.
    check_unchanged(model_dir, ["config.json", *json_files, "model.keras"])
    return load_model(model_dir), config, extras


def check_settings(saved, config_class, path):
    """A UserError naming the first setting of config_class that `saved` lacks or holds with the wrong type."""
    hints = typing.get_type_hints(config_class)
    for field in dataclasses.fields(config_class):
        if field.name not in saved:
            raise UserError(f"{path}: no setting {field.name!r} (the file was edited or is from another "
                            "version); restore it or train again")
        kind, value = hints[field.name], saved[field.name]
        fits = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if not (fits or (kind is float and isinstance(value, int) and not isinstance(value, bool))):
            raise UserError(f"{path}: setting {field.name!r} is {value!r}, expected {kind.__name__}; "
                            "restore the file or train again")


def inference_copy(trained):
    """An uncompiled copy of `trained` with its weights: what a saved model needs (no Adam moments,
    which would triple the file); clone_model would copy the compile settings too."""
    import keras  # here, not at the top: an inference command's --help answers before Keras loads

    copy = keras.Model.from_config(trained.get_config())
    copy.set_weights(trained.get_weights())
    return copy


def compiled(network, signature):
    """`network(inputs)` in inference mode, traced once into a graph on TensorFlow (a plain call elsewhere).

    signature: one (shape, dtype) per input, None for a free dimension. A direct call, not
    model.predict (which builds a dataset and a loop per call); the graph spares Keras's eager
    per-layer overhead, which dominates a one-step call (make bench: textgen's generate cases).
    """
    import keras

    def call(*inputs):
        return network(list(inputs) if len(inputs) > 1 else inputs[0], training=False)
    if keras.config.backend() != "tensorflow":
        return call
    import tensorflow as tf
    return tf.function(call, input_signature=[tf.TensorSpec(shape, dtype) for shape, dtype in signature])


def state_count(cell):
    """Recurrent state tensors a layer of `cell` carries: LSTM (h, c), GRU and SimpleRNN only h."""
    return 2 if cell == "lstm" else 1


def known_words(vectorizer, texts):
    """(known, read): (texts,) int arrays, how many of the words a model reads of each text (its
    TextVectorization's output, up to its output_sequence_length) are in its vocabulary, and how many
    it reads. A text in another script, of emoji or control characters only, reads 0 known words: its
    score is the model's answer to unknown-word markers or to an empty text, not a reading of it."""
    import keras
    import numpy as np
    import tensorflow as tf  # the vectorizer's string ops are TensorFlow's on every backend

    ids = np.concatenate([keras.ops.convert_to_numpy(vectorizer(tf.constant(texts[begin: begin + 1024], tf.string)))
                          for begin in range(0, len(texts), 1024)])  # (texts, max_words), 0 padding, 1 unknown
    return (ids > 1).sum(axis=1), (ids > 0).sum(axis=1)


def unknown_note(name, known, read):
    """The stderr line for a text of which the model knows no word (None when it knows one)."""
    if known:
        return None
    if not read:
        return (f"note: {name}: no word of it is left after the model's text standardising (another script, "
                "emoji, symbols or control characters only): its score is the model's score of an empty text, "
                "not a reading of it")
    return (f"note: {name}: no word of it is in the model's vocabulary ({read} read; another language or "
            "script?): its score is the model's answer to unknown words, not a reading of the text")


# Never printed as they are: control characters (NUL, escape sequences, tabs and line breaks, which would
# also split an output line), line and paragraph separators, and the marks that reorder a line's display.
UNPRINTABLE = {"Cc", "Zl", "Zp"}
REORDERING = set("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c")


def printable(text, width=None):
    """`text` safe to echo on a terminal, on one line: unprintable characters as Python escapes
    (\\x00, \\t, \\u202e); cut to `width` characters, "..." last, when longer."""
    shown = "".join(char.encode("unicode_escape").decode("ascii") if unicodedata.category(char) in UNPRINTABLE
                    or char in REORDERING else char for char in text)
    if width is not None and len(shown) > width:
        shown = shown[: width - 3] + "..."
    return shown
