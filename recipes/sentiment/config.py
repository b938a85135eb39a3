"""The recipe's settings: one dataclass, from which the command line is derived (`--help` lists them).

Imports nothing of the recipe, so training and inference (predict.py, export.py) can both read it.
"""
import dataclasses

from shared.run import TrainConfig, option

NGRAM_C_GRID = (4.0, 16.0, 64.0)  # --ngram-c 0 chooses among these on validation (the default, 16: README)


@dataclasses.dataclass
class Config(TrainConfig):
    data: str = option("", "CSV with review,sentiment columns, a folder with train.csv and test.csv, "
                           "or an aclImdb-style folder (default: IMDB)")
    cell: str = option("lstm", "recurrent cell", choices=("rnn", "lstm", "gru"))
    bidirectional: bool = option(True, "read each review in both directions")
    # One small layer by default: the README's ablation (validation accuracy) says what each setting gives.
    units: int = option(32, "units per recurrent layer (per direction)", bounds="[1, inf)")
    layers: int = option(1, "stacked recurrent layers", bounds="[1, inf)")
    pooling: str = option("mean", "summarise the review by the mean of all steps' outputs, or the last state",
                          choices=("mean", "last"))
    embedding_dim: int = option(64, "size of each word vector", bounds="[1, inf)")
    ngrams: bool = option(True, "add an n-gram branch: a logistic regression on word n-grams, fitted apart and "
                                "weighed against the network on validation reviews")
    ngram_order: int = option(2, "longest n-gram in the n-gram branch (1: words only)", bounds="[1, 5]")
    ngram_buckets: int = option(2 ** 20, "weights for each n-gram length from 2 (hashed into this many)",
                               bounds="[1, 67108864]")
    ngram_inputs: bool = option(True, "the network reads, beside each word's vector, the n-gram branch's weights of "
                                      "the word and of the word pair ending there (cross-fitted in training)")
    ngram_c: float = option(16.0, "the n-gram regression's inverse regularisation strength (0: the best of "
                                  f"{', '.join(map(str, NGRAM_C_GRID))} by the branch's own validation accuracy)",
                            bounds="[0, inf)")
    dropout: float = option(0.3, "dropout on each layer's inputs", bounds="[0, 1)")
    max_tokens: int = option(20000, "vocabulary size, from training text only", bounds="[3, inf)")
    max_words: int = option(600, "words kept from the start of each review", bounds="[1, inf)")
    val_fraction: float = option(0.1, "share of the training split held out for validation", bounds="(0, 1)")
    val_split: str = option("grouped", "hold out for validation whole groups of nearby reviews that share rare "
                                       "names (likely one movie: the test split's movies are new), or single "
                                       "reviews at random", choices=("grouped", "random"))
    epochs: int = option(2, "maximum passes over the training data", bounds="[1, inf)")
    # Batch 32, not the shared 128: four times the updates in the same two epochs (validation: README).
    batch_size: int = option(32, "reviews per batch (per device)", bounds="[1, inf)")
    lr_schedule: str = option("cosine", "learning rate: constant, or cosine decay to 0 over all epochs",
                              choices=("constant", "cosine"))
    patience: int = option(1, "stop after this many epochs without a lower validation loss", bounds="[1, inf)")
