"""Embedding -> stacked (Bidirectional) recurrent layers -> P(positive), from the shared factories,
with a bag of word uni- and bigrams beside it (a linear branch) unless --no-ngrams."""
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
    """(batch, time) word ids -> (batch, 1): a linear model of the review's words and n-grams.

    Every word, and every run of 2..order words hashed into `buckets`, has one weight. The score
    is their sum over the real (non-padding) steps divided by sqrt(steps): the dot product of the
    weights with the review's counts, normalised by its length as a TF-IDF logistic regression
    normalises. Zero at first, so training starts from the recurrent branch alone.

    `scale` multiplies the score: the weights are stored divided by it. Adam moves each weight by
    about the learning rate a step, and within a few epochs that leaves a linear model of a
    million sparse features far weaker than it can be (a logistic regression's weights here are
    in the tens); `scale` is this branch's learning rate relative to the network's.

    `dropout`: in training, each word and n-gram occurrence is left out with this probability (the
    rest count 1 / (1 - dropout)). Without it the bag memorises the training reviews within two
    epochs (training loss near 0), and the recurrent branch, sharing that loss, stops learning.

    `naive_bayes`: each weight is multiplied by its fixed Naive Bayes log-count ratio
    log(P(it | positive) / P(it | negative)) from the training split (set_ratios), as in NBSVM
    (Wang & Manning 2012): the n-grams that tell the classes apart move the score fastest.
    """

    def __init__(self, vocab_size, buckets, scale=1.0, dropout=0.0, seed=None, naive_bayes=False, order=2,
                 **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.buckets, self.scale, self.dropout = vocab_size, buckets, scale, dropout
        self.seed, self.naive_bayes, self.order = seed, naive_bayes, order
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        sizes = [self.vocab_size] + [self.buckets] * (self.order - 1)  # words, then each n >= 2
        self.gram_weights = [self.add_weight(shape=(size,), initializer="zeros", name=f"weights_{n}")
                             for n, size in enumerate(sizes, 1)]
        if self.naive_bayes:  # saved with the model: predicting needs no training data
            self.gram_ratios = [self.add_weight(shape=(size,), initializer="ones", trainable=False, name=f"ratios_{n}")
                                for n, size in enumerate(sizes, 1)]

    def set_ratios(self, ratios):
        for variable, values in zip(self.gram_ratios, ratios):
            variable.assign(values)

    def call(self, tokens, training=False):
        tokens = ops.cast(tokens, "int32")  # (batch, time); int32 on every backend, which the hash stays inside
        length = ops.sqrt(ops.maximum(ops.sum(ops.cast(tokens > 0, "float32"), axis=1), 1.0))  # (batch,)
        total = 0.0
        for n, (ids, real) in enumerate(gram_ids(tokens, self.order, self.buckets, ops)):
            real = ops.cast(real, "float32")  # (batch, time)
            if training and self.dropout:
                kept = keras.random.uniform(ops.shape(real), seed=self.seed_generator) < 1.0 - self.dropout
                real = real * ops.cast(kept, "float32") / (1.0 - self.dropout)
            weights = ops.take(self.gram_weights[n], ids)  # (batch, time)
            if self.naive_bayes:
                weights = weights * ops.take(self.gram_ratios[n], ids)
            total = total + ops.sum(weights * real, axis=1)  # (batch,)
        return ops.expand_dims(self.scale * total / length, -1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "buckets": self.buckets, "scale": self.scale,
                "dropout": self.dropout, "seed": self.seed, "naive_bayes": self.naive_bayes, "order": self.order}


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
    # float32 from here on, even under mixed precision, so the loss is computed in full precision.
    logit = layers.Dense(1, dtype="float32", name="recurrent_logit")(summary)  # (batch, 1)
    if config.ngrams:  # the bag of n-grams' vote, added to the recurrent branch's before the sigmoid
        bag = BagOfNgrams(vocab_size, config.ngram_buckets, config.ngram_lr_scale, config.ngram_dropout,
                          seed=config.seed, naive_bayes=config.ngram_nb, order=config.ngram_order,
                          dtype="float32", name="bag_of_ngrams")(tokens)
        logit = layers.Add(dtype="float32", name="logit")([logit, bag])
    probability = layers.Activation("sigmoid", dtype="float32", name="probability")(logit)
    return keras.Model(tokens, probability, name="classifier")


def naive_bayes_ratios(token_ids, labels, vocab_size, buckets, order, smoothing=1.0):
    """[ratios (vocab_size,), then (buckets,) for each n = 2..order]: log(P(x | positive) / P(x | negative)).

    token_ids: one int array per training review; presence counts (each review counts an n-gram
    once), smoothed, as in NBSVM; n-grams hashed by gram_ids, as BagOfNgrams hashes them.
    """
    sizes = [vocab_size] + [buckets] * (order - 1)
    counts = {label: [np.full(size, smoothing) for size in sizes] for label in (0, 1)}
    for ids, label in zip(token_ids, labels):
        grams = gram_ids(np.asarray(ids, dtype="int32")[None, :], order, buckets, np)
        for count, (gram, real) in zip(counts[int(label)], grams):
            count[np.unique(gram[real])] += 1
    return [np.log((positive / positive.sum()) / (negative / negative.sum())).astype("float32")
            for positive, negative in zip(counts[1], counts[0])]


def with_vectorizer(vectorizer, classifier):
    """The model users get: raw review strings (batch,) in, P(positive) (batch, 1) out."""
    text = keras.Input(shape=(), dtype="string", name="review")
    # An uncompiled copy: the trained classifier carries Adam's moments, two thirds of the file.
    return keras.Model(text, inference_copy(classifier)(vectorizer(text)), name="sentiment")
