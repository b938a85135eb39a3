"""The settings of a run: one dataclass, the command line derived from it, saved beside the model."""
import dataclasses

from shared.run import TrainConfig, option


@dataclasses.dataclass
class Config(TrainConfig):
    data: str = option("", "a CSV with a header (20%% of each class held out for test, by seed), or a folder "
                           "with train.csv and test.csv (default: IMDB's reviews, columns review,sentiment)")
    text_column: str = option("text", "the CSV column holding the text")
    label_column: str = option("label", "the CSV column holding the class name (any strings)")
    cell: str = option("gru", "recurrent cell", choices=("rnn", "lstm", "gru"))
    bidirectional: bool = option(True, "read each text in both directions")
    units: int = option(32, "units per recurrent layer (per direction)", bounds="[1, inf)")
    layers: int = option(1, "stacked recurrent layers", bounds="[1, inf)")
    embedding_dim: int = option(64, "size of each word vector", bounds="[1, inf)")
    dropout: float = option(0.3, "dropout on each layer's inputs", bounds="[0, 1)")
    max_tokens: int = option(20000, "vocabulary size, from training text only", bounds="[3, inf)")
    max_words: int = option(300, "words kept from the start of each text", bounds="[1, inf)")
    val_fraction: float = option(0.1, "share of the training split held out for validation", bounds="(0, 1)")
    # Until validation stops improving: 3 epochs left a 5-class set of 700 texts at chance (RESULTS.md).
    epochs: int = option(20, "maximum passes over the training data", bounds="[1, inf)")
    batch_size: int = option(32, "texts per batch (per device)", bounds="[1, inf)")
    lr_schedule: str = option("cosine", "learning rate: constant, or cosine decay to 0 over all epochs",
                              choices=("constant", "cosine"))
    patience: int = option(3, "stop after this many epochs without a lower validation loss", bounds="[1, inf)")


SMOKE_CAPS = {"epochs": 2, "max_words": 64}  # --smoke: these settings capped ...
SMOKE_TEXTS = {"train": 1000, "test": 400}  # ... and at most this many texts of each split
