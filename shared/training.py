"""The training harness every recipe uses: optimizer, callbacks, resume, seeding, devices.

    strategy = setup(config)                 # seed, precision, devices
    with strategy.scope():
        model = build_model(...)
        compile_model(model, config, loss=..., metrics=[...])
    history = fit(model, train_ds, val_ds, config, workdir)

What `fit` leaves in `workdir`: training_log.csv (loss, metrics and gradient
norms per epoch), tensorboard/, checkpoints/best.weights.h5 and, while a run is
unfinished, backup/ from which the same command resumes. Under
`--strategy multiworker` only the chief writes there; every other worker keeps
its own copies in workdir/.worker-N/ (its resume point) and removes them when
training ends, so one run writes one set of results.

On backends other than TensorFlow (JAX, torch), `setup` returns a one-device
stand-in and `fit` takes (inputs, targets) arrays as well as datasets.
"""
import contextlib
import csv
import math
import shutil
import time
import warnings
from pathlib import Path

import keras
from keras import ops

from shared import data, device
from shared.errors import TrainingError, UserError


@keras.saving.register_keras_serializable(package="shared")
class Adam(keras.optimizers.Adam):
    """Adam that also records the global gradient norm before clipping.

    `clipnorm` (what recipes use) clips each variable's gradient to that norm on its
    own; `global_clipnorm` would scale all gradients together so that their joint
    norm is at most the value, keeping their direction. Per-variable clipping stops
    one exploding weight matrix (typically the recurrent kernel) without shrinking
    the updates of every other layer.
    """

    def build(self, variables):
        super().build(variables)
        # Running sum, count and max of the norms since the last reset (read once per epoch).
        self.grad_norm_stats = [
            self.add_variable((), name=f"grad_norm_{what}", aggregation="only_first_replica")
            for what in ("sum", "count", "max")
        ]

    def _clip_gradients(self, grads):
        if _replicas_in_sync() > 1:
            return grads  # each replica's share: clipped once summed, in _all_reduce_sum_gradients
        return self._record_norm_and_clip(grads)

    def _all_reduce_sum_gradients(self, grads_and_vars):
        """TensorFlow backend, several replicas: sum the replicas' shares, then record and clip.

        Keras 3 clips each replica's share before summing them (tensorflow issue 33929:
        "usually wrong"), which with 2 replicas loosens the clip about 2x and logs half
        the norm. Clipping the sum makes clipping and the logged norm the same on N
        devices as on one; Keras's own sum keeps embedding gradients sparse, as on one device.
        """
        grads_and_vars = super()._all_reduce_sum_gradients(grads_and_vars)
        if _replicas_in_sync() == 1:
            return grads_and_vars
        grads = self._record_norm_and_clip([grad for grad, _ in grads_and_vars])
        return [(grad, variable) for grad, (_, variable) in zip(grads, grads_and_vars)]

    def _record_norm_and_clip(self, grads):
        # Embedding gradients (TensorFlow IndexedSlices) hold one row per token occurrence: sum the
        # rows of repeated ids first, or both the norm and Keras's per-variable clip see too little.
        grads = [_rows_summed(g) for g in grads]
        present = [ops.convert_to_tensor(g) for g in grads if g is not None]
        norm = ops.sqrt(ops.sum(ops.stack([ops.sum(ops.square(ops.cast(g, "float32"))) for g in present])))
        total, count, largest = self.grad_norm_stats
        total.assign_add(norm)
        count.assign_add(1.0)
        largest.assign(ops.maximum(largest, norm))
        return super()._clip_gradients(grads)


def _rows_summed(grad):
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


def _replicas_in_sync():
    """Replicas that each compute a share of every gradient (tf.distribute); 1 on other backends."""
    if keras.config.backend() != "tensorflow":
        return 1
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    return 1 if context is None else context.num_replicas_in_sync


class TimeBudget(keras.callbacks.Callback):
    """Stops training so that training plus the last validation pass fit in `seconds`.

    With a constant learning rate (`base_lr` given), over the last `cooldown` share of the time
    the rate falls linearly from `base_lr` to a tenth (smaller final steps settle into a lower
    loss); with a schedule (`base_lr` None) the rate is left alone. `base_lr` comes from the
    config, never from the optimizer: after a resume the optimizer holds the lowered rate.
    `clock` counts training seconds across resumes (fit's EpochClock); without one the budget
    starts at train begin. Recipes with a `--minutes` option (textgen, translate) use it via fit.
    """

    def __init__(self, seconds, base_lr=None, clock=None, cooldown=0.3):
        super().__init__()
        self.seconds, self.base_lr, self.cooldown, self.val_seconds = seconds, base_lr, cooldown, 0.0
        self.clock = clock

    def on_train_begin(self, logs=None):
        if self.clock is None:
            self.clock = EpochClock()
            self.clock.on_train_begin()

    def on_test_begin(self, logs=None):
        self.val_started = time.perf_counter()

    def on_test_end(self, logs=None):
        self.val_seconds = time.perf_counter() - self.val_started

    def left(self):
        """Share of the budget left, counting the coming validation pass as spent."""
        return 1 - (self.clock.elapsed() + self.val_seconds) / self.seconds

    def on_train_batch_begin(self, batch, logs=None):
        if self.base_lr is not None:
            # The setter of a LossScaleOptimizer (mixed precision) sets its inner optimizer's rate.
            self.model.optimizer.learning_rate = self.base_lr * (
                0.1 + 0.9 * min(1.0, max(0.0, self.left()) / self.cooldown))

    def on_train_batch_end(self, batch, logs=None):
        if self.left() <= 0:
            self.model.stop_training = True


