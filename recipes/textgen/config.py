"""The recipe's settings: `Config` (real text) and `HomeConfig` (the `home` command's defaults).

Their own module, importing nothing of the recipe, so training (`train.py`) and inference
(`generate.py`, which checks a saved run's config.json against `Config`) both import it and
neither imports the other.
"""
import dataclasses

from shared.run import TrainConfig, option

CORPORA = {"tinyshakespeare": ("text/tinyshakespeare.txt", "tiny_shakespeare")}  # (RECIPES_DATA_DIR file, tfds name)
DEFAULT_CORPUS = "tinyshakespeare"
VAL_FRACTION = 0.05  # the validation part, just before the test tail: picks the best epoch and the n-gram order
TEST_FRACTION = 0.05  # the test tail, the text's last part: scored once, with the chosen model


@dataclasses.dataclass
class Config(TrainConfig):
    corpus: str = option("", "a known corpus (RECIPES_DATA_DIR, else downloaded); without --text: "
                             f"{DEFAULT_CORPUS}", choices=tuple(CORPORA))
    text: str = option("", "a UTF-8 text file to learn instead of a corpus")
    encoding: str = option("utf-8", "encoding of the --text file")
    cell: str = option("gru", "recurrent cell", choices=("rnn", "lstm", "gru"))
    units: int = option(512, "units per recurrent layer", bounds="[1, inf)")
    layers: int = option(1, "stacked recurrent layers", bounds="[1, inf)")
    embedding_dim: int = option(64, "size of each character vector", bounds="[1, inf)")
    seq_len: int = option(100, "characters per training window (backpropagation through time)", bounds="[1, inf)")
    carry_state: bool = option(False, "carried-state training: the text cut into --batch-size streams read in "
                                      "order, each window starting from the state the one before it ended in "
                                      "(reset each epoch); validation then carries the state through the text "
                                      "too and picks the best epoch by that")
    dropout: float = option(0.2, "dropout on each layer's inputs (the embedding's output first) and on the "
                                 "output", bounds="[0, 1)")
    val_fraction: float = option(VAL_FRACTION, "part of the text just before the test tail, held out for "
                                 "validation: it picks the best epoch and the n-gram's order", bounds="(0, 1)")
    test_fraction: float = option(TEST_FRACTION, "the text's last part, held out as the test tail: "
                                  "scored once, after training, with the best epoch's weights", bounds="(0, 1)")
    minutes: float = option(0.0, "stop training after this many minutes, validation passes included: a cap "
                                 "only, the learning rate follows the steps (0: no limit)", bounds="[0, inf)")
    epochs: int = option(19, "passes over the training text; the cosine schedule spans them all", bounds="[1, inf)")
    batch_size: int = option(64, "windows per batch", bounds="[1, inf)")
    lr: float = option(3e-3, "Adam learning rate (the peak, with --lr-schedule cosine)", bounds="(0, inf)")
    lr_schedule: str = option("cosine", "learning rate by step: cosine decay to 0 over all --epochs, or constant",
                              choices=("cosine", "constant"))
    patience: int = option(3, "stop after this many epochs without a lower validation loss", bounds="[1, inf)")


@dataclasses.dataclass
class HomeConfig(Config):
    """The HOME example's settings: a SimpleRNN of 8 units that learns the word in 4 epochs."""

    corpus: str = option("home", 'the built-in word "HOME" (no tail to hold out: validation is the word itself)',
                         choices=("home",))
    cell: str = option("rnn", "recurrent cell", choices=("rnn", "lstm", "gru"))
    units: int = option(8, "units per recurrent layer", bounds="[1, inf)")
    embedding_dim: int = option(4, "size of each character vector", bounds="[1, inf)")
    seq_len: int = option(3, "characters per training window (backpropagation through time)", bounds="[1, inf)")
    epochs: int = option(4, "maximum passes over the word", bounds="[1, inf)")
    batch_size: int = option(1, "windows per batch", bounds="[1, inf)")
    lr: float = option(0.05, "Adam learning rate", bounds="(0, inf)")
    patience: int = option(4, "stop after this many epochs without a lower validation loss", bounds="[1, inf)")
    lr_schedule: str = option("constant", "learning rate by step: cosine decay to 0 over all --epochs, or constant",
                              choices=("cosine", "constant"))
    layers: int = option(1, "stacked recurrent layers", bounds="[1, inf)")
    dropout: float = option(0.0, "dropout on each layer's inputs and on the output", bounds="[0, 1)")
