"""Translation speed: this recipe's training beside a plain padded configuration, and decoding speed.

Training counts sentence pairs per second on the real Spanish-English pairs. The plain
configuration is the issue's reference point: a Bidirectional GRU(256) encoder with additive
attention, every pair padded to 20 tokens, batch 128. Decoding counts sentences per second,
batched greedy and beam 4, on 1,000 held-out Spanish sentences; with untrained weights every
sentence runs to --max-len tokens, so these rates are a floor for a trained model.
Time to target: training minutes until the validation loss (per English word) falls to TARGET,
for the recipe and for the plain configuration, on the same split and vocabularies, checked
every CHECK_SECONDS of training, the same for both.
"""
import keras
import numpy as np
import tensorflow as tf

from benchmarks.harness import checked_batches, timed, train_throughput, train_to_target
from recipes.translate import data, model
from recipes.translate.train import Config
from recipes.translate.translator import Translator
from shared.data import prefetched
from shared.run import compile_from_config

STEPS = {"full": 30, "small": 2}  # measured steps per case, after 3 warm-up steps
TARGET = 3.5  # validation loss, nats per English word (the recipe: 2.08 after its first epoch, 0.96 after 40 min)
CAP_MINUTES = {"full": 4.0, "small": 0.05}  # training time after which a configuration counts as not there
# Seconds of training between two validation checks: at least 10 checks before the recipe's crossing
# (after 2.0-2.6 min here); train_to_target repeats a run with closer checks where there were fewer.
CHECK_SECONDS = {"full": 8.0, "small": 0.5}
# The plain configuration, the reference point this benchmark was asked for, every setting its model and
# training read written out (as run A measured it), none taken from the recipe's Config, whose defaults
# change. It is not TensorFlow's NMT tutorial (tensorflow.org/text/tutorials/nmt_with_attention), which
# has batch 64, a 5,000-word vocabulary, a summed Bidirectional GRU(256), multi-head cross-attention and
# no dropout; tests/test_bench.py lists both.
PLAIN = {"cell": "gru", "units": 256, "embedding_dim": 256, "layers": 1, "attention": "additive", "dropout": 0.2,
         "max_tokens": 10000, "batch_size": 128, "lr": 2e-3, "clipnorm": 1.0, "lr_schedule": "constant",
         "mixed_precision": False}
PLAIN_PADDED_TO = 20  # tokens, [start] or [end] included: the throughput case pads every pair to this


def plain_config(**changes):
    return Config(**{**PLAIN, **changes})


def _prepared(config):
    pairs, _ = data.load_pairs("")
    pairs, _ = data.drop_long(pairs, config.max_len)
    train, val, test = data.split(pairs, config.val_fraction, config.test_fraction, config.seed)
    source_vocab = data.Vocabulary.fit(train.spanish, config.max_tokens)
    target_vocab = data.Vocabulary.fit(train.english, config.max_tokens)
    return train, val, test, source_vocab, target_vocab


def _compiled_translator(config, source_vocab, target_vocab, steps_per_epoch=100):
    """steps_per_epoch: where the rate follows a schedule (the recipe's cosine spans config.epochs of them), the
    training's real steps an epoch; a case that times steps only may leave it."""
    keras.utils.set_random_seed(0)
    translator = model.build_translator(config, len(source_vocab), len(target_vocab))
    compile_from_config(translator, config, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                        steps_per_epoch=steps_per_epoch)
    return translator


def _train_case(size, padded_to=0):
    # + [start] or [end]: pairs of at most padded_to - 1 words
    config = plain_config(max_len=padded_to - 1) if padded_to else Config()
    train, _, _, source_vocab, target_vocab = _prepared(config)
    sources, targets = data.encode_pairs(train, source_vocab, target_vocab)
    steps = 3 + STEPS[size]
    if padded_to:  # the plain pipeline: shuffled pairs, all padded to the same length
        order = np.random.default_rng(0).permutation(len(sources))[: config.batch_size * steps]
        batches = []
        for begin in range(0, len(order), config.batch_size):
            chosen = order[begin: begin + config.batch_size]
            source = data.pad([sources[i] for i in chosen], padded_to)
            target = data.pad([targets[i] for i in chosen], padded_to + 1)
            batches.append(data.teacher_forced(source, target))
        what = f"plain: BiGRU({config.units}), additive attention, padded to {padded_to}, batch {config.batch_size}"
    else:
        epoch = [tuple(np.asarray(part) if not isinstance(part, tuple) else tuple(np.asarray(p) for p in part)
                       for part in batch)
                 for batch in data.batches(sources, targets, config.batch_size, shuffle_seed=0)]
        # At random from a whole epoch, so the timed batches have the epoch's mix of lengths.
        batches = [epoch[i] for i in np.random.default_rng(0).choice(len(epoch), size=steps, replace=False)]
        what = (f"recipe: BiGRU({config.units}), {config.attention} attention, batched by length, "
                f"batch {config.batch_size}")
    translator = _compiled_translator(config, source_vocab, target_vocab)
    return {"what": what, "unit": "pairs", **train_throughput(translator, batches, count=lambda batch: len(batch[1]))}


