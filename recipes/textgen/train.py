"""Train a character-level language model: the "HOME" word by default, or any text / tiny Shakespeare.

Without --text or --corpus, every option not given takes the HOME example's value
(SimpleRNN, 8 units, embedding 4, seq-len 3, batch 1, lr 0.05, 4 epochs); the
defaults shown below are for real text.
"""
import dataclasses
import json
import math
import sys
import time

import keras
import numpy as np

from shared.artifacts import ensure_writable, publish
from shared.config import TrainConfig, option, parse, to_json
from shared.device import is_chief
from shared.errors import reported
from shared.report import metrics_json, plot_curves, print_comparison, training_facts
from shared.training import check_resumable, compile_model, fit, setup

from . import data, generate, model, ngram

RECIPE = __name__.split(".")[-2]  # the folder's name, so a copied recipe is its own recipe
SMOKE = {"chars": 20_000, "epochs": 2}  # a --smoke run's limits
# Without --text/--corpus: the classic teaching example, a SimpleRNN that learns "HOME" in seconds.
# These replace the defaults below for every option not given on the command line.
HOME_SETTINGS = {"cell": "rnn", "units": 8, "layers": 1, "embedding_dim": 4, "seq_len": 3, "dropout": 0.0,
                 "epochs": 4, "batch_size": 1, "lr": 0.05, "patience": 4}


@dataclasses.dataclass
class Config(TrainConfig):
    text: str = option("", "a UTF-8 text file to learn (default: the built-in word HOME)")
    corpus: str = option("", "a known corpus instead of --text (RECIPES_DATA_DIR or downloaded)",
                         choices=tuple(data.CORPORA))
    encoding: str = option("utf-8", "encoding of the --text file")
    cell: str = option("gru", "recurrent cell", choices=("rnn", "lstm", "gru"))
    units: int = option(512, "units per recurrent layer", bounds="[1, inf)")
    layers: int = option(1, "stacked recurrent layers", bounds="[1, inf)")
    embedding_dim: int = option(64, "size of each character vector", bounds="[1, inf)")
    seq_len: int = option(100, "characters per training window (backpropagation through time)", bounds="[1, inf)")
    dropout: float = option(0.0, "dropout on each layer's inputs and on the output", bounds="[0, 1)")
    val_fraction: float = option(data.VAL_FRACTION, "part of the text just before the test tail, held out for "
                                 "validation: it picks the best epoch and the n-gram's order", bounds="(0, 1)")
    test_fraction: float = option(data.TEST_FRACTION, "the text's last part, held out as the test tail: "
                                  "scored once, after training, with the best epoch's weights", bounds="(0, 1)")
    minutes: float = option(0.0, "stop training after this many minutes, the last 30%% with a falling "
                                         "learning rate (0: no limit)", bounds="[0, inf)")
    epochs: int = option(20, "maximum passes over the training text", bounds="[1, inf)")
    batch_size: int = option(128, "windows per batch", bounds="[1, inf)")
    lr: float = option(3e-3, "Adam learning rate", bounds="(0, inf)")
    patience: int = option(3, "stop after this many epochs without a lower validation loss", bounds="[1, inf)")


def given_options(argv):
    """Names of the options spelled out on the command line (--seq-len 5 -> seq_len)."""
    return {arg[2:].split("=")[0].replace("-", "_").removeprefix("no_") for arg in argv if arg.startswith("--")}


def per_char(loss):
    """The same cross-entropy three ways: nats and bits per character, perplexity = exp(nats)."""
    return {"nats_per_char": loss, "bits_per_char": loss / math.log(2), "perplexity": math.exp(loss)}


def score_baselines(train_ids, val_ids, test_ids, vocab_size, seq_len):
    """Unigram and Kneser-Ney n-gram, counted on the training ids, scored on the model's targets.

    The n-gram's order is chosen on the validation ids alone (choose_order never sees the
    test ids); the test ids, when there are any, are scored once with that order.
    """
    val_positions = data.scored_positions(val_ids, seq_len)
    baselines = {"unigram": {"name": "unigram (training character frequencies)", "label": "unigram",
                             "validation": per_char(data.unigram_loss(train_ids, val_ids[val_positions], vocab_size))}}
    if test_ids is None:  # the HOME word: validation is the training word, nothing to choose an order on
        return baselines
    test_positions = data.scored_positions(test_ids, seq_len)
    baselines["unigram"]["test"] = per_char(data.unigram_loss(train_ids, test_ids[test_positions], vocab_size))
    started = time.perf_counter()
    counts, by_order = ngram.choose_order(train_ids, val_ids, val_positions, vocab_size)
    seconds = time.perf_counter() - started
    baselines["ngram"] = {
        "name": "interpolated Kneser-Ney character n-gram, order chosen on validation", "order": counts.order,
        "label": f"{counts.order}-gram KN", "validation": per_char(by_order[counts.order]),
        "test": per_char(counts.loss(test_ids, test_positions)),
        "validation_by_order": {str(n): loss for n, loss in by_order.items()},
        "seconds_to_count_and_choose": seconds}
    print(f"\n{counts.order}-gram Kneser-Ney baseline: order chosen on validation among 1..{counts.max_order} "
          f"in {seconds:.1f} s (" + ", ".join(f"{n}: {loss:.3f}" for n, loss in by_order.items()) + " nats/char)")
    return baselines


