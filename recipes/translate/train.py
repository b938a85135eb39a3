"""Train the Spanish -> English translator, evaluate it once on the test split (BLEU, chrF), save what translating needs."""
import json
import time

from shared.errors import UserError
from shared.inference import inference_copy
from shared.run import TrainingRun

from . import baseline, data, scoring
from .config import Config  # the settings, one field per option

RECIPE = __name__.split(".")[-2]  # the folder's name, so a copied recipe is its own recipe
SMOKE = {"train": 2000, "val": 200, "test": 200}  # a --smoke run's pairs
SMOKE_CAPS = {"epochs": 2}  # and epochs


def train(run):
    """Train, save what translating needs, then score the test split once; returns OUT/metrics.json's content."""
    # Imported here, not at the top: they load Keras, and --help and option errors answer before it loads.
    from . import model
    from .translator import Translator

    config = run.config
    pairs, source = data.load_pairs(config.data)
    pairs, dropped = data.drop_long(pairs, config.max_len)
    if len(pairs) < 3:
        raise UserError(f"{source}: {len(pairs)} pairs of at most --max-len {config.max_len} tokens; need 3 or more")
    train_part, val, test = data.split(pairs, config.val_fraction, config.test_fraction, config.seed)
    if config.smoke:
        train_part, val, test = (part.subset(range(min(len(part), SMOKE[name])))
                                 for part, name in ((train_part, "train"), (val, "val"), (test, "test")))
    if not (len(train_part) and len(val) and len(test)):
        raise UserError(f"{source}: too few pairs for training, validation and test splits")
    print(f"data: {source}" + ("  [smoke: a small slice, not a real result]" if config.smoke else ""))
    print(f"  {dropped:,} pairs longer than --max-len {config.max_len} tokens on either side left out")
    for name, part in (("train", train_part), ("validation", val), ("test", test)):
        print("  " + data.describe(name, part))
    overlap = {"test": data.overlap(train_part, test), "validation": data.overlap(train_part, val)}
    print(f"  pairs whose English or Spanish sentence is also in training: test {overlap['test']}, "
          f"validation {overlap['validation']}")

    source_vocab = data.Vocabulary.fit(train_part.spanish, config.max_tokens)
    target_vocab = data.Vocabulary.fit(train_part.english, config.max_tokens)
    truecase = data.fit_truecase(train_part.english)
    train_batches = data.batches(*data.encode_pairs(train_part, source_vocab, target_vocab), run.batch_size,
                                 shuffle_seed=config.seed)
    val_batches = data.batches(*data.encode_pairs(val, source_vocab, target_vocab), run.batch_size)
    (sources, previous), _, _ = next(iter(val_batches))
    print(f"  vocabularies from the training split: Spanish {len(source_vocab):,}, English {len(target_vocab):,} "
          f"tokens; batches of {run.batch_size} pairs grouped by length, e.g. source {tuple(sources.shape)}, "
          f"target {tuple(previous.shape)}")
    with run.scope():
        translator = model.build_translator(config, len(source_vocab), len(target_vocab))
        steps = int(train_batches.reduce(0, lambda count, _: count + 1))
        run.compile(translator, loss=model.translation_loss(), steps_per_epoch=steps)
    translator.summary(print_fn=lambda line, **_: print("  " + line))
    run.fit(translator, train_batches, val_batches, budget_minutes=config.minutes)
    # The trained model and what translating needs, before any scoring: a failure there loses nothing.
    vocabularies = {"spanish": source_vocab.tokens, "english": target_vocab.tokens, "truecase": truecase}
    saved_model = inference_copy(translator)
    run.save(saved_model, {"vocab.json": json.dumps(vocabularies, ensure_ascii=False) + "\n",
                           "test.tsv": "".join(f"{en}\t{es}\n" for en, es in zip(test.english, test.spanish))})

    # The test split is touched here, once, with the best epoch's weights.
    started = time.perf_counter()
    test_loss = run.evaluate(translator, data.batches(*data.encode_pairs(test, source_vocab, target_vocab),
                                                      run.batch_size))
    engine = Translator(saved_model, config, vocabularies)
    report = scoring.score_test_split(engine, test, config.beam_size, speed_sentences=200 if config.smoke else 1000)
    report["test"]["loss"] = float(test_loss["loss"])  # mean cross-entropy per English target token
    retriever, tried = baseline.nearest_sentence(train_part, val)  # its analyzer chosen on validation
    report["retrieval_baseline"] = scoring.baseline_scores(
        "the English of the most similar training sentence (TF-IDF, cosine)", retriever(test.spanish), test,
        analyzer=max(tried, key=tried.get), validation_bleu_by_analyzer=tried)
    scoring.print_report(report)
    outputs = scoring.translations_tsv(test, report.pop("translations"))
    return run.finish({
        "data": source, "dropped_long_pairs": dropped,
        "sizes": {"train": len(train_part), "validation": len(val), "test": len(test)},
        "overlap_with_train": overlap, "vocabulary": {"spanish": len(source_vocab), "english": len(target_vocab)},
        **report, "test_seconds": time.perf_counter() - started,
    }, files={"test_translations.tsv": outputs})


def main(argv=None):
    return TrainingRun.main(Config, argv, train, recipe=RECIPE, description=__doc__, smoke=SMOKE_CAPS)
