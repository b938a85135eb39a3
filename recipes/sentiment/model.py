"""Embedding -> stacked (Bidirectional) recurrent layers -> a logit, from the shared factories; beside
it (unless --no-ngrams) a bag of word n-grams, a linear model fitted first (ngrams.py), whose weight of
each word and word pair the network also reads, step by step. P(positive) is the sigmoid of a weighted
sum of the two logits, weighed on validation reviews (train.fit_blend)."""
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
class NgramWeights(layers.Layer):
    """(batch, time) word ids -> (batch, time, order): at each step, the fitted weight of the word there
    and of each run of 2..order words ending there (0 where the run reaches into padding).

    The weights are not trained by Keras: ngrams.py fits a logistic regression on exactly these features
    and set_ngram_weights copies it in; they are saved with the model. No mask: the recurrent branch
    takes the words' from its embedding (WordsAndWeights).
    """

    def __init__(self, vocab_size, buckets, order=2, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.buckets, self.order = vocab_size, buckets, order

    def build(self, input_shape):
        sizes = [self.vocab_size] + [self.buckets] * (self.order - 1)  # words, then each n >= 2
        self.gram_weights = [self.add_weight(shape=(size,), initializer="zeros", trainable=False, name=f"weights_{n}")
                             for n, size in enumerate(sizes, 1)]

    def set_ngram_weights(self, weights):
        """weights: (vocab_size + (order - 1) * buckets,), in ngrams.gram_matrix's column order."""
        begin = 0
        for variable in self.gram_weights:
            variable.assign(weights[begin: begin + variable.shape[0]])
            begin += variable.shape[0]

    def call(self, tokens):
        tokens = ops.cast(tokens, "int32")  # (batch, time); int32 on every backend, which the hash stays inside
        return ops.stack([ops.take(self.gram_weights[n], ids) * ops.cast(real, "float32")  # (batch, time) each
                          for n, (ids, real) in enumerate(gram_ids(tokens, self.order, self.buckets, ops))], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.order)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "buckets": self.buckets, "order": self.order}


@keras.saving.register_keras_serializable(package=__name__)
class BagOfNgrams(NgramWeights):
    """(batch, time) word ids -> (batch, 1): the logit of a linear model of the review's words and n-grams.

    The sum of NgramWeights over the real steps divided by sqrt(steps), plus a bias: with weights from
    a logistic regression fitted to convergence on these features (set_regression), an NBSVM.
    """

    def build(self, input_shape):
        super().build(input_shape)
        self.bias = self.add_weight(shape=(), initializer="zeros", trainable=False, name="bias")

    def set_regression(self, weights, bias):
        self.set_ngram_weights(weights)
        self.bias.assign(bias)

    def call(self, tokens):
        length = ops.sqrt(ops.maximum(ops.sum(ops.cast(ops.not_equal(tokens, 0), "float32"), axis=1), 1.0))  # (batch,)
        total = ops.sum(super().call(tokens), axis=(1, 2))  # (batch,)
        return ops.expand_dims(total / length + self.bias, -1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)


@keras.saving.register_keras_serializable(package=__name__)
class WordsAndWeights(layers.Layer):
    """[(batch, time, dim) word vectors, (batch, time, order) n-gram weights] -> (batch, time, dim + order),
    masked as the word vectors are. (With Keras 3.15's Concatenate in its place, whose second input has no
    mask, a review's score changed with the padding of its batch: the padding was read as words.)"""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        return ops.concatenate([inputs[0], ops.cast(inputs[1], inputs[0].dtype)], axis=-1)

    def compute_mask(self, inputs, mask=None):
        return None if mask is None else mask[0]

    def compute_output_shape(self, input_shapes):
        return (*input_shapes[0][:-1], input_shapes[0][-1] + input_shapes[1][-1])


def reads_ngram_weights(config):
    """Whether the recurrent branch reads the n-gram branch's weights beside each word's vector."""
    return config.ngrams and config.ngram_inputs


