"""A small character transformer in Keras 3 layers only (keras.layers, keras.ops: any backend).

What a user would pick instead of the textgen recipe's GRU: a nanoGPT-sized decoder. Character
ids (batch, time) in, next-character logits (batch, time, vocab) out, like the recipe's model:

    token embedding + learned position embedding -> dropout
    -> N pre-norm blocks: x + Dropout(MultiHeadAttention(LN(x)), causal) ; x + Dropout(MLP(LN(x)))
    -> LayerNorm -> Dense logits

The MLP is Dense(4 * width, gelu) -> Dense(width). It reads at most `context` characters:
generation re-reads the last `context` characters for each new one (no cache), and scoring a
long text slides a window of `context` over it (benchmarks/equal_time.py).
"""
import dataclasses

import keras
from keras import layers, ops


@dataclasses.dataclass
class TransformerSettings:
    context: int = 128  # characters the model sees (its block size)
    width: int = 128  # embedding and residual width
    layers: int = 4
    heads: int = 4
    dropout: float = 0.0
    batch_size: int = 32
    lr: float = 1e-3  # the cosine's peak
    clipnorm: float = 1.0  # per variable, as the recipe's optimizer clips


@keras.saving.register_keras_serializable(package=__name__)
class LearnedPositions(layers.Layer):
    """Adds a learned vector per position 0..context-1 to (batch, time, width) inputs, time <= context."""

    def __init__(self, context, **kwargs):
        super().__init__(**kwargs)
        self.context = context

    def build(self, input_shape):
        self.positions = self.add_weight(shape=(self.context, input_shape[-1]), name="positions",
                                         initializer=keras.initializers.RandomNormal(stddev=0.02))

    def call(self, inputs):
        return inputs + ops.cast(self.positions[: ops.shape(inputs)[1]], inputs.dtype)[None]

    def get_config(self):
        return {**super().get_config(), "context": self.context}


def build_char_transformer(settings, vocab_size):
    """(batch, time <= context) ids -> (batch, time, vocab) float32 logits; a prediction after every character."""
    s = settings
    if s.width % s.heads:
        raise ValueError(f"width {s.width} is not a multiple of heads {s.heads}")
    ids = keras.Input(shape=(None,), dtype="int32", name="ids")
    x = layers.Embedding(vocab_size, s.width, name="embedding",
                         embeddings_initializer=keras.initializers.RandomNormal(stddev=0.02))(ids)
    x = LearnedPositions(s.context, name="positions")(x)  # (batch, time, width)
    x = layers.Dropout(s.dropout, name="embedding_dropout")(x)
    for index in range(1, s.layers + 1):
        name = f"block_{index}"
        normed = layers.LayerNormalization(epsilon=1e-5, name=f"{name}_attention_norm")(x)
        attended = layers.MultiHeadAttention(s.heads, s.width // s.heads, dropout=s.dropout,
                                             name=f"{name}_attention")(normed, normed, use_causal_mask=True)
        x = layers.Add(name=f"{name}_attention_residual")(
            [x, layers.Dropout(s.dropout, name=f"{name}_attention_dropout")(attended)])
        normed = layers.LayerNormalization(epsilon=1e-5, name=f"{name}_mlp_norm")(x)
        hidden = layers.Dense(4 * s.width, activation="gelu", name=f"{name}_mlp_in")(normed)  # (batch, time, 4w)
        x = layers.Add(name=f"{name}_mlp_residual")(
            [x, layers.Dropout(s.dropout, name=f"{name}_mlp_dropout")(layers.Dense(s.width, name=f"{name}_mlp_out")(hidden))])
    x = layers.LayerNormalization(epsilon=1e-5, name="final_norm")(x)
    logits = layers.Dense(vocab_size, dtype="float32", name="logits")(x)
    return keras.Model(ids, logits, name="char_transformer")


def describe(settings):
    s = settings
    return (f"transformer: {s.layers} layers, {s.heads} heads, width {s.width}, context {s.context}, "
            f"dropout {s.dropout:g}, batch {s.batch_size}, Adam {s.lr:g}, clipnorm {s.clipnorm:g}")
