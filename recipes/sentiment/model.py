"""Embedding -> stacked (Bidirectional) recurrent layers -> a logit, from the shared factories; beside
it (unless --no-ngrams) a bag of word n-grams, a linear model fitted first (ngrams.py). P(positive) is
the sigmoid of a weighted sum of the two logits, weighed on validation reviews (train.fit_blend)."""
import keras
import numpy as np
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


GRAM_HASH = 7919  # an n-gram's id: (its first word mod GRAM_SPAN) * GRAM_HASH + the id of its last n - 1 ...
GRAM_SPAN = 2 ** 18  # ... words, mod buckets: below 2**31 (int32 on every backend) for vocabularies and
#                     bucket counts under 71 million


def gram_ids(tokens, order, buckets, xp):
    """[(ids, real)] for n = 1..order: ids (batch, time) of the n words ending at each step, and
    whether all n are words (not padding). Words keep their ids; longer n-grams are hashed into
    [0, buckets). xp is numpy or keras.ops: the layer and the Naive Bayes counts hash alike.
    """
    ids, real = tokens, tokens > 0
    grams = [(ids, real)]
    for n in range(2, order + 1):
        earlier = xp.pad(tokens, [[0, 0], [n - 1, 0]])[:, : -(n - 1)]  # (batch, time): the word n - 1 back
        ids = xp.mod(xp.mod(earlier, GRAM_SPAN) * GRAM_HASH + ids, buckets)
        real = xp.logical_and(real, earlier > 0)
        grams.append((ids, real))
    return grams


@keras.saving.register_keras_serializable(package=__name__)
class BagOfNgrams(layers.Layer):
    """(batch, time) word ids -> (batch, 1): the logit of a linear model of the review's words and n-grams.

    Every word, and every run of 2..order words hashed into `buckets`, has one weight; the logit is
    their sum over the real (non-padding) steps divided by sqrt(steps), plus a bias. The weights are
    not trained by Keras: ngrams.fit sets them (set_regression) from a logistic regression fitted
    to convergence on exactly these features, and they are saved with the model.
    """

    def __init__(self, vocab_size, buckets, order=2, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.buckets, self.order = vocab_size, buckets, order

    def build(self, input_shape):
        sizes = [self.vocab_size] + [self.buckets] * (self.order - 1)  # words, then each n >= 2
        self.gram_weights = [self.add_weight(shape=(size,), initializer="zeros", trainable=False, name=f"weights_{n}")
                             for n, size in enumerate(sizes, 1)]
        self.bias = self.add_weight(shape=(), initializer="zeros", trainable=False, name="bias")

    def set_regression(self, weights, bias):
        """weights: (vocab_size + (order - 1) * buckets,), in ngrams.gram_matrix's column order."""
        begin = 0
        for variable in self.gram_weights:
            variable.assign(weights[begin: begin + variable.shape[0]])
            begin += variable.shape[0]
        self.bias.assign(bias)

    def call(self, tokens):
        tokens = ops.cast(tokens, "int32")  # (batch, time); int32 on every backend, which the hash stays inside
        length = ops.sqrt(ops.maximum(ops.sum(ops.cast(tokens > 0, "float32"), axis=1), 1.0))  # (batch,)
        total = 0.0
        for n, (ids, real) in enumerate(gram_ids(tokens, self.order, self.buckets, ops)):
            weights = ops.take(self.gram_weights[n], ids)  # (batch, time)
            total = total + ops.sum(weights * ops.cast(real, "float32"), axis=1)  # (batch,)
        return ops.expand_dims(total / length + self.bias, -1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "buckets": self.buckets, "order": self.order}


def build_recurrent(config, vocab_size):
    """(batch, time) token ids -> (batch, 1) the recurrent branch's logit."""
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
    # float32 from here on, even under mixed precision, so the loss is computed in full precision.
    logit = layers.Dense(1, dtype="float32", name="recurrent_logit")(summary)  # (batch, 1)
    return keras.Model(tokens, logit, name="recurrent")


def build_network(recurrent):
    """What training fits: the recurrent branch alone, (batch, time) token ids -> (batch, 1) probability.

    The n-gram branch is fitted apart (ngrams.py) and the two are weighed afterwards: trained beside a
    regression that is nearly always right on its own training reviews, the network learns little.
    """
    tokens = keras.Input(shape=(None,), dtype="int64", name="tokens")
    probability = layers.Activation("sigmoid", dtype="float32", name="probability")(recurrent(tokens))
    return keras.Model(tokens, probability, name="network")


def build_classifier(config, vocab_size, recurrent=None):
    """Token ids in, probability out: the recurrent branch and, with n-grams, BagOfNgrams computing its
    logit inside the model (its weights set by ngrams.fit), so raw strings are all predicting needs."""
    recurrent = recurrent or build_recurrent(config, vocab_size)
    tokens = keras.Input(shape=(None,), dtype="int64", name="tokens")
    logit = recurrent(tokens)  # (batch, 1)
    if config.ngrams:
        bag = BagOfNgrams(vocab_size, config.ngram_buckets, order=config.ngram_order, dtype="float32",
                          name="bag_of_ngrams")(tokens)  # (batch, 1)
        both = layers.Concatenate(dtype="float32", name="branch_logits")([logit, bag])  # (batch, 2)
        # w_recurrent * recurrent logit + w_ngram * n-gram logit + b, set by train.fit_blend; until then
        # the plain sum. Not trained by Keras: fitted on validation reviews that neither branch saw.
        logit = layers.Dense(1, kernel_initializer="ones", trainable=False, dtype="float32", name="blend")(both)
    probability = layers.Activation("sigmoid", dtype="float32", name="probability")(logit)
    return keras.Model(tokens, probability, name="classifier")


def set_blend(classifier, weights, bias):
    """weights (2,): the recurrent branch's and the n-gram branch's, in the blend layer's input order."""
    classifier.get_layer("blend").set_weights([np.asarray(weights, "float32").reshape(2, 1),
                                               np.asarray([bias], "float32")])


def with_branches(classifier):
    """{name: (batch, 1)}: the classifier's probability and, with n-grams, each branch's alone (the same layers)."""
    tokens = keras.Input(shape=(None,), dtype="int64", name="tokens")
    outputs = {"probability": classifier(tokens)}
    if any(layer.name == "bag_of_ngrams" for layer in classifier.layers):
        for name, layer in (("ngram_branch", "bag_of_ngrams"), ("recurrent_branch", "recurrent")):
            outputs[name] = layers.Activation("sigmoid", name=name)(classifier.get_layer(layer)(tokens))
    return keras.Model(tokens, outputs, name="branches")


def with_vectorizer(vectorizer, classifier):
    """The model users get: raw review strings (batch,) in, P(positive) (batch, 1) out."""
    text = keras.Input(shape=(), dtype="string", name="review")
    # An uncompiled copy: the trained classifier carries Adam's moments, two thirds of the file.
    return keras.Model(text, inference_copy(classifier)(vectorizer(text)), name="sentiment")
