"""Carried-state training (truncated backpropagation through time, as char-rnn and AWD-LSTM train)
and the evaluation that carries the state through a text (`--carry-state`).

Training: the training ids are cut into `batch_size` contiguous streams read side by side, in
order: row b of batch t is window t of stream b, and each row's final state is the next batch's
initial state (stateful layers, model.build_language_model(stateful_batch=...)). The state is
zeroed at each epoch's first batch, and wherever a stream starts again from its beginning (a
short text repeated to fill an epoch): `ResetStates`. Gradients still stop at window edges.

Evaluation: `Scorer` runs the one-step model (model.build_step_model) over a text cut into a few
contiguous streams, in chunks, carrying the state from chunk to chunk: every character but the
first of each stream is scored with all the text before it in its stream. `windowed` scores
windows from a zero state, as training without --carry-state sees them.

Delete this module, `carry_state` in config.py and its branches in train.py to drop the option.
"""
import math

import keras
import numpy as np

from shared.errors import UserError
from shared.inference import compiled
from shared.report import print_comparison

from .baseline import per_char, score_baselines
from .model import build_step_model, copy_weights

EVAL_STREAMS = 8  # contiguous pieces a validation or test text is scored in, side by side
EVAL_CHUNK = 1000  # characters per stream and call of the step model


# --- training batches ----------------------------------------------------------------------

def stream_windows(ids, seq_len, streams):
    """(inputs, targets), each (steps, streams, seq_len): [t, b] is window t of stream b, targets shifted by one.

    Stream b is ids[b * length : (b + 1) * length], length = (len(ids) - 1) // streams; its last
    length % seq_len characters (fewer than seq_len) are not read.
    """
    length = (len(ids) - 1) // streams
    steps = length // seq_len
    if steps < 1:
        return np.zeros((0, streams, seq_len), "int32"), np.zeros((0, streams, seq_len), "int32")
    # (steps, streams, seq_len) indices into ids of each window's characters.
    index = (np.arange(streams)[None, :, None] * length + np.arange(steps)[:, None, None] * seq_len
             + np.arange(seq_len)[None, None, :])
    return ids[index], ids[index + 1]


def _passes(steps, min_batches):
    """How often an epoch reads the streams, so that a short text gives at least min_batches batches."""
    return max(1, math.ceil(min_batches / steps))


def _training_windows(ids, seq_len, batch_size):
    inputs, targets = stream_windows(ids, seq_len, batch_size)
    if not len(inputs):
        raise UserError(f"--carry-state: the training part cannot be cut into --batch-size {batch_size} "
                        f"streams of at least --seq-len {seq_len} + 1 characters; use a smaller --batch-size")
    return inputs, targets


def batch_count(ids, seq_len, batch_size, min_batches):
    """(batches per epoch, batches per pass over the streams: the state is zeroed every that many)."""
    steps = len(_training_windows(ids, seq_len, batch_size)[0])
    return steps * _passes(steps, min_batches), steps


def batches(ids, seq_len, batch_size, min_batches):
    """A tf.data pipeline of (batch_size, seq_len) int32 pairs in stream order, the same every epoch."""
    inputs, targets = _training_windows(ids, seq_len, batch_size)
    repeats = _passes(len(inputs), min_batches)
    inputs, targets = np.tile(inputs, (repeats, 1, 1)), np.tile(targets, (repeats, 1, 1))
    import tensorflow as tf  # here: the model and the evaluation never need TensorFlow

    from shared.data import prefetched

    # Each element is already a whole batch; its count is declared, so the cosine schedule's
    # steps_per_epoch is exact (see data.batches).
    pipeline = tf.data.Dataset.from_tensor_slices((inputs, targets))
    return prefetched(pipeline.apply(tf.data.experimental.assert_cardinality(len(inputs))))


def stateful_layers(network):
    return [layer for layer in network.layers if getattr(layer, "stateful", False)]


class ResetStates(keras.callbacks.Callback):
    """Zeroes the stateful layers' states at batch 0 of every epoch and every `period` batches after."""

    def __init__(self, period):
        super().__init__()
        self.period, self.epoch, self.resets = period, 0, []  # resets: (epoch, batch) of each

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if batch % self.period == 0:
            for layer in stateful_layers(self.model):
                layer.reset_state()
            self.resets.append((self.epoch, batch))


# --- evaluation ----------------------------------------------------------------------------

