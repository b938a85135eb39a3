"""Text-generation speed: this recipe beside TensorFlow's "Text generation with an RNN" tutorial settings.

Training counts characters per second on tiny Shakespeare: the recipe's defaults against the
tutorial's GRU(1024), embedding 256, batch 64, no dropout (TUTORIAL, every setting written out),
both on windows of 100.
Generation counts new characters per second with the state carried from step to step against
re-running the model over everything so far for each character (what a plain `predict` loop does).
Time to target: training minutes until the validation tail's loss falls to TARGET nats per
character, each configuration with its own learning rate (the tutorial's: Adam defaults), checked
every CHECK_SECONDS of training, the same for both.
Equal time (`equal_time`, `equal_time_transformer`): the recipe's GRU beside a small character
transformer (benchmarks/char_transformer.py), each trained once for BUDGET_MINUTES under a cosine
that ends there, scored at CHECKPOINT_MINUTES on the recipe's validation and test tails
(benchmarks/equal_time.py). Full size: 30 minutes of training each, about 61 minutes for both (2026-12-06).
"""
import keras
import numpy as np

from benchmarks import equal_time
from benchmarks.char_transformer import TransformerSettings
from benchmarks.harness import checked_batches, train_throughput, train_to_target
from recipes.textgen import data, generate, model, speed
from recipes.textgen.train import Config
from shared.run import compile_from_config

STEPS = {"full": 15, "small": 2}  # measured steps per case, after 3 warm-up steps
TARGET = 2.2  # validation nats per character (unigram baseline 3.35; 20 minutes of the recipe: 1.52)
CAP_MINUTES = {"full": 4.0, "small": 0.05}  # training time after which a configuration counts as not there
# Seconds of training between two validation checks: at least 10 checks before the recipe's crossing
# (after 1.2-1.6 min here); train_to_target repeats a run with closer checks where there were fewer.
CHECK_SECONDS = {"full": 6.0, "small": 0.5}
# TensorFlow's "Text generation with an RNN" (tensorflow.org/text/tutorials/text_generation): seq_length
# 100, BATCH_SIZE 64, embedding_dim 256, rnn_units 1024, one GRU, no dropout, compile(optimizer="adam"),
# so Adam at 1e-3, constant, no clipping. Every setting the model and its training read is written out:
# none comes from the recipe's Config, whose defaults change (its dropout became 0.2).
TUTORIAL = {"cell": "gru", "layers": 1, "units": 1024, "embedding_dim": 256, "seq_len": 100, "batch_size": 64,
            "dropout": 0.0, "lr": 1e-3, "clipnorm": 0.0, "lr_schedule": "constant", "mixed_precision": False,
            "carry_state": False}  # the tutorial shuffles its windows, each read from a zero state
# Config fields neither side's model nor training reads here: the text and its split (the recipe's, the
# same for both sides), and the run's length and outputs (train_to_target runs by time).
NOT_MODEL_SETTINGS = {"corpus", "text", "encoding", "val_fraction", "test_fraction", "minutes", "epochs",
                      "patience", "seed", "strategy", "out", "smoke"}


def recipe_config():
    """The recipe's defaults, at a constant rate: these cases time steps, and the cosine spans a whole run."""
    return Config(lr_schedule="constant")


def tutorial_config():
    """TUTORIAL as the recipe's Config, every field the model and its training read set here."""
    return Config(**TUTORIAL)


def _describe(config):
    return (f"{config.cell.upper()}({config.units})" + (f" x{config.layers}" if config.layers > 1 else "")
            + f", embedding {config.embedding_dim}, dropout {config.dropout:g}, batch {config.batch_size}, "
              f"windows of {config.seq_len}, Adam {config.lr:g}, clipnorm {config.clipnorm:g}")


def _shakespeare():
    corpus_text, _ = data.load_text("", "tinyshakespeare", "utf-8")
    vocab = data.vocabulary(corpus_text)
    return data.encode(corpus_text, vocab), vocab