def build_recurrent(config, vocab_size):
    """(batch, time) token ids [and (batch, time, order) n-gram weights] -> (batch, 1) the recurrent branch's logit.

    With reads_ngram_weights(config), each step's input is the word's vector and the n-gram branch's
    weights of the word and of the runs of words ending there: the network starts from what a bag of
    n-grams knows of each word and learns what the bag cannot, how the words around it change it.
    """
    tokens = keras.Input(shape=(None,), dtype="int64", name="tokens")  # (batch, time), 0 = padding
    # mask_zero: the recurrent layers skip padded steps instead of reading them as words.
    vectors = layers.Embedding(vocab_size, config.embedding_dim, mask_zero=True, name="embedding")(tokens)
    inputs = tokens
    if reads_ngram_weights(config):
        ngram_weights = keras.Input(shape=(None, config.ngram_order), dtype="float32", name="ngram_weights")
        vectors = WordsAndWeights(name="words_and_ngram_weights")([vectors, ngram_weights])  # (batch, time, dim + order)
        inputs = [tokens, ngram_weights]
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
    return keras.Model(inputs, logit, name="recurrent")


def build_network(recurrent):
    """What training fits: the recurrent branch alone, its inputs in, (batch, 1) probability out.

    The n-gram branch is fitted apart (ngrams.py) and the two are weighed afterwards: trained beside a
    regression that is nearly always right on its own training reviews, the network learns little.
    In training, the n-gram weights the network reads come from the data pipeline, each review's from
    regressions fitted without it (train.fit); the classifier computes them itself (NgramWeights).
    """
    inputs = [keras.Input(shape=x.shape[1:], dtype=x.dtype, name=x.name) for x in recurrent.inputs]
    inputs = inputs if len(inputs) > 1 else inputs[0]
    probability = layers.Activation("sigmoid", dtype="float32", name="probability")(recurrent(inputs))
    return keras.Model(inputs, probability, name="network")


def build_classifier(config, vocab_size, recurrent=None):
    """Token ids in, probability out: the recurrent branch and, with n-grams, BagOfNgrams computing its
    logit inside the model (its weights set by ngrams.fit), so raw strings are all predicting needs."""
    recurrent = recurrent or build_recurrent(config, vocab_size)
    tokens = keras.Input(shape=(None,), dtype="int64", name="tokens")
    if reads_ngram_weights(config):
        # The weights the network reads at inference: the mean of the cross-fitted regressions' (train.fit).
        steps = NgramWeights(vocab_size, config.ngram_buckets, order=config.ngram_order, dtype="float32",
                             name="ngram_weights")(tokens)  # (batch, time, order)
        logit = recurrent([tokens, steps])  # (batch, 1)
    else:
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


def recurrent_branch(classifier, tokens):
    """(batch, 1) the classifier's recurrent branch's logit of `tokens`, with the n-gram weights it reads."""
    recurrent = classifier.get_layer("recurrent")
    if any(layer.name == "ngram_weights" for layer in classifier.layers):
        return recurrent([tokens, classifier.get_layer("ngram_weights")(tokens)])
    return recurrent(tokens)


def with_branches(classifier):
    """{name: (batch, 1)}: the classifier's probability and, with n-grams, each branch's alone (the same layers)."""
    tokens = keras.Input(shape=(None,), dtype="int64", name="tokens")
    outputs = {"probability": classifier(tokens)}
    if any(layer.name == "bag_of_ngrams" for layer in classifier.layers):
        outputs["ngram_branch"] = layers.Activation("sigmoid", name="ngram_branch")(
            classifier.get_layer("bag_of_ngrams")(tokens))
        outputs["recurrent_branch"] = layers.Activation("sigmoid", name="recurrent_branch")(
            recurrent_branch(classifier, tokens))
    return keras.Model(tokens, outputs, name="branches")


def with_vectorizer(vectorizer, classifier):
    """The model users get: raw review strings (batch,) in, P(positive) (batch, 1) out."""
    text = keras.Input(shape=(), dtype="string", name="review")
    # An uncompiled copy: the trained classifier carries Adam's moments, two thirds of the file.
    return keras.Model(text, inference_copy(classifier)(vectorizer(text)), name=__name__.split(".")[-2])  # the recipe
