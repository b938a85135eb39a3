"""The optimizer every recipe trains with: Adam, per-variable clipping, and a log of gradient norms.

`clipnorm` (what recipes use) clips each variable's gradient to that norm on its own;
`global_clipnorm` would scale all gradients together so that their joint norm is at most the
value, keeping their direction. Per-variable clipping stops one exploding weight matrix
(typically the recurrent kernel) without shrinking the updates of every other layer.
"""
import keras
from keras import ops

from shared.keras_internals import GradientHookAdam


@keras.saving.register_keras_serializable(package="shared")
class Adam(GradientHookAdam):
    """Adam that also records the global gradient norm of every step, before clipping."""

    def build(self, variables):
        super().build(variables)
        # Running sum, count and max of the norms since the last reset (read once per epoch).
        self.grad_norm_stats = [
            self.add_variable((), name=f"grad_norm_{what}", aggregation="only_first_replica")
            for what in ("sum", "count", "max")
        ]

    def gradients_ready(self, grads):
        # Embedding gradients (TensorFlow IndexedSlices) hold one row per token occurrence: sum the
        # rows of repeated ids first, or both the norm and Keras's per-variable clip see too little.
        grads = [rows_summed(g) for g in grads]
        present = [ops.convert_to_tensor(g) for g in grads if g is not None]
        norm = ops.sqrt(ops.sum(ops.stack([ops.sum(ops.square(ops.cast(g, "float32"))) for g in present])))
        total, count, largest = self.grad_norm_stats
        total.assign_add(norm)
        count.assign_add(1.0)
        largest.assign(ops.maximum(largest, norm))
        return self.keras_clip(grads)


def rows_summed(grad):
    """A sparse (IndexedSlices) gradient with the rows of repeated indices summed; others unchanged.

    TensorFlow hands an embedding's gradient over unsummed: ids [3, 3] give two rows for row 3. Its
    norm is then sqrt(a^2 + b^2) instead of |a + b|, 12x too small at textgen's start. JAX gradients
    are dense already, so both backends now log and clip the same numbers.
    """
    if grad is None or keras.config.backend() != "tensorflow":
        return grad
    import tensorflow as tf

    if not isinstance(grad, tf.IndexedSlices):
        return grad
    rows, positions = tf.unique(grad.indices)  # (unique ids,), (occurrences,) -> index into rows
    values = tf.math.unsorted_segment_sum(grad.values, positions, tf.shape(rows)[0])  # (unique ids, dim)
    return tf.IndexedSlices(values, rows, grad.dense_shape)


def make_optimizer(lr, clipnorm, decay_steps=None):
    """Adam with per-variable gradient clipping (clipnorm 0: off); with decay_steps, a cosine schedule

    from lr down to 0 over that many steps (annealing lets the last epoch settle instead of overfit).
    """
    if decay_steps:
        lr = keras.optimizers.schedules.CosineDecay(lr, decay_steps)
    return Adam(learning_rate=lr, clipnorm=clipnorm if clipnorm > 0 else None)


class GradientNormLogger(keras.callbacks.Callback):
    """Adds grad_norm_mean and grad_norm_max (before clipping) to each epoch's logs."""

    def on_epoch_begin(self, epoch, logs=None):
        for variable in self._stats():
            variable.assign(0.0)

    def on_epoch_end(self, epoch, logs=None):
        total, count, largest = (float(ops.convert_to_numpy(v)) for v in self._stats())
        if logs is not None and count:
            logs["grad_norm_mean"] = total / count
            logs["grad_norm_max"] = largest

    def _stats(self):
        optimizer = getattr(self.model.optimizer, "inner_optimizer", self.model.optimizer)
        return getattr(optimizer, "grad_norm_stats", [])