class EpochClock(keras.callbacks.Callback):
    """Seconds of training (validation passes included) across resumes; logged as `elapsed_seconds`.

    A resumed run starts from the figure its last finished epoch logged, so a time budget and the
    reported training time count the killed part too.
    """

    def __init__(self, before=0.0):
        super().__init__()
        self.before, self.started = before, None

    def on_train_begin(self, logs=None):
        self.started = time.perf_counter()

    def elapsed(self):
        return self.before + (time.perf_counter() - self.started if self.started is not None else 0.0)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["elapsed_seconds"] = self.elapsed()


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """EarlyStopping that carries its best value and patience count across a resume.

    `earlier`: the CSV log rows of the epochs finished before the resume. Keras's own resets both,
    so a resumed run would wait `patience` epochs more than the uninterrupted one.
    """

    def __init__(self, earlier=(), **kwargs):
        super().__init__(**kwargs)
        self.earlier = [float(row[self.monitor]) for row in earlier if row.get(self.monitor)]

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.earlier:
            best_index = min(range(len(self.earlier)), key=self.earlier.__getitem__)
            self.best, self.best_epoch = self.earlier[best_index], best_index
            self.wait = len(self.earlier) - 1 - best_index


class _ShuffleEpoch(keras.callbacks.Callback):
    """Tells the shuffled pipelines (shared.data.slices) which epoch starts: order = f(seed, epoch)."""

    def on_epoch_begin(self, epoch, logs=None):
        data.set_shuffle_epoch(epoch)


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


def setup(config):
    """Seed everything, set the precision policy, and pick the distribution strategy."""
    keras.utils.set_random_seed(config.seed)
    device.set_mixed_precision(config.mixed_precision)
    return device.strategy(config.strategy)


def compile_model(model, config, *, loss, metrics=(), steps_per_epoch=None):
    """Compile with the shared optimizer; config.lr_schedule "cosine" needs steps_per_epoch."""
    decay_steps = None
    if getattr(config, "lr_schedule", "constant") == "cosine":
        if not steps_per_epoch:
            raise UserError("--lr-schedule cosine is not available in this recipe")
        decay_steps = config.epochs * steps_per_epoch
    # Keywords only: compile's third positional argument is loss_weights, not metrics.
    # TensorFlow: jit_compile=False: XLA cannot compile cuDNN ops, and recompiles for every new shape that
    # length-bucketed batches bring (make bench, sentiment:train_xla, compares the two on CPU).
    # JAX has no other fast path than XLA: without jit every step runs op by op.
    jit_compile = False if keras.config.backend() == "tensorflow" else "auto"
    model.compile(optimizer=make_optimizer(config.lr, config.clipnorm, decay_steps), loss=loss,
                  metrics=list(metrics), jit_compile=jit_compile)
    _work_round_multiworker_bugs(model)