def positions(ids, streams):
    """Indices into `ids` of the characters `Scorer.carried` scores: 1 .. streams * length."""
    return np.arange(1, (len(ids) - 1) // streams * streams + 1)


def eval_streams(ids):
    """EVAL_STREAMS, or fewer for a text too short to give each stream a character to score."""
    return max(1, min(EVAL_STREAMS, len(ids) - 1))


def _cross_entropy(logits, targets):
    """Summed -log softmax(logits)[target], in float64: logits (..., vocab), targets (...)."""
    logits = np.asarray(logits, dtype="float64")
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=-1))
    picked = np.take_along_axis(shifted, targets[..., None], axis=-1)[..., 0]
    return float((log_norm - picked).sum())


class Scorer:
    """A step model's cross-entropy on texts: carried through streams, or windows from zero."""

    def __init__(self, step):
        self.step = step
        self.state_sizes = [int(tensor.shape[-1]) for tensor in step.inputs[1:]]
        self.call = compiled(step, [((None, None), "int32")] + [((None, n), "float32") for n in self.state_sizes])

    def run(self, inputs, states=None):
        """(logits (batch, time, vocab) as NumPy, new states) from `states` (None: zeros)."""
        from keras import ops

        if states is None:
            states = [ops.zeros((len(inputs), n), dtype="float32") for n in self.state_sizes]
        logits, *states = self.call(ops.convert_to_tensor(np.asarray(inputs, dtype="int32")), *states)
        return ops.convert_to_numpy(logits), states

    def carried(self, ids, streams=None, chunk=EVAL_CHUNK):
        """Mean nats per character of `positions(ids, streams)`, the state carried through each stream."""
        streams = streams or eval_streams(ids)
        length = (len(ids) - 1) // streams
        inputs = ids[: streams * length].reshape(streams, length)  # (streams, length)
        targets = ids[1: streams * length + 1].reshape(streams, length)
        total, states = 0.0, None
        for start in range(0, length, chunk):
            logits, states = self.run(inputs[:, start: start + chunk], states)
            total += _cross_entropy(logits, targets[:, start: start + chunk])
        return total / (streams * length)

    def windowed(self, ids, seq_len, batch_size):
        """Mean nats per character of data.windows(ids, seq_len)'s targets, each window from a zero state."""
        from . import data

        inputs, targets = data.windows(ids, seq_len)
        total = sum(_cross_entropy(self.run(inputs[i: i + batch_size])[0], targets[i: i + batch_size])
                    for i in range(0, len(inputs), batch_size))
        return total / targets.size


class Validation(keras.callbacks.Callback):
    """Scores the validation text at each epoch's end, in place of Keras's pass (shared.training.fit's
    `validator`): `val_loss` carried through eval_streams(val_ids) streams (it picks the best epoch),
    `val_windowed_loss` in windows of seq_len from a zero state (what runs without --carry-state
    are picked by), both with this epoch's weights copied into a step model by layer name."""

    def __init__(self, trained, val_ids, cell, units, num_layers, seq_len, batch_size):
        super().__init__()
        self.trained, self.val_ids, self.num_layers = trained, val_ids, num_layers
        self.seq_len, self.batch_size = seq_len, batch_size
        self.scorer = Scorer(build_step_model(trained, cell, units, num_layers))

    def on_epoch_end(self, epoch, logs=None):
        copy_weights(self.trained, self.scorer.step, self.num_layers)
        if logs is not None:
            logs["val_loss"] = self.scorer.carried(self.val_ids)
            logs["val_windowed_loss"] = self.scorer.windowed(self.val_ids, self.seq_len, self.batch_size)


def score(step, train_ids, val_ids, test_ids, vocab_size, seq_len):
    """metrics.json's "carried" block: the model (its step model) scored with the state carried through
    the validation text and the test tail (None: none), beside the baselines on the same characters; printed."""
    scorer = Scorer(step)
    parts = {"validation": val_ids} if test_ids is None else {"validation": val_ids, "test": test_ids}
    scores = {part: per_char(scorer.carried(ids)) for part, ids in parts.items()}
    baselines = score_baselines(train_ids, val_ids, test_ids, vocab_size, seq_len,
                                positions=lambda ids: positions(ids, eval_streams(ids)))
    for part, ids in parts.items():
        print_comparison(f"{part}, the state carried through {eval_streams(ids)} contiguous streams "
                         f"({len(positions(ids, eval_streams(ids))):,} characters scored)", scores[part],
                         {base["label"]: base[part] for base in baselines.values()})
    return {"how": f"the text cut into up to {EVAL_STREAMS} contiguous streams, each read from a zero state "
                   "with the state carried through it; every character but a stream's first is scored",
            "streams": {part: eval_streams(ids) for part, ids in parts.items()}, **scores, "baselines": baselines}
