"""The training harness every recipe uses: optimizer, callbacks, resume, seeding, devices.

    strategy = setup(config)                 # seed, precision, devices
    with strategy.scope():
        model = build_model(...)
        compile_model(model, config, loss=..., metrics=[...])
    history = fit(model, train_ds, val_ds, config, workdir)

What `fit` leaves in `workdir`: training_log.csv (loss, metrics and gradient
norms per epoch), tensorboard/, checkpoints/best.weights.h5 and, while a run is
unfinished, backup/ from which the same command resumes.
"""
import contextlib
import csv
import math
import time
import warnings
from pathlib import Path

import keras
from keras import ops

from shared import device
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
        present = [ops.convert_to_tensor(g) for g in grads if g is not None]
        norm = ops.sqrt(ops.sum(ops.stack([ops.sum(ops.square(ops.cast(g, "float32"))) for g in present])))
        total, count, largest = self.grad_norm_stats
        total.assign_add(norm)
        count.assign_add(1.0)
        largest.assign(ops.maximum(largest, norm))
        return super()._clip_gradients(grads)


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
    # jit_compile=False: XLA made recurrent models 2-3x slower on CPU, and cannot compile cuDNN ops.
    model.compile(optimizer=make_optimizer(config.lr, config.clipnorm, decay_steps), loss=loss,
                  metrics=list(metrics), jit_compile=False)


def _finished_epochs(log_path):
    """Rows of an earlier run's CSV log, to carry the best validation loss across a resume."""
    if not log_path.is_file():
        return []
    with log_path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def fit(model, train_data, val_data, config, workdir, *, config_json="", monitor="val_loss",
        extra_callbacks=(), verbose=2):
    """Train with early stopping, best-weights checkpoint, logs and resume; extra_callbacks run last.

    The model ends with the weights of its best epoch by `monitor`. Returns a dict:
    epochs (the CSV log's rows, across resumes), train_seconds, resumed_from_epoch.
    `config_json` is kept with the backup so a resume with other settings is refused.
    """
    workdir = Path(workdir)
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

    callbacks = [
        # BackupAndRestore first: on resume it sets the starting epoch before the others begin.
        keras.callbacks.BackupAndRestore(str(backup_dir)),
        GradientNormLogger(),  # before CSVLogger so its figures reach the log
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.EarlyStopping(monitor=monitor, patience=config.patience),
        keras.callbacks.ModelCheckpoint(str(best_path), monitor=monitor, save_best_only=True,
                                        save_weights_only=True, initial_value_threshold=best_so_far),
        keras.callbacks.CSVLogger(str(log_path), append=resuming),
        keras.callbacks.TensorBoard(str(workdir / "tensorboard"), write_graph=False),
        *extra_callbacks,
    ]
    started = time.perf_counter()
    with _unknown_size_allowed():
        history = model.fit(train_data, validation_data=val_data, epochs=config.epochs,
                            shuffle=False, callbacks=callbacks, verbose=verbose)  # data comes shuffled
    seconds = time.perf_counter() - started
    losses = history.history.get("loss", [])
    if losses and not math.isfinite(losses[-1]):
        raise TrainingError(f"the loss became {losses[-1]} in epoch {len(earlier) + len(losses)}; "
                            "try a lower --lr or a --clipnorm above 0")
    if not best_path.is_file():
        raise TrainingError(f"no epoch produced a finite {monitor}")
    model.load_weights(str(best_path))
    rows = _finished_epochs(log_path)
    return {"epochs": rows, "train_seconds": seconds, "resumed_from_epoch": len(earlier) or None}


def evaluate(model, data):
    """Metrics of `model` on a dataset of unknown size (length-bucketed), as a dict."""
    with _unknown_size_allowed():
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
