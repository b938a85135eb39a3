"""Embedding -> stacked (Bidirectional) recurrent layers -> P(positive), from the shared factories."""
import keras
from keras import layers, ops

from shared.inference import inference_copy
from shared.layers import apply_stack, stacked_recurrent


@keras.saving.register_keras_serializable(package=__name__)  # the module's path: a copied recipe's is its own
class MaskedMean(layers.Layer):
    """(batch, time, units) -> (batch, units): the mean over the real (unmasked) steps.

    A review with no step at all (emoji only, "!!!": nothing left after standardising) gives
    zeros, the mean of nothing, where Keras's GlobalAveragePooling1D divides 0 by 0 (NaN).
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return ops.mean(inputs, axis=1)
        weights = ops.expand_dims(ops.cast(mask, inputs.dtype), -1)  # (batch, time, 1)
        return ops.sum(inputs * weights, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1.0)

    def compute_mask(self, inputs, mask=None):
        return None  # time is gone

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


def build_classifier(config, vocab_size):
    """Token ids in, probability out; trained on its own so that training needs no strings."""
    tokens = keras.Input(shape=(None,), dtype="int64", name="tokens")  # (batch, time), 0 = padding
    # mask_zero: the recurrent layers skip padded steps instead of reading them as words.
    vectors = layers.Embedding(vocab_size, config.embedding_dim, mask_zero=True, name="embedding")(tokens)
    pooled = config.pooling == "mean"
    stack = stacked_recurrent(config.cell, config.units, config.layers, bidirectional=config.bidirectional,
                              return_sequences=pooled, dropout=config.dropout, name="encoder")
    summary = apply_stack(stack, vectors)  # (batch, time, units) if pooled else (batch, units); x2 if bidirectional
    if pooled:
        # The mean over every real step: the last state alone forgets early cues in long reviews.
        # The mask keeps padding out of the mean (max pooling would ignore it).
        summary = MaskedMean(name="mean_over_time")(summary)  # (batch, units)
    summary = layers.Dropout(config.dropout, name="dropout")(summary)
    # float32 output even under mixed precision, so the loss is computed in full precision.
    probability = layers.Dense(1, activation="sigmoid", dtype="float32", name="probability")(summary)
    return keras.Model(tokens, probability, name="classifier")


def with_vectorizer(vectorizer, classifier):
    """The model users get: raw review strings (batch,) in, P(positive) (batch, 1) out."""
    text = keras.Input(shape=(), dtype="string", name="review")
    # An uncompiled copy: the trained classifier carries Adam's moments, two thirds of the file.
    return keras.Model(text, inference_copy(classifier)(vectorizer(text)), name="sentiment")
