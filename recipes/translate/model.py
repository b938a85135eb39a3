"""Encoder-decoder with attention, from the shared factories, and its two inference halves.

Training (teacher forcing): [source ids (batch, S), decoder input ids (batch, T)] ->
logits (batch, T, target vocab). The encoder is a Bidirectional recurrent stack; a
`bridge` Dense turns its last forward and backward states into the decoder's initial
state; the decoder reads the previous English word, and attention over the encoder
outputs (Luong style: after the decoder step) adds a context vector before the softmax.

Inference reuses the same layers, found by name: `encoder_model` gives the memory and
the initial state once per sentence, `decoder_step_model` advances one word at a time.
Both return float32 memory, states and attention whatever the layers compute in (bfloat16
or float16 under a mixed policy), so a caller traced with float32 specs works either way.

The decoder's mask covers the positions that predict a word: not padding, and not an
input `[end]` (in a batch, a shorter row's `[end]` is read at a position whose target is
padding). Keras divides a batch's loss by the count of masked-in positions, so with this
mask that count is the number of target words.
"""
import keras
from keras import layers, ops

from shared.inference import state_count
from shared.layers import apply_stack, recurrent_layer, stacked_recurrent

from . import data

ENCODER, DECODER = "encoder", "decoder"  # recurrent layers encoder_1.., decoder_1..
END_ID = data.SPECIALS.index(data.END)  # every target vocabulary starts with the special tokens


def decoder_mask(previous):
    """(batch, T) bool: True where the decoder input predicts a target word (not padding, not [end])."""
    return ops.logical_and(ops.not_equal(previous, 0), ops.not_equal(previous, END_ID))


def _float32(tensor):
    return ops.cast(tensor, "float32")


def translation_loss():
    """Cross-entropy from the logits; with data.batches' weights the reported loss is per English target token."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _attention_layer(kind):
    if kind == "additive":
        return layers.AdditiveAttention(name="attention")  # Bahdanau: v . tanh(q + k)
    if kind == "dot":
        return layers.Attention(name="attention")  # Luong: q . k
    return None


def build_translator(config, source_vocab, target_vocab):
    """The training model; every layer the inference halves need carries a fixed name."""
    units, states = config.units, state_count(config.cell)
    source = keras.Input(shape=(None,), dtype="int32", name="source")  # (batch, S), 0 = padding
    previous = keras.Input(shape=(None,), dtype="int32", name="previous")  # (batch, T): [start] w1 .. wn
    source_mask = ops.not_equal(source, 0)  # (batch, S)
    vectors = layers.Embedding(source_vocab, config.embedding_dim, mask_zero=True, name="source_embedding")(source)
    stack = stacked_recurrent(config.cell, units, config.layers, bidirectional=True, return_sequences=True,
                              return_state=True, dropout=config.dropout, name=ENCODER)
    outputs, *final = apply_stack(stack, vectors)  # (batch, S, 2 units); states forward then backward
    memory = layers.Dense(units, use_bias=False, name="memory")(outputs)  # (batch, S, units): attention keys
    initial = [layers.Dense(units, activation="tanh", name=f"bridge_{k}")(
        layers.Concatenate(name=f"final_state_{k}")([final[k], final[states + k]])) for k in range(states)]

    logits, _ = _decode(config, target_vocab, previous, initial, memory, source_mask)
    return keras.Model([source, previous], logits, name="translator")


def _decode(config, target_vocab, previous, initial, memory, source_mask):
    """Decoder layers applied to `previous` ids (batch, T): (logits (batch, T, vocab), attention scores)."""
    vectors = layers.Embedding(target_vocab, config.embedding_dim, mask_zero=True,
                               name="target_embedding")(previous)  # (batch, T, dim)
    hidden = vectors
    query_mask = decoder_mask(previous)  # (batch, T), carried to the logits and so to the loss
    for index in range(1, config.layers + 1):
        recurrent = recurrent_layer(config.cell, config.units, return_sequences=True, return_state=True,
                                    dropout=config.dropout, name=f"{DECODER}_{index}")
        # Every layer starts from the bridged state.
        hidden, *_ = recurrent(hidden, initial_state=initial, mask=query_mask)
    scores = None
    if config.attention != "none":
        # Padded source positions get weight exactly 0 (the layer adds -1e9 before the softmax).
        context, scores = _attention_layer(config.attention)(
            [hidden, memory, memory], mask=[query_mask, source_mask],
            return_attention_scores=True)  # (batch, T, units), (batch, T, S)
        hidden = layers.Concatenate(name="combine")([hidden, context])
        # A linear projection: with tanh here (Luong's choice) training sat at the unigram loss for
        # epochs (measured: 5.28 after 2 epochs on 8,000 pairs, against 4.59 without the tanh).
        hidden = layers.Dense(config.units, name="attentional")(hidden)  # (batch, T, units)
    hidden = layers.Dropout(config.dropout, name="dropout")(hidden)
    # Logits, float32 even under mixed precision; the loss applies the softmax.
    logits = layers.Dense(target_vocab, dtype="float32", name="logits")(hidden)
    return logits, scores


def encoder_model(trained, config):
    """source ids (batch, S) -> [memory (batch, S, units), initial state(s) (batch, units)], float32 (memory
    is the raw encoder output (batch, S, 2 units) without attention)."""
    states = state_count(config.cell)
    source = trained.get_layer("source").output  # the Input layer named "source"
    if config.attention != "none":
        memory = trained.get_layer("memory").output
    else:  # no attention: nothing reads the memory; the encoder outputs stand in for it
        memory = trained.get_layer(f"{ENCODER}_{config.layers}").output[0]
    initial = [trained.get_layer(f"bridge_{k}").output for k in range(states)]
    return keras.Model(source, [_float32(memory), *map(_float32, initial)], name="encoder")


def decoder_step_model(trained, config):
    """[previous ids (batch, 1), memory, source ids, state(s)...] ->
    [logits (batch, 1, vocab), attention (batch, 1, S) or zeros, new state(s) of every decoder layer...],
    all float32.

    With several decoder layers, each layer's state is carried on its own.
    """
    units, states = config.units, state_count(config.cell)
    previous = keras.Input(shape=(None,), dtype="int32", name="previous")
    memory = keras.Input(shape=(None, units if config.attention != "none" else 2 * units), name="memory_in")
    source = keras.Input(shape=(None,), dtype="int32", name="source_in")
    carried = [keras.Input(shape=(units,), name=f"state_{i}") for i in range(states * config.layers)]
    vectors = trained.get_layer("target_embedding")(previous)
    hidden, new_states, query_mask = vectors, [], decoder_mask(previous)
    for index in range(1, config.layers + 1):
        given = carried[(index - 1) * states: index * states]
        hidden, *returned = trained.get_layer(f"{DECODER}_{index}")(hidden, initial_state=given, mask=query_mask)
        new_states += returned
    if config.attention != "none":
        context, scores = trained.get_layer("attention")(
            [hidden, memory, memory], mask=[query_mask, ops.not_equal(source, 0)],
            return_attention_scores=True)
        hidden = trained.get_layer("attentional")(trained.get_layer("combine")([hidden, context]))
    else:
        scores = ops.zeros_like(ops.expand_dims(ops.cast(source, "float32"), 1))  # (batch, 1, S)
    logits = trained.get_layer("logits")(hidden)
    return keras.Model([previous, memory, source, *carried],
                       [_float32(logits), _float32(scores), *map(_float32, new_states)], name="decoder_step")
