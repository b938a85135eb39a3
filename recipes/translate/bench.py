"""Translation speed: this recipe's training beside a plain padded configuration, and decoding speed.

Training counts sentence pairs per second on the real Spanish-English pairs. The plain
configuration is the issue's reference point: a Bidirectional GRU(256) encoder with additive
attention, every pair padded to 20 tokens, batch 128. Decoding counts sentences per second,
batched greedy and beam 4, on 1,000 held-out Spanish sentences; with untrained weights every
sentence runs to --max-len tokens, so these rates are a floor for a trained model.
"""
import keras
import numpy as np

from shared.bench import timed, train_throughput
from shared.training import compile_model

from . import data, model
from .train import Config
from .translate import Translator

STEPS = {"full": 30, "small": 2}  # measured steps per case, after 3 warm-up steps


def _prepared(config):
    pairs, _ = data.load_pairs("")
    pairs, _ = data.drop_long(pairs, config.max_len)
    train, _, test = data.split(pairs, config.val_fraction, config.test_fraction, config.seed)
    source_vocab = data.Vocabulary.fit(train.spanish, config.max_tokens)
    target_vocab = data.Vocabulary.fit(train.english, config.max_tokens)
    return train, test, source_vocab, target_vocab


def _compiled_translator(config, source_vocab, target_vocab):
    keras.utils.set_random_seed(0)
    translator = model.build_translator(config, len(source_vocab), len(target_vocab))
    compile_model(translator, config, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  steps_per_epoch=100)
    return translator


def _train_case(size, padded_to=0, **changes):
    config = Config(**changes, **({"max_len": padded_to - 1} if padded_to else {}))  # + [start] or [end]
    train, _, source_vocab, target_vocab = _prepared(config)
    sources, targets = data.encode_pairs(train, source_vocab, target_vocab)
    steps = 3 + STEPS[size]
    if padded_to:  # the plain pipeline: shuffled pairs, all padded to the same length
        order = np.random.default_rng(0).permutation(len(sources))[: config.batch_size * steps]
        batches = []
        for begin in range(0, len(order), config.batch_size):
            chosen = order[begin: begin + config.batch_size]
            source = data._pad([sources[i] for i in chosen], padded_to)
            target = data._pad([targets[i] for i in chosen], padded_to + 1)
            batches.append(((source, target[:, :-1]), target[:, 1:], (target[:, 1:] > 0).astype("float32")))
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


def _decode_case(size, beam_size):
    config = Config()
    _, test, source_vocab, target_vocab = _prepared(config)
    vocabularies = {"spanish": source_vocab.tokens, "english": target_vocab.tokens, "truecase": {}}
    engine = Translator(_compiled_translator(config, source_vocab, target_vocab), config, vocabularies)
    sentences = test.spanish[: 1000 if size == "full" else 50]
    seconds, _ = timed(lambda: engine.translate(sentences, beam_size=beam_size, strict=False), repeats=1)
    return {"what": f"{len(sentences)} sentences, " + ("greedy" if beam_size == 1 else f"beam {beam_size}")
                    + ", batched, untrained weights (every sentence decoded to --max-len)",
            "unit": "sentences", "per_second": len(sentences) / seconds}


CASES = {
    "train": _train_case,
    "train_plain": lambda size: _train_case(size, padded_to=20, units=256, embedding_dim=256, batch_size=128),
    "translate_greedy": lambda size: _decode_case(size, 1),
    "translate_beam4": lambda size: _decode_case(size, 4),
}
COMPARE = [
    ("train", "train_plain", "training pairs/s, recipe / plain padded model"),
    ("translate_greedy", "translate_beam4", "decoding sentences/s, greedy / beam 4"),
]
