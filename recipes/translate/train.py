"""Train the Spanish -> English translator, evaluate it once on the test split (BLEU, chrF), save what translating needs."""
import dataclasses
import json
import time

import keras

from shared.artifacts import ensure_writable, publish
from shared.config import TrainConfig, option, parse, to_json
from shared.device import is_chief
from shared.errors import UserError, reported
from shared.report import metrics_json, plot_curves, training_facts
from shared.training import (
    check_resumable,
    compile_model,
    evaluate,
    fit,
    setup,
)

from . import data, model, scoring
from .translate import Translator

RECIPE = __name__.split(".")[-2]  # the folder's name, so a copied recipe is its own recipe
SMOKE = {"train": 2000, "val": 200, "test": 200, "epochs": 2}  # a --smoke run's limits


@dataclasses.dataclass
class Config(TrainConfig):
    data: str = option("", "a UTF-8 file of English<TAB>Spanish lines (default: spa-eng/spa.txt)")
    cell: str = option("gru", "recurrent cell of encoder and decoder", choices=("rnn", "lstm", "gru"))
    units: int = option(192, "units per recurrent layer (the encoder has this many per direction)",
                        bounds="[1, inf)")
    embedding_dim: int = option(128, "size of each word vector", bounds="[1, inf)")
    layers: int = option(1, "stacked recurrent layers in encoder and in decoder", bounds="[1, inf)")
    attention: str = option("additive", "attention over the encoder outputs", choices=("none", "additive", "dot"))
    max_tokens: int = option(10000, "vocabulary size of each language, from training text only", bounds="[5, inf)")
    max_len: int = option(25, "longest sentence in tokens: longer pairs are left out, longer input refused",
                          bounds="[1, inf)")
    dropout: float = option(0.2, "dropout on recurrent inputs and before the softmax", bounds="[0, 1)")
    val_fraction: float = option(0.03, "share of the pairs held out for validation (in whole groups of pairs "
                                       "linked by a shared English or Spanish sentence)", bounds="(0, 1)")
    test_fraction: float = option(0.05, "share of the pairs held out for the test (in whole groups of pairs "
                                        "linked by a shared English or Spanish sentence)", bounds="(0, 1)")
    beam_size: int = option(4, "beam width for the beam-search BLEU at the end (1: greedy only)", bounds="[1, inf)")
    minutes: float = option(40.0, "stop training after this many minutes, the last 30%% with a falling "
                                  "learning rate (0: no limit)", bounds="[0, inf)")
    epochs: int = option(10, "maximum passes over the training data (--minutes usually ends training first)",
                         bounds="[1, inf)")
    batch_size: int = option(128, "sentence pairs per batch", bounds="[1, inf)")
    lr: float = option(2e-3, "Adam learning rate", bounds="(0, inf)")


def compile_translator(translator, config, steps_per_epoch=None):
    """Cross-entropy from the logits, with data.batches' weights: the reported loss is per English target token."""
    compile_model(translator, config, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  steps_per_epoch=steps_per_epoch)


def inference_copy(translator_model):
    """An uncompiled copy with the same weights: the trained one carries Adam's moments."""
    copy = keras.Model.from_config(translator_model.get_config())
    copy.set_weights(translator_model.get_weights())
    return copy


