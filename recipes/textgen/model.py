"""Embedding -> stacked recurrent layers -> next-character logits, and its one-step twin for generation."""
import keras
from keras import layers

from shared.inference import state_count
from shared.layers import apply_stack, recurrent_layer, stacked_recurrent

STACK = "rnn"  # the recurrent layers are named rnn_1 .. rnn_n; generation finds them by these names


def build_language_model(config, vocab_size, stateful_batch=None):
    """Character ids (batch, time) in, logits (batch, time, vocab) out: a prediction after every character.

    stateful_batch: the carried-state training model (--carry-state, carried.py): batches of exactly
    this many rows, each row's final state the next batch's initial state, until the layers'
    reset_state(). None: every sequence starts from a zero state. The weights are the same either way.
    """
    if stateful_batch:
        ids = keras.Input(batch_shape=(stateful_batch, None), dtype="int32", name="ids")
    else:
        ids = keras.Input(shape=(None,), dtype="int32", name="ids")
    vectors = layers.Embedding(vocab_size, config.embedding_dim, name="embedding")(ids)  # (batch, time, dim)
    stack = stacked_recurrent(config.cell, config.units, config.layers, return_sequences=True,
                              dropout=config.dropout, name=STACK,
                              # only when asked: a generic RNN(cell) (the GPU check's variant) takes no `stateful`
                              **({"stateful": True} if stateful_batch else {}))
    hidden = apply_stack(stack, vectors)  # (batch, time, units)
    hidden = layers.Dropout(config.dropout, name="dropout")(hidden)
    # Logits, float32 even under mixed precision; the loss applies the softmax.
    logits = layers.Dense(vocab_size, dtype="float32", name="logits")(hidden)
    return keras.Model(ids, logits, name="char_lm")


def build_step_model(trained, cell, units, num_layers):
    """The trained network with its recurrent state as explicit inputs and outputs.

    [ids (batch, time), state_1, ...] -> [logits (batch, time, vocab), new_state_1, ...],
    each state (batch, units). Fed one character at a time with the states it returned,
    it computes what `trained` computes over the whole sequence, at a constant cost per step.
    Weights are copied from `trained` by layer name, never by position. Every layer computes
    in float32 whatever the global dtype policy: under mixed precision the states would
    otherwise come back in bfloat16/float16 and no longer match the float32 states fed in.
    """
    vocab_size, embedding_dim = trained.get_layer("embedding").get_weights()[0].shape
    ids = keras.Input(shape=(None,), dtype="int32", name="ids")
    hidden = layers.Embedding(vocab_size, embedding_dim, dtype="float32", name="embedding")(ids)
    state_inputs, state_outputs = [], []
    for index in range(1, num_layers + 1):
        layer = recurrent_layer(cell, units, return_sequences=True, return_state=True, dtype="float32",
                                name=f"{STACK}_{index}")
        given = [keras.Input(shape=(units,), dtype="float32", name=f"{STACK}_{index}_state_{k}")
                 for k in range(state_count(cell))]
        hidden, *returned = layer(hidden, initial_state=given)
        state_inputs += given
        state_outputs += returned
    logits = layers.Dense(vocab_size, dtype="float32", name="logits")(hidden)
    step = keras.Model([ids, *state_inputs], [logits, *state_outputs], name="char_lm_step")
    copy_weights(trained, step, num_layers)
    return step


def copy_weights(source, target, num_layers):
    """Set target's embedding, rnn_1..n and logits weights to source's, by layer name (a stateful
    layer's carried state is no weight: it stays where it is)."""
    for name in ["embedding", "logits"] + [f"{STACK}_{i}" for i in range(1, num_layers + 1)]:
        target.get_layer(name).set_weights(source.get_layer(name).get_weights())


def stateless_copy(trained, config, vocab_size):
    """A model that starts every sequence from zero with `trained`'s weights: what a carried-state
    run saves (any batch size, as generate, speed and export load it)."""
    copy = build_language_model(config, vocab_size)
    copy_weights(trained, copy, config.layers)
    return copy
