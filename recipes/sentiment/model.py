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


@keras.saving.register_keras_serializable(package=__name__)
class BagOfNgrams(layers.Layer):
    """(batch, time) word ids -> (batch, 1): a linear model of the review's words and word pairs.

    Every word, and every (previous word, word) pair hashed into `buckets`, has one weight. The
    score is their sum over the real (non-padding) steps divided by sqrt(steps): the dot product
    of the weights with the review's L2-normalised counts, as a TF-IDF logistic regression
    normalises (without the IDF). Zero at first, so training starts from the recurrent branch alone.

    `scale` multiplies the score: the weights are stored divided by it. Adam moves each weight by
    about the learning rate a step, and within a few epochs that leaves a linear model of a
    million sparse features far weaker than it can be (a logistic regression's weights here are
    in the tens); `scale` is this branch's learning rate relative to the network's.

    `dropout`: in training, each word and pair occurrence is left out with this probability (the
    rest count 1 / (1 - dropout)). Without it the bag memorises the training reviews within two
    epochs (training loss near 0), and the recurrent branch, sharing that loss, stops learning.

    `naive_bayes`: each word's and pair's weight is multiplied by its fixed Naive Bayes log-count
    ratio log(P(it | positive) / P(it | negative)) from the training split (set_ratios), as in
    NBSVM (Wang & Manning 2012): words that tell the classes apart move the score fastest.
    """

    def __init__(self, vocab_size, buckets, scale=1.0, dropout=0.0, seed=None, naive_bayes=False, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.buckets, self.scale, self.dropout = vocab_size, buckets, scale, dropout
        self.seed, self.naive_bayes = seed, naive_bayes
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        self.word_weights = self.add_weight(shape=(self.vocab_size,), initializer="zeros", name="words")
        self.pair_weights = self.add_weight(shape=(self.buckets,), initializer="zeros", name="pairs")
        if self.naive_bayes:  # saved with the model: predicting needs no training data
            self.word_ratios = self.add_weight(shape=(self.vocab_size,), initializer="ones", trainable=False,
                                               name="word_ratios")
            self.pair_ratios = self.add_weight(shape=(self.buckets,), initializer="ones", trainable=False,
                                               name="pair_ratios")

    def set_ratios(self, word_ratios, pair_ratios):
        self.word_ratios.assign(word_ratios)
        self.pair_ratios.assign(pair_ratios)

    def call(self, tokens, training=False):
        tokens = ops.cast(tokens, "int32")  # int32 on every backend; the hash below stays inside it
        previous = ops.pad(tokens[:, :-1], [[0, 0], [1, 0]])  # (batch, time): the word before, 0 at the start
        pairs = ops.mod(previous * PAIR_HASH + tokens, self.buckets)  # (batch, time) pair ids
        words_real = ops.cast(tokens > 0, "float32")  # (batch, time)
        pairs_real = words_real * ops.cast(previous > 0, "float32")
        length = ops.sqrt(ops.maximum(ops.sum(words_real, axis=1), 1.0))  # (batch,): the review's, before dropout
        if training and self.dropout:
            keep = 1.0 - self.dropout
            words_real = words_real * ops.cast(
                keras.random.uniform(ops.shape(words_real), seed=self.seed_generator) < keep, "float32") / keep
            pairs_real = pairs_real * ops.cast(
                keras.random.uniform(ops.shape(pairs_real), seed=self.seed_generator) < keep, "float32") / keep
        word_weights, pair_weights = ops.take(self.word_weights, tokens), ops.take(self.pair_weights, pairs)
        if self.naive_bayes:
            word_weights = word_weights * ops.take(self.word_ratios, tokens)
            pair_weights = pair_weights * ops.take(self.pair_ratios, pairs)
        total = ops.sum(word_weights * words_real, axis=1) + ops.sum(pair_weights * pairs_real, axis=1)  # (batch,)
        return ops.expand_dims(self.scale * total / length, -1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "buckets": self.buckets, "scale": self.scale,
                "dropout": self.dropout, "seed": self.seed, "naive_bayes": self.naive_bayes}


PAIR_HASH = 7919  # previous * 7919 + word stays below 2**31 for vocabularies up to 270,000 words


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
                          seed=config.seed, naive_bayes=config.ngram_nb, dtype="float32",
                          name="bag_of_ngrams")(tokens)
        logit = layers.Add(dtype="float32", name="logit")([logit, bag])
    probability = layers.Activation("sigmoid", dtype="float32", name="probability")(logit)
    return keras.Model(tokens, probability, name="classifier")


def naive_bayes_ratios(token_ids, labels, vocab_size, buckets, smoothing=1.0):
    """(word ratios (vocab_size,), pair ratios (buckets,)): log(P(x | positive) / P(x | negative)).

    token_ids: one int array per training review; presence counts (each review counts a word or
    pair once), smoothed, as in NBSVM. Pairs are hashed as BagOfNgrams hashes them.
    """
    counts = {label: [np.full(vocab_size, smoothing), np.full(buckets, smoothing)] for label in (0, 1)}
    for ids, label in zip(token_ids, labels):
        ids = np.asarray(ids, dtype="int64")
        words, pairs = counts[int(label)]
        words[np.unique(ids[ids > 0])] += 1
        previous = np.concatenate([[0], ids[:-1]])
        real = (ids > 0) & (previous > 0)
        pairs[np.unique((previous[real] * PAIR_HASH + ids[real]) % buckets)] += 1
    return tuple(np.log((counts[1][k] / counts[1][k].sum()) / (counts[0][k] / counts[0][k].sum())).astype("float32")
                 for k in (0, 1))


def with_vectorizer(vectorizer, classifier):
    """The model users get: raw review strings (batch,) in, P(positive) (batch, 1) out."""
    text = keras.Input(shape=(), dtype="string", name="review")
    # An uncompiled copy: the trained classifier carries Adam's moments, two thirds of the file.
    return keras.Model(text, inference_copy(classifier)(vectorizer(text)), name="sentiment")
