"""The small training loop and the gradient probes: the only TensorFlow-specific code of the recipe.

Every experiment trains many small models for a few hundred steps each, on fresh batches, and
needs what Keras's fit does not report: the gradient norms of each step before the optimizer clips
them, the size of the update it applied, and the gradient of the loss with respect to the inputs,
dL/dx_t. tf.GradientTape gives all three; the models and optimizers are plain Keras 3.
"""
import keras
import numpy as np
import tensorflow as tf


def example_losses(y, logits):
    """(batch,) cross-entropy of each example's logits (batch, classes) against its class y (batch,)."""
    return keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)


def training_step(model, optimizer):
    """A compiled step(x, y): one optimizer update on the batch's mean loss.

    Returns (loss, accuracy, gradient norms per variable before clipping, update norm per variable).
    The accuracy is the batch's before the update: a fresh batch the model has not learnt from yet.
    Keras clips inside apply_gradients when the optimizer has clipnorm or global_clipnorm.
    """
    variables = model.trainable_variables
    optimizer.build(variables)

    @tf.function(reduce_retracing=True)
    def step(x, y):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)  # (batch, classes)
            loss = tf.reduce_mean(example_losses(y, logits))
        grads = tape.gradient(loss, variables)
        before = [tf.identity(v) for v in variables]
        optimizer.apply_gradients(zip(grads, variables))
        grad_norms = tf.stack([tf.norm(g) for g in grads])  # (variables,)
        update_norms = tf.stack([tf.norm(v - old) for v, old in zip(variables, before)])  # (variables,)
        correct = tf.equal(tf.argmax(logits, axis=-1, output_type=y.dtype), y)
        return loss, tf.reduce_mean(tf.cast(correct, tf.float32)), grad_norms, update_norms

    return lambda x, y: [t.numpy() for t in step(tf.constant(x), tf.constant(y))]


def accuracy(model, x, y, batch_size=512):
    """Share of examples whose largest logit is their class."""
    logits = np.concatenate([np.asarray(model(x[i:i + batch_size], training=False))
                             for i in range(0, len(x), batch_size)])
    return float(np.mean(logits.argmax(-1) == y))


def input_gradient_norms(model, x, y):
    """(time,) float64: ||dl/dx_t|| for each input step t, averaged over the examples.

    l is each example's own loss (summed over the batch, examples do not interact), so each
    row of the gradient is that example's dl/dx_t, (batch, time, features). The norm is taken in
    float64: squaring a float32 gradient of 1e-25 would underflow to 0.
    """
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(example_losses(tf.constant(y), model(x, training=False)))
    grad = tf.cast(tape.gradient(loss, x), tf.float64)  # (batch, time, features)
    return tf.reduce_mean(tf.norm(grad, axis=-1), axis=0).numpy()


def machine():
    """Where the figures were measured, for metrics.json."""
    import os
    import platform

    return {"cpu_cores": os.cpu_count(), "machine": platform.machine(),
            "gpus": len(tf.config.list_physical_devices("GPU")), "python": platform.python_version(),
            "keras": keras.__version__, "tensorflow": tf.__version__, "backend": keras.config.backend()}
