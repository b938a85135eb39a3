"""Train a character-level language model on tiny Shakespeare or any text, or (`home`) on the word HOME.

The `home` command is the classic teaching example: a SimpleRNN that learns
to spell "HOME" in seconds; its --help shows its settings.
"""
import json

import numpy as np

from shared.errors import UserError
from shared.report import print_comparison
from shared.run import TrainingRun

from . import baseline, data
from .config import DEFAULT_CORPUS, Config, HomeConfig

RECIPE = __name__.split(".")[-2]  # the folder's name, so a copied recipe is its own recipe
SMOKE = {"chars": 20_000}  # a --smoke run's text
SMOKE_CAPS = {"epochs": 2}  # and epochs


def show_home(generator, prompt="H"):
    """The teaching example's printout: each step's probabilities and the greedy choice."""
    from . import generate  # loads Keras

    vocab = generator.vocab
    chosen, steps = generate.greedy_steps(generator, prompt, len(data.HOME) - len(prompt))
    print(f'\nfed "{prompt}", the network gives at each step (greedy picks the most likely):')
    for context, probabilities in steps:
        row = "  ".join(f"{char} {p:.3f}" for char, p in zip(vocab, probabilities))
        print(f'  after {context!r:<7} {row}  -> {vocab[int(np.argmax(probabilities))]}')
    print(f"generated: {chosen}")
    return chosen, steps


def train(run):
    """Train (validation picks the best epoch), save, then score the test tail once; returns the metrics."""
    # Imported here, not at the top: they load Keras, and --help and option errors answer before it loads.
    import keras

    from . import generate, model

    config = run.config
    if config.minutes and config.lr_schedule == "constant":
        # shared's time budget would lower a constant rate over the last 30% of the minutes: what a step
        # does would then depend on the machine's speed.
        raise UserError("--minutes with --lr-schedule constant would lower the rate by the clock; use "
                        "--lr-schedule cosine (the rate follows the steps) or leave --minutes out")
    home = config.corpus == "home"
    corpus_name = config.corpus or ("" if config.text else DEFAULT_CORPUS)
    text, source = data.load_text(config.text, corpus_name, config.encoding)
    if config.smoke:
        text = text[: SMOKE["chars"]]
    corpus = data.split(text, config.val_fraction, config.seq_len, holdout=not home,
                        test_fraction=config.test_fraction)
    data.check_variety(corpus.train)
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

    min_batches = 1 if config.smoke else data.MIN_BATCHES
    if config.carry_state:
        from . import carried

        if run.strategy.num_replicas_in_sync > 1:
            raise UserError("--carry-state trains on one device: its streams are rows of one batch; "
                            "leave --strategy at auto on a machine with one GPU, or drop --carry-state")
        train_batches = carried.batches(train_ids, config.seq_len, run.batch_size, min_batches)
        steps_per_epoch, period = carried.batch_count(train_ids, config.seq_len, run.batch_size, min_batches)
        print(f"  carried state: {run.batch_size} streams of {(len(train_ids) - 1) // run.batch_size:,} characters "
              f"read in order, {period} windows each; the state is zeroed every {period} batches "
              f"({steps_per_epoch} per epoch)")
    else:
        train_batches = data.batches(train_ids, config.seq_len, run.batch_size, shuffle_seed=config.seed,
                                     min_batches=min_batches)
        steps_per_epoch = data.batch_count(train_ids, config.seq_len, run.batch_size, shuffled=True,
                                           min_batches=min_batches)
    val_batches = data.batches(val_ids, config.seq_len, run.batch_size)
    inputs, targets = next(iter(val_batches))
    print(f"  batches of {tuple(inputs.shape)} character ids -> {tuple(targets.shape)} next characters")
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with run.scope():
        lm = model.build_language_model(config, len(vocab),
                                        stateful_batch=run.batch_size if config.carry_state else None)
        run.compile(lm, loss=loss, steps_per_epoch=steps_per_epoch)
    lm.summary(print_fn=lambda line, **_: print("  " + line))
    if config.carry_state:
        # Validation carries the state too (it picks the epoch); the saved model starts from zero at any batch size.
        run.fit(lm, train_batches, None, budget_minutes=config.minutes, callbacks=[carried.ResetStates(period)],
                validator=carried.Validation(lm, val_ids, config.cell, config.units, config.layers,
                                             config.seq_len, run.batch_size))
        lm = model.stateless_copy(lm, config, len(vocab))
    else:
        run.fit(lm, train_batches, val_batches, budget_minutes=config.minutes)
    # The vocabulary and the first character (the default prompt) go with the model, before any scoring
    # or sampling: a crash after training must not lose the trained weights.
    run.save(lm, {"vocab.json": json.dumps({"vocabulary": vocab, "start": corpus.train[0]}, indent=1) + "\n"})
    if config.carry_state:
        lm.compile(loss=loss)  # the stateless copy: evaluate scores its windows as below

    # The best epoch's weights, reloaded by fit. Validation chose them; the test tail is scored once, here.
    # "validation" and "test": windows of seq_len, each from a zero state, as every run has been scored.
    scores = {"validation": baseline.per_char(float(lm.evaluate(val_batches, verbose=0)))}
    if not home:
        test_batches = data.batches(test_ids, config.seq_len, run.batch_size)
        scores["test"] = baseline.per_char(float(lm.evaluate(test_batches, verbose=0)))
    baselines = baseline.score_baselines(train_ids, val_ids, None if home else test_ids, len(vocab), config.seq_len)
    for part, size in (("validation", len(corpus.val)), ("test", len(corpus.test))):
        if part in scores:
            print_comparison(f"{part} ({size:,} characters)", scores[part],
                             {base["label"]: base[part] for base in baselines.values()})
    metrics = {
        "data": source, "vocabulary_size": len(vocab),
        "sizes": {"train": len(corpus.train), "validation": len(corpus.val), "validation_dropped": corpus.dropped,
                  "test": len(corpus.test), "test_dropped": corpus.test_dropped},
        **scores, "baselines": baselines,
        "best_epoch_by": "validation loss, " + ("carried" if config.carry_state else "windowed"),
    }
    generator = generate.Generator(lm, vocab, config.cell, config.units, config.layers)
    if config.carry_state or not home:
        from . import carried

        # The same model scored with the state carried through the text, beside the baselines on the same characters.
        metrics["carried"] = carried.score(generator.step, train_ids, val_ids, None if home else test_ids,
                                           len(vocab), config.seq_len)
    if home:
        chosen, steps = show_home(generator)
        metrics["home"] = {"generated": chosen, "steps": [[context, list(map(float, p))] for context, p in steps]}
    else:
        print("\nsample (temperature 0.8):")
        generate.stream(generator, corpus.train[0], 300, 0.8, seed=config.seed)
    return run.finish(metrics)


def main(argv=None):
    return TrainingRun.main(Config, argv, train, recipe=RECIPE, description=__doc__, smoke=SMOKE_CAPS)


def home(argv=None):
    """The `home` command: the HOME example, with HomeConfig's settings as defaults."""
    return TrainingRun.main(HomeConfig, argv, train, recipe=RECIPE, description=HomeConfig.__doc__,
                            smoke=SMOKE_CAPS, command="home")