def _train_case(size, config, who):
    what = f"{who}: {_describe(config)}"
    keras.utils.set_random_seed(0)
    ids, vocab = _shakespeare()
    batches = [(np.asarray(x), np.asarray(y)) for x, y in
               data.batches(ids, config.seq_len, config.batch_size, shuffle_seed=0).take(3 + STEPS[size])]
    lm = model.build_language_model(config, len(vocab))
    compile_from_config(lm, config, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return {"what": what, "unit": "chars", **train_throughput(lm, batches, count=lambda batch: batch[0].size)}


def _to_target(size, config, who, label):
    """Minutes of training until the validation tail's loss is at most TARGET (or CAP_MINUTES pass)."""
    what = f"{who}: {_describe(config)}"
    keras.utils.set_random_seed(0)
    text, _ = data.load_text("", "tinyshakespeare", "utf-8")
    split = Config()  # the recipe's split of the text, the same for both sides
    corpus = data.split(text, split.val_fraction, config.seq_len, test_fraction=split.test_fraction)
    vocab = data.vocabulary(corpus.train)
    train_ids, val_ids = data.encode(corpus.train, vocab), data.encode(corpus.val, vocab)
    val_batches = checked_batches(data.batches(val_ids, config.seq_len, config.batch_size), size)

    def build():
        keras.utils.set_random_seed(0)
        lm = model.build_language_model(config, len(vocab))
        compile_from_config(lm, config, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return lm

    result = train_to_target(
        build, data.batches(train_ids, config.seq_len, config.batch_size, shuffle_seed=0),
        score=lambda trained: trained.evaluate(val_batches, verbose=0, return_dict=True)["loss"],
        target=TARGET, check_seconds=CHECK_SECONDS[size], cap_minutes=CAP_MINUTES[size])
    return {"what": f"{what}: validation loss {result['score']:.3f} nats/char (target {TARGET})",
            "unit": "minutes", **result, "label": label, "target_text": f"validation loss {TARGET} nats/char",
            "best": f"{result['best_score']:.3f}"}


def _generate_case(size, carried):
    config = Config()
    keras.utils.set_random_seed(0)
    _, vocab = _shakespeare()
    trained = model.build_language_model(config, len(vocab))  # untrained: the same work per character
    generator = generate.Generator(trained, vocab, config.cell, config.units, config.layers)
    length = 200 if size == "full" else 20
    row = speed.measure(generator, trained, "ROMEO:", length)
    key = "carried" if carried else "window"
    return {"what": f"{length} new characters, " + ("state carried" if carried else "re-running the whole text"),
            "unit": "chars", "per_second": row[f"{key}_chars_per_second"]}

# Equal time: minutes of training each model gets (its cosine ends there) and when both tails are scored.
BUDGET_MINUTES = {"full": 30.0, "small": 0.2}
CHECKPOINT_MINUTES = {"full": (5.0, 10.0, 20.0, 30.0), "small": (0.05, 0.1, 0.2)}
GENERATE_CHARS = {"full": 500, "small": 20}
# The transformer's size for 2 CPU cores, chosen by a short validation-only check (BENCHMARKS.md: context 64
# and batch 64 beat context 128 and batch 32 at the same characters a step; width 192 halved the steps).
TRANSFORMER = TransformerSettings(context=64, width=128, layers=4, heads=4, dropout=0.0, batch_size=64, lr=1e-3,
                                  clipnorm=1.0)


def _equal_time(size, transformer):
    """One model trained for BUDGET_MINUTES on tiny Shakespeare's training part, scored at each checkpoint."""
    text, _ = data.load_text("", "tinyshakespeare", "utf-8")
    if transformer:
        _, row = equal_time.run_transformer(text, TRANSFORMER, BUDGET_MINUTES[size], CHECKPOINT_MINUTES[size],
                                            GENERATE_CHARS[size])
    else:  # the recipe's defaults, carry_state included; its cosine spans the budget here instead of its 22 epochs
        _, row = equal_time.run_rnn(text, Config(), BUDGET_MINUTES[size], CHECKPOINT_MINUTES[size],
                                    GENERATE_CHARS[size])
    return row


CASES = {
    "train": lambda size: _train_case(size, recipe_config(), "recipe"),
    "train_tutorial": lambda size: _train_case(size, tutorial_config(), "TF tutorial"),
    "generate": lambda size: _generate_case(size, carried=True),
    "generate_rerun": lambda size: _generate_case(size, carried=False),
    "target": lambda size: _to_target(size, recipe_config(), "recipe", "the recipe"),
    "target_tutorial": lambda size: _to_target(size, tutorial_config(), "TF tutorial", "the TF tutorial"),
    "equal_time": lambda size: _equal_time(size, transformer=False),
    "equal_time_transformer": lambda size: _equal_time(size, transformer=True),
}
COMPARE = [
    ("train", "train_tutorial", "training chars/s, recipe / TF tutorial"),
    ("generate", "generate_rerun", "generation chars/s, state carried / re-running the text"),
    ("target", "target_tutorial", f"minutes to validation loss {TARGET} nats/char, TF tutorial / recipe"),
    ("equal_time_transformer", "equal_time", "training chars/s at equal time, transformer / recipe"),
]