def run(config):
    """Train and evaluate; returns the metrics written to OUT/metrics.json."""
    if config.smoke:
        config.epochs = min(config.epochs, SMOKE["epochs"])
    config_json = to_json(config, RECIPE)
    check_resumable(config.out, config_json)
    pairs, source = data.load_pairs(config.data)
    pairs, dropped = data.drop_long(pairs, config.max_len)
    if len(pairs) < 3:
        raise UserError(f"{source}: {len(pairs)} pairs of at most --max-len {config.max_len} tokens; need 3 or more")
    ensure_writable(config.out)
    strategy = setup(config)
    train, val, test = data.split(pairs, config.val_fraction, config.test_fraction, config.seed)
    if config.smoke:
        train, val, test = (part.subset(range(min(len(part), SMOKE[name])))
                            for part, name in ((train, "train"), (val, "val"), (test, "test")))
    if not (len(train) and len(val) and len(test)):
        raise UserError(f"{source}: too few pairs for training, validation and test splits")
    print(f"data: {source}" + ("  [smoke: a small slice, not a real result]" if config.smoke else ""))
    print(f"  {dropped:,} pairs longer than --max-len {config.max_len} tokens on either side left out")
    for name, part in (("train", train), ("validation", val), ("test", test)):
        print("  " + data.describe(name, part))
    overlap = {"test": data.overlap(train, test), "validation": data.overlap(train, val)}
    print(f"  pairs whose English or Spanish sentence is also in training: test {overlap['test']}, "
          f"validation {overlap['validation']}")

    source_vocab = data.Vocabulary.fit(train.spanish, config.max_tokens)
    target_vocab = data.Vocabulary.fit(train.english, config.max_tokens)
    truecase = data.fit_truecase(train.english)
    batch = config.batch_size * strategy.num_replicas_in_sync
    train_batches = data.batches(*data.encode_pairs(train, source_vocab, target_vocab), batch,
                                 shuffle_seed=config.seed)
    val_batches = data.batches(*data.encode_pairs(val, source_vocab, target_vocab), batch)
    (sources, previous), _, _ = next(iter(val_batches))
    print(f"  vocabularies from the training split: Spanish {len(source_vocab):,}, English {len(target_vocab):,} "
          f"tokens; batches of {batch} pairs grouped by length, e.g. source {tuple(sources.shape)}, "
          f"target {tuple(previous.shape)}")
    with strategy.scope():
        translator = model.build_translator(config, len(source_vocab), len(target_vocab))
        steps = int(train_batches.reduce(0, lambda count, _: count + 1))
        compile_translator(translator, config, steps_per_epoch=steps)
    translator.summary(print_fn=lambda line, **_: print("  " + line))
    history = fit(translator, train_batches, val_batches, config, config.out, config_json=config_json,
                  budget_seconds=config.minutes * 60)

    # The test split is touched here, once, with the best epoch's weights.
    saved_model = inference_copy(translator)
    started = time.perf_counter()
    test_loss = evaluate(translator, data.batches(*data.encode_pairs(test, source_vocab, target_vocab), batch))
    vocabularies = {"spanish": source_vocab.tokens, "english": target_vocab.tokens, "truecase": truecase}
    chief = is_chief(strategy)  # multiworker: one model, written by the chief
    if chief:  # first the trained model and what translating needs, so a failure while scoring loses nothing
        test_tsv = "".join(f"{en}\t{es}\n" for en, es in zip(test.english, test.spanish))
        publish(config.out, {"config.json": config_json,
                             "vocab.json": json.dumps(vocabularies, ensure_ascii=False) + "\n",
                             "test.tsv": test_tsv, "curves.png": plot_curves(history["epochs"], ("loss",))},
                model=saved_model, stale=("metrics.json",))  # an earlier run's figures: another model's
        print(f"\nsaved model, vocabularies, config, test split and curves in {config.out}/")
    engine = Translator(saved_model, config, vocabularies)
    report = scoring.evaluate(engine, test, config.beam_size, speed_sentences=200 if config.smoke else 1000)
    report["test"]["loss"] = float(test_loss["loss"])  # mean cross-entropy per English target token
    scoring.print_report(report)
    metrics = {
        "recipe": RECIPE, "smoke": config.smoke, "data": source, "dropped_long_pairs": dropped,
        "sizes": {"train": len(train), "validation": len(val), "test": len(test)},
        "overlap_with_train": overlap,
        "vocabulary": {"spanish": len(source_vocab), "english": len(target_vocab)},
        **report, "test_seconds": time.perf_counter() - started, **training_facts(history),
    }
    if not chief:
        print("\nfinished; the chief worker saves the model")
        return metrics
    publish(config.out, {"metrics.json": metrics_json(metrics)})
    print(f"saved the metrics in {config.out}/metrics.json ({metrics['train_seconds'] / 60:.1f} min of training)")
    return metrics


def main(argv=None):
    prog = f"python -m recipes.{RECIPE}"
    with reported(prog):
        config = parse(Config, argv, recipe=RECIPE, description=__doc__,
                       epilog=f'then: {prog} translate --model OUT "¿Todavía está en casa?"')
        return run(config)