def _work_round_multiworker_bugs(model):
    """Keras 3 fit and evaluate fail under MultiWorkerMirroredStrategy (keras-team/keras#20585, open).

    Two places break, both reductions across workers:
    - before the first step Keras builds the model from `strategy.reduce("MEAN", batch)`, which
      the multiworker strategy cannot do to an (inputs, targets) structure ("Attempt to convert
      a value (PerReplica ...)"); only the shapes matter, so build from the local share;
    - each step's metrics (scalars) are averaged with `strategy.reduce("MEAN", v, axis=0)`,
      "Invalid reduction dimension 0 for input with 0 dimensions" (tensorflow#72388); average
      them over replicas with axis=None, which is what the single-machine strategies do.
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


def _finished_epochs(log_path):
    """Rows of an earlier run's CSV log, to carry the best validation loss across a resume."""
    if not log_path.is_file():
        return []
    with log_path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def fit(model, train_data, val_data, config, workdir, *, config_json="", monitor="val_loss",
        budget_seconds=0, extra_callbacks=(), verbose=2):
    """Train with early stopping, best-weights checkpoint, logs and resume; extra_callbacks run last.

    train_data and val_data: datasets of batches, or (inputs, targets) arrays, which are
    batched by config.batch_size per replica and shuffled each epoch.
    budget_seconds: stop training within this many seconds, counted across resumes (TimeBudget).
    A resumed run continues as the uninterrupted one would: the shuffle order of each epoch
    (shared.data.slices), early stopping's count and the time budget carry over.
    The model ends with the weights of its best epoch by `monitor`. Returns a dict:
    epochs (the CSV log's rows, across resumes), train_seconds, resumed_from_epoch.
    `config_json` is kept with the backup so a resume with other settings is refused.
    """
    strategy = getattr(model, "distribute_strategy", None)  # TensorFlow backend only
    chief = device.is_chief(strategy)
    workdir = Path(workdir)
    if not chief:  # a multiworker worker: its own files, never the chief's
        workdir = workdir / f".{device.worker_name(strategy)}"
    backup_dir = workdir / "backup"
    check_resumable(workdir, config_json)
    resuming = is_interrupted(workdir)
    backup_dir.mkdir(parents=True, exist_ok=True)
    (backup_dir / "config.json").write_text(config_json, encoding="utf-8")
    log_path = workdir / "training_log.csv"
    earlier = _finished_epochs(log_path) if resuming else []
    best_path = workdir / "checkpoints" / "best.weights.h5"
    best_path.parent.mkdir(parents=True, exist_ok=True)
    if not resuming:
        best_path.unlink(missing_ok=True)  # a stale best from an earlier run must not be loaded
    best_so_far = min((float(row[monitor]) for row in earlier if row.get(monitor)), default=None)
    clock = EpochClock(before=float(earlier[-1].get("elapsed_seconds") or 0) if earlier else 0.0)
    budget = []
    if budget_seconds:
        # The base rate from the config: the optimizer restored from a backup holds the lowered one.
        constant = config.lr_schedule == "constant"
        budget = [TimeBudget(budget_seconds, base_lr=config.lr if constant else None, clock=clock)]

    callbacks = [
        # BackupAndRestore first: on resume it sets the starting epoch before the others begin.
        keras.callbacks.BackupAndRestore(str(backup_dir)),
        _ShuffleEpoch(),
        clock,
        GradientNormLogger(),  # before CSVLogger so its figures reach the log
        keras.callbacks.TerminateOnNaN(),
        ResumableEarlyStopping(earlier, monitor=monitor, patience=config.patience),
        keras.callbacks.ModelCheckpoint(str(best_path), monitor=monitor, save_best_only=True,
                                        save_weights_only=True, initial_value_threshold=best_so_far),
        keras.callbacks.CSVLogger(str(log_path), append=resuming),
        *_tensorboard(workdir / "tensorboard"),
        *budget,
        *extra_callbacks,
    ]
    if isinstance(train_data, tuple):  # arrays: Keras batches and shuffles them
        replicas = getattr(strategy, "num_replicas_in_sync", 1)
        inputs = {"x": train_data[0], "y": train_data[1], "batch_size": config.batch_size * replicas,
                  "shuffle": True}
    else:
        inputs = {"x": train_data, "shuffle": False}  # datasets come shuffled
    started = time.perf_counter()
    with _unknown_size_allowed():
        history = model.fit(**inputs, validation_data=val_data, epochs=config.epochs,
                            callbacks=callbacks, verbose=verbose)
    seconds = time.perf_counter() - started + clock.before  # the killed part of a resumed run too
    losses = history.history.get("loss", [])
    if losses and not math.isfinite(losses[-1]):
        raise TrainingError(f"the loss became {losses[-1]} in epoch {len(earlier) + len(losses)}; "
                            "try a lower --lr or a --clipnorm above 0")
    if not best_path.is_file():
        raise TrainingError(f"no epoch produced a finite {monitor}")
    model.load_weights(str(best_path))
    rows = _finished_epochs(log_path)
    if not chief:
        shutil.rmtree(workdir, ignore_errors=True)  # finished: nothing left to resume from
    return {"epochs": rows, "train_seconds": seconds, "resumed_from_epoch": len(earlier) or None}


def _tensorboard(logdir):
    """The TensorBoard callback where TensorFlow is installed (it writes with tf.summary), else none."""
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        return []
    return [keras.callbacks.TensorBoard(str(logdir), write_graph=False)]


def evaluate(model, data):
    """Metrics of `model` on a dataset of unknown size (length-bucketed), or (inputs, targets) arrays."""
    with _unknown_size_allowed():
        if isinstance(data, tuple):
            return model.evaluate(data[0], data[1], return_dict=True, verbose=0)
        return model.evaluate(data, return_dict=True, verbose=0)


@contextlib.contextmanager
def _unknown_size_allowed():
    # Length-bucketed datasets have no known number of batches; Keras warns when one ends.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        yield


def is_interrupted(workdir):
    """True when `workdir` holds the backup of a run that did not finish (BackupAndRestore's files)."""
    return (Path(workdir) / "backup" / "training_metadata.json").is_file()


def check_resumable(workdir, config_json):
    """Refuse to resume an interrupted run in `workdir` with different settings (writes nothing)."""
    saved = Path(workdir) / "backup" / "config.json"
    if is_interrupted(workdir) and saved.is_file() and saved.read_text(encoding="utf-8") != config_json:
        raise UserError(f"{workdir}: holds an interrupted run with other settings ({saved}); "
                        "use another --out, or delete its backup/ folder to start afresh")