def show_home(generator, prompt="H"):
    """The teaching example's printout: each step's probabilities and the greedy choice."""
    vocab = generator.vocab
    chosen, steps = generate.greedy_steps(generator, prompt, len(data.HOME) - len(prompt))
    print(f'\nfed "{prompt}", the network gives at each step (greedy picks the most likely):')
    for context, probabilities in steps:
        row = "  ".join(f"{char} {p:.3f}" for char, p in zip(vocab, probabilities))
        print(f'  after {context!r:<7} {row}  -> {vocab[int(np.argmax(probabilities))]}')
    print(f"generated: {chosen}")
    return chosen, steps


def run(config, home):
    """Train (validation picks the best epoch), then score the test tail once; returns OUT/metrics.json's content."""
    if config.smoke:
        config.epochs = min(config.epochs, SMOKE["epochs"])
    config_json = to_json(config, RECIPE)
    check_resumable(config.out, config_json)
    text, source = data.load_text(config.text, config.corpus, config.encoding)
    if config.smoke:
        text = text[: SMOKE["chars"]]
    corpus = data.split(text, config.val_fraction, config.seq_len, holdout=not home,
                        test_fraction=config.test_fraction)
    ensure_writable(config.out)
    strategy = setup(config)
    vocab = data.vocabulary(corpus.train)
    train_ids, val_ids, test_ids = (data.encode(part, vocab) for part in (corpus.train, corpus.val, corpus.test))
    print(f"data: {source}" + ("  [smoke: a small slice, not a real result]" if config.smoke else ""))
    print(f"  vocabulary {len(vocab)} characters, from the training part")
    print("  " + data.describe("train", corpus.train, config.seq_len))
    print("  " + data.describe("validation", corpus.val, config.seq_len) +
          (" (the training word itself: HOME has no tail to hold out)" if home else
           f", {corpus.dropped} unseen characters dropped" if corpus.dropped else ""))
    if not home:
        print("  " + data.describe("test", corpus.test, config.seq_len) +
              (f", {corpus.test_dropped} unseen characters dropped" if corpus.test_dropped else ""))

    batch = config.batch_size * strategy.num_replicas_in_sync  # --batch-size is per device
    train_batches = data.batches(train_ids, config.seq_len, batch, shuffle_seed=config.seed,
                                 min_batches=1 if config.smoke else data.MIN_BATCHES)
    val_batches = data.batches(val_ids, config.seq_len, batch)
    inputs, targets = next(iter(val_batches))
    print(f"  batches of {tuple(inputs.shape)} character ids -> {tuple(targets.shape)} next characters")
    with strategy.scope():
        lm = model.build_language_model(config, len(vocab))
        compile_model(lm, config, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    lm.summary(print_fn=lambda line, **_: print("  " + line))
    history = fit(lm, train_batches, val_batches, config, config.out, config_json=config_json,
                  budget_seconds=config.minutes * 60)

    # The best epoch's weights, reloaded by fit. Validation chose them; the test tail is scored once, here.
    scores = {"validation": per_char(float(lm.evaluate(val_batches, verbose=0)))}
    if not home:
        scores["test"] = per_char(float(lm.evaluate(data.batches(test_ids, config.seq_len, batch), verbose=0)))
    baselines = score_baselines(train_ids, val_ids, None if home else test_ids, len(vocab), config.seq_len)
    for part, size in (("validation", len(corpus.val)), ("test", len(corpus.test))):
        if part in scores:
            print_comparison(f"{part} ({size:,} characters)", scores[part],
                             {baseline["label"]: baseline[part] for baseline in baselines.values()})
    metrics = {
        "recipe": RECIPE, "smoke": config.smoke, "data": source, "vocabulary_size": len(vocab),
        "sizes": {"train": len(corpus.train), "validation": len(corpus.val), "validation_dropped": corpus.dropped,
                  "test": len(corpus.test), "test_dropped": corpus.test_dropped},
        **scores, "baselines": baselines, **training_facts(history),
    }
    # The model, its settings and vocabulary are saved before anything else can fail (sampling
    # included): a crash after training must not lose the trained weights. Metrics follow last.
    # The vocabulary and the first character (the default prompt) go with the model.
    vocab_json = json.dumps({"vocabulary": vocab, "start": corpus.train[0]}, indent=1) + "\n"
    chief = is_chief(strategy)  # multiworker: one model, written by the chief
    if chief:  # an earlier run's metrics describe another model: gone once this one is in place
        publish(config.out, {"config.json": config_json, "vocab.json": vocab_json,
                             "curves.png": plot_curves(history["epochs"], ("loss",))}, model=lm, stale=("metrics.json",))
    generator = generate.Generator(lm, vocab, config.cell, config.units, config.layers)
    if home:
        chosen, steps = show_home(generator)
        metrics["home"] = {"generated": chosen, "steps": [[context, list(map(float, p))] for context, p in steps]}
    else:
        print("\nsample (temperature 0.8):")
        generate.stream(generator, corpus.train[0], 300, 0.8, seed=config.seed)
    if not chief:
        print("\nfinished; the chief worker saves the model")
        return metrics
    publish(config.out, {"metrics.json": metrics_json(metrics)})
    print(f"\nsaved model, vocabulary, config, metrics and curves in {config.out}/ "
          f"({metrics['train_seconds'] / 60:.1f} min of training)")
    return metrics


def main(argv=None):
    prog = f"python -m recipes.{RECIPE}"
    argv = sys.argv[1:] if argv is None else list(argv)
    with reported(prog):
        config = parse(Config, argv, recipe=RECIPE, description=__doc__,
                       epilog=f'then: {prog} generate --model OUT --prompt "ROMEO:" --length 500')
        home = not (config.text or config.corpus)
        if home:
            given = given_options(argv)
            for name, value in HOME_SETTINGS.items():
                if name not in given:
                    setattr(config, name, value)
        return run(config, home)