def _to_target(size, plain=False):
    """Minutes of training until the validation loss is at most TARGET (or CAP_MINUTES pass).

    plain: PLAIN, every pair padded to the longest sentence, shuffled pairs. Both sides train on the
    recipe's split and vocabularies (its max_len, max_tokens, fractions and seed).
    """
    config = plain_config() if plain else Config()
    train, val, _, source_vocab, target_vocab = _prepared(Config())
    val_batches = checked_batches(data.batches(*data.encode_pairs(val, source_vocab, target_vocab),
                                               config.batch_size), size)
    sources, targets = data.encode_pairs(train, source_vocab, target_vocab)
    if plain:
        source, target = data.pad(sources), data.pad(targets)
        train_batches = tf.data.Dataset.from_tensor_slices(data.teacher_forced(source, target))
        train_batches = prefetched(train_batches.shuffle(len(source), seed=0).batch(config.batch_size))
        what = (f"plain: BiGRU({config.units}), embedding {config.embedding_dim}, every pair padded to "
                f"{source.shape[1]} / {target.shape[1]} tokens")
    else:
        train_batches = data.batches(sources, targets, config.batch_size, shuffle_seed=0)
        what = f"recipe: BiGRU({config.units}), embedding {config.embedding_dim}, batched by length"
    result = train_to_target(
        lambda: _compiled_translator(config, source_vocab, target_vocab, -(-len(train) // config.batch_size)),
        train_batches,
        score=lambda translator: translator.evaluate(val_batches, verbose=0, return_dict=True)["loss"],
        target=TARGET, check_seconds=CHECK_SECONDS[size], cap_minutes=CAP_MINUTES[size])
    return {"what": f"{what}, batch {config.batch_size}, dropout {config.dropout:g}, Adam {config.lr:g}: "
                    f"validation loss {result['score']:.3f} (target {TARGET})", "unit": "minutes", **result,
            "label": "the plain padded model" if plain else "the recipe",
            "target_text": f"validation loss {TARGET} per word", "best": f"{result['best_score']:.3f}"}


def _decode_case(size, beam_size):
    config = Config()
    _, _, test, source_vocab, target_vocab = _prepared(config)
    vocabularies = {"spanish": source_vocab.tokens, "english": target_vocab.tokens, "truecase": {}}
    engine = Translator(_compiled_translator(config, source_vocab, target_vocab), config, vocabularies)
    sentences = test.spanish[: 1000 if size == "full" else 50]
    seconds, _ = timed(lambda: engine.translate(sentences, beam_size=beam_size, strict=False), repeats=1)
    return {"what": f"{len(sentences)} sentences, " + ("greedy" if beam_size == 1 else f"beam {beam_size}")
                    + ", batched, untrained weights (every sentence decoded to --max-len)",
            "unit": "sentences", "per_second": len(sentences) / seconds}


CASES = {
    "train": _train_case,
    "train_plain": lambda size: _train_case(size, padded_to=PLAIN_PADDED_TO),
    "translate_greedy": lambda size: _decode_case(size, 1),
    "translate_beam4": lambda size: _decode_case(size, 4),
    "target": _to_target,
    "target_plain": lambda size: _to_target(size, plain=True),
}
COMPARE = [
    ("train", "train_plain", "training pairs/s, recipe / plain padded model"),
    ("translate_greedy", "translate_beam4", "decoding sentences/s, greedy / beam 4"),
    ("target", "target_plain", f"minutes to validation loss {TARGET}, plain / recipe"),
]
