"""Embedding -> recurrent layers (the shared factories) -> softmax over the classes."""
import keras
from keras import layers

from shared.inference import inference_copy
from shared.layers import apply_stack, stacked_recurrent


def build_classifier(vocab_size, num_classes, *, embedding_dim, cell, units, num_layers, bidirectional, dropout):
    """Token ids (batch, time), 0 = padding -> class probabilities (batch, num_classes)."""
    ids = keras.Input((None,), dtype="int64", name="token_ids")
    vectors = layers.Embedding(vocab_size, embedding_dim, mask_zero=True, name="embedding")(ids)  # (batch, time, dim)
    stack = stacked_recurrent(cell, units, num_layers, bidirectional=bidirectional, dropout=dropout)
    # The mask skips the padding, so each direction's summary is its state at the text's last real word.
    summary = layers.Dropout(dropout)(apply_stack(stack, vectors))  # (batch, units), 2 * units if bidirectional
    # float32 even under a mixed-precision policy: a softmax in float16 rounds small probabilities to 0.
    probabilities = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(summary)
    return keras.Model(ids, probabilities, name="classifier")


def with_vectorizer(vectorizer, classifier):
    """The model users get: raw strings (batch,) in, class probabilities (batch, classes) out."""
    texts = keras.Input(shape=(), dtype="string", name="texts")
    # An uncompiled copy: the trained classifier carries Adam's moments, two thirds of the file.
    return keras.Model(texts, inference_copy(classifier)(vectorizer(texts)), name="text_classifier")


def predict(text_classifier, texts):
    """Class probabilities (len(texts), classes) for raw strings, on any Keras backend."""
    import tensorflow as tf  # the vectorizer's string ops are TensorFlow's, as in the data pipeline

    if keras.config.backend() != "tensorflow":  # JAX and torch hold no strings: ids first, then the network
        ids = text_classifier.get_layer("vectorizer")(tf.constant(list(texts), dtype=tf.string))
        return keras.ops.convert_to_numpy(text_classifier.get_layer("classifier").predict(ids, verbose=0))
    return text_classifier.predict(tf.constant(list(texts), dtype=tf.string), batch_size=256, verbose=0)
