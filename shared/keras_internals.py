"""The one module that touches Keras's private names: each work-round, why, and where it applies.

Tested on Keras 3.15 only (pyproject.toml pins it). Everything else in shared/ and recipes/
uses public Keras APIs; tests/test_template.py checks that no other file reaches in here.

- `GradientHookAdam`: Adam that hands the gradients to `gradients_ready(grads)` where Keras
  clips them (`_clip_gradients`), and, with several replicas, only once they are summed
  (`_all_reduce_sum_gradients`): Keras 3 clips each replica's share before summing them
  (tensorflow issue 33929, "usually wrong"), which with 2 replicas loosened the clip about 2x.
- `work_round_multiworker_bugs(model)`: Keras 3 fit and evaluate fail under
  MultiWorkerMirroredStrategy (keras-team/keras#20585, open); applied only under that strategy.
"""
import keras


def replicas_in_sync():
    """Replicas that each compute a share of every gradient (tf.distribute); 1 on other backends."""
    if keras.config.backend() != "tensorflow":
        return 1
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    return 1 if context is None else context.num_replicas_in_sync


class GradientHookAdam(keras.optimizers.Adam):
    """Adam whose subclasses see (and clip) the whole gradient of each step in `gradients_ready`."""

    def gradients_ready(self, grads):
        """The step's gradients, summed over replicas; returns them clipped (default: Keras's clipping)."""
        return self.keras_clip(grads)

    def keras_clip(self, grads):
        """Keras's own clipping (clipnorm per variable, or global_clipnorm, or clipvalue)."""
        return super()._clip_gradients(grads)

    def _clip_gradients(self, grads):
        if replicas_in_sync() > 1:
            return grads  # each replica's share: clipped once summed, in _all_reduce_sum_gradients
        return self.gradients_ready(grads)

    def _all_reduce_sum_gradients(self, grads_and_vars):
        # TensorFlow backend, several replicas: sum the replicas' shares, then hand them over. Keras's
        # own sum keeps embedding gradients sparse, as on one device.
        grads_and_vars = super()._all_reduce_sum_gradients(grads_and_vars)
        if replicas_in_sync() == 1:
            return grads_and_vars
        grads = self.gradients_ready([grad for grad, _ in grads_and_vars])
        return [(grad, variable) for grad, (_, variable) in zip(grads, grads_and_vars)]


def work_round_multiworker_bugs(model):
    """Make Keras 3 fit and evaluate work under MultiWorkerMirroredStrategy (keras-team/keras#20585).

    Two places break, both reductions across workers:
    - before the first step Keras builds the model from `strategy.reduce("MEAN", batch)`, which
      the multiworker strategy cannot do to an (inputs, targets) structure ("Attempt to convert
      a value (PerReplica ...)"); only the shapes matter, so build from the local share;
    - each step's metrics (scalars) are averaged with `strategy.reduce("MEAN", v, axis=0)`,
      "Invalid reduction dimension 0 for input with 0 dimensions" (tensorflow#72388); average
      them over replicas with axis=None, which is what the single-machine strategies do.
    Does nothing on other strategies and backends.
    """
    strategy = getattr(model, "distribute_strategy", None)
    if keras.config.backend() != "tensorflow" or strategy is None:
        return
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer as tf_trainer

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return

    def local_share(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    def build(iterator=None, data_batch=None):
        if iterator is not None:
            for _, _, batches in iterator:  # as Keras does: the first batch of the epoch iterator
                data_batch = keras.tree.map_structure(local_share, next(batches))
                break
        with strategy.scope():
            model._symbolic_build(data_batch=data_batch)

    model._maybe_symbolic_build = build
    if not getattr(tf_trainer.reduce_per_replica, "works_round_multiworker", False):
        keras_reduce = tf_trainer.reduce_per_replica

        def reduce_per_replica(values, strategy, reduction):
            if reduction in ("auto", "mean") and tf_trainer._collective_all_reduce_multi_worker(strategy):
                return keras.tree.map_structure(lambda value: strategy.reduce("MEAN", value, axis=None), values)
            return keras_reduce(values, strategy, reduction)

        reduce_per_replica.works_round_multiworker = True
        tf_trainer.reduce_per_replica = reduce_per_replica
