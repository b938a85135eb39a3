"""The training harness: compile with the shared optimizer, fit with logs, best checkpoint and resume.

    strategy = setup(seed=0, mixed_precision=False, strategy="auto")   # before any TensorFlow op
    with strategy.scope():
        model = build_model(...)
        compile_model(model, lr=1e-3, clipnorm=1.0, loss=...)
    history = fit(model, train_ds, val_ds, workdir, epochs=10, patience=2)

Recipes reach this through shared.run.TrainingRun, which passes their config's fields.
What `fit` leaves in `workdir/unfinished/`: training_log.csv (loss, metrics, gradient norms
and elapsed seconds per epoch), tensorboard/ and checkpoints/best.weights.h5, which
`publish_logs` moves into `workdir` once the run has published its model (an earlier run's
logs stay until then); and, while a run is unfinished, backup/ from which the same command
resumes. Under `--strategy multiworker`
only the chief writes there; every other worker keeps its own copies in workdir/.worker-N/
(its resume point) and removes them when training ends, so one run writes one set of results.

On backends other than TensorFlow (JAX, torch), `setup` returns a one-device stand-in and
`fit` takes (inputs, targets) arrays as well as datasets.
"""
import contextlib
import csv
import json
import math
import os
import shutil
import time
import warnings
from pathlib import Path

import keras

from shared import data, device
from shared.errors import TrainingError, UserError, writing
from shared.keras_internals import work_round_multiworker_bugs
from shared.optimizer import GradientNormLogger, make_optimizer
from shared.progress import fit_verbosity

UNFINISHED = "unfinished"  # in workdir: a run's logs until it publishes its model
LOG_NAMES = ("training_log.csv", "tensorboard", "checkpoints")  # what publish_logs moves


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

    def on_epoch_end(self, epoch, logs=None):
        # For the epoch's progress line only: fit places this callback after CSVLogger and
        # TensorBoard, so the log files keep their columns; Keras's ProgbarLogger runs last.
        if logs is not None:
            logs["budget_left_min"] = max(0.0, self.seconds - self.clock.elapsed()) / 60


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


class _NamesItsFile:
    """A writing callback whose full-disk errors name the file it writes (shared.errors.writing).

    h5py and the CSV writer raise without the path; the one-line message then says which file.
    """

    def on_train_begin(self, logs=None):
        with writing(self.written_file):
            super().on_train_begin(logs)

    def on_epoch_end(self, epoch, logs=None):
        with writing(self.written_file):
            super().on_epoch_end(epoch, logs)

    def on_train_batch_end(self, batch, logs=None):
        with writing(self.written_file):
            super().on_train_batch_end(batch, logs)


class _Backup(_NamesItsFile, keras.callbacks.BackupAndRestore):
    """BackupAndRestore that writes the SHA-256 of latest.weights.h5 once the file is complete.

    A save cut short (a full disk, a kill) can leave a file that h5py reads without error but that
    lacks layers (Keras's load then fails with a ValueError): check_resumable compares the digest.
    """

    @property
    def written_file(self):
        return self._weights_path

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        weights = Path(self._weights_path)
        if weights.is_file():
            with writing(_digest_path(weights)):
                _digest_path(weights).write_text(data.sha256(weights), encoding="utf-8")


def _digest_path(weights):
    return weights.with_name(weights.name + ".sha256")


class _Checkpoint(_NamesItsFile, keras.callbacks.ModelCheckpoint):
    @property
    def written_file(self):
        return self.filepath


class _CSVLog(_NamesItsFile, keras.callbacks.CSVLogger):
    @property
    def written_file(self):
        return self.filename


class _ShuffleEpoch(keras.callbacks.Callback):
    """Tells the shuffled pipelines (shared.data.slices) which epoch starts: order = f(seed, epoch)."""

    def on_epoch_begin(self, epoch, logs=None):
        data.set_shuffle_epoch(epoch)


def setup(*, seed, mixed_precision=False, strategy="auto"):
    """Seed everything, set the precision policy, and pick the distribution strategy (device.STRATEGIES)."""
    keras.utils.set_random_seed(seed)
    device.set_mixed_precision(mixed_precision)
    return device.strategy(strategy)


def compile_model(model, *, lr, clipnorm, loss, metrics=(), decay_steps=None):
    """Compile with the shared optimizer (optimizer.make_optimizer): Adam, clipnorm per variable (0: off),
    a cosine decay to 0 over `decay_steps` steps when given, else a constant rate."""
    # Keywords only: compile's third positional argument is loss_weights, not metrics.
    # TensorFlow: jit_compile=False: XLA cannot compile cuDNN ops, and recompiles for every new shape that
    # length-bucketed batches bring (make bench, sentiment:train_xla, compares the two on CPU).
    # JAX has no other fast path than XLA: without jit every step runs op by op.
    jit_compile = False if keras.config.backend() == "tensorflow" else "auto"
    model.compile(optimizer=make_optimizer(lr, clipnorm, decay_steps), loss=loss,
                  metrics=list(metrics), jit_compile=jit_compile)
    work_round_multiworker_bugs(model)


def _finished_epochs(log_path):
    """Rows of an earlier run's CSV log, to carry the best validation loss across a resume."""
    if not log_path.is_file():
        return []
    with log_path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def fit(model, train_data, val_data, workdir, *, epochs, patience, batch_size=32, config_json="",
        monitor="val_loss", budget_seconds=0, base_lr=None, extra_callbacks=(), validator=None, verbose=None):
    """Train with early stopping, best-weights checkpoint, logs and resume; extra_callbacks run last.

    train_data and val_data: datasets of batches, or (inputs, targets) arrays, which are
    batched by batch_size per replica and shuffled each epoch.
    budget_seconds: stop training within this many seconds, counted across resumes (TimeBudget);
    base_lr: the constant rate it lowers over the last 30% (None: a schedule, left alone).
    A resumed run continues as the uninterrupted one would: the shuffle order of each epoch
    (shared.data.slices), early stopping's count and the time budget carry over.
    The model ends with the weights of its best epoch by `monitor`. Returns a dict:
    epochs (the CSV log's rows, across resumes), train_seconds, resumed_from_epoch.
    `config_json` is kept with the backup so a resume with other settings is refused.
    validator: a callback that writes the validation figures (`monitor` among them) into each
    epoch's logs itself, in place of Keras's pass over val_data (then None); it runs before the
    callbacks that read them. Its time counts in elapsed_seconds, not in TimeBudget's look-ahead.
    verbose: Keras's; None: the progress bar on a terminal, one line per epoch in a file or log
    (shared.progress.fit_verbosity); with a budget, that line ends with budget_left_min.
    """
    strategy = getattr(model, "distribute_strategy", None)  # TensorFlow backend only
    chief = device.is_chief(strategy)
    workdir = Path(workdir)
    if not chief:  # a multiworker worker: its own files, never the chief's
        workdir = workdir / f".{device.worker_name(strategy)}"
    backup_dir = workdir / "backup"
    resuming = is_interrupted(workdir)  # the caller checked it can resume (check_resumable; TrainingRun does)
    # This run's logs and best checkpoint, beside its backup: the finished run's in workdir stay
    # untouched until this one publishes its model (publish_logs).
    staging = workdir / UNFINISHED
    if not resuming:
        shutil.rmtree(staging, ignore_errors=True)  # a failed earlier attempt's logs, and its stale best
    backup_dir.mkdir(parents=True, exist_ok=True)
    with writing(backup_dir / "config.json"):
        (backup_dir / "config.json").write_text(config_json, encoding="utf-8")
    log_path = staging / "training_log.csv"
    earlier = _finished_epochs(log_path) if resuming else []
    best_path = staging / "checkpoints" / "best.weights.h5"
    best_path.parent.mkdir(parents=True, exist_ok=True)
    best_so_far = min((float(row[monitor]) for row in earlier if row.get(monitor)), default=None)
    if resuming:
        print(f"resuming from epoch {len(earlier) + 1} of {epochs}: {backup_dir} holds the run's last "
              "finished epoch (delete it to start afresh)")
    clock = EpochClock(before=float(earlier[-1].get("elapsed_seconds") or 0) if earlier else 0.0)
    budget = []
    if budget_seconds:
        # The base rate from the caller: the optimizer restored from a backup holds the lowered one.
        budget = [TimeBudget(budget_seconds, base_lr=base_lr, clock=clock)]

    callbacks = [
        # BackupAndRestore first: on resume it sets the starting epoch before the others begin.
        _Backup(str(backup_dir)),
        _ShuffleEpoch(),
        *([validator] if validator is not None else []),  # before the clock and everything that reads val_
        clock,
        GradientNormLogger(),  # before CSVLogger so its figures reach the log
        keras.callbacks.TerminateOnNaN(),
        ResumableEarlyStopping(earlier, monitor=monitor, patience=patience),
        _Checkpoint(str(best_path), monitor=monitor, save_best_only=True,
                                        save_weights_only=True, initial_value_threshold=best_so_far),
        _CSVLog(str(log_path), append=resuming),
        *_tensorboard(staging / "tensorboard"),
        *budget,
        *extra_callbacks,
    ]
    if isinstance(train_data, tuple):  # arrays: Keras batches and shuffles them
        replicas = getattr(strategy, "num_replicas_in_sync", 1)
        inputs = {"x": train_data[0], "y": train_data[1], "batch_size": batch_size * replicas,
                  "shuffle": True}
    else:
        inputs = {"x": train_data, "shuffle": False}  # datasets come shuffled
    started = time.perf_counter()
    with _unknown_size_allowed(), writing(staging):  # staging: where else it writes (TensorBoard's events)
        history = model.fit(**inputs, validation_data=val_data, epochs=epochs,
                            callbacks=callbacks, verbose=fit_verbosity() if verbose is None else verbose)
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


def publish_logs(workdir):
    """Move a finished run's logs and best checkpoint from workdir/unfinished/ into workdir.

    Called once the run's model is published: the earlier run's training_log.csv, tensorboard/
    and checkpoints/ are replaced only then, so a run that fails or is killed before it has a
    model leaves the good run's logs as they were.
    """
    workdir = Path(workdir)
    staging = workdir / UNFINISHED
    for name in LOG_NAMES:
        source, target = staging / name, workdir / name
        if not source.exists():
            continue
        if target.is_dir():
            shutil.rmtree(target)  # os.replace cannot replace a folder that has files
        os.replace(source, target)
    shutil.rmtree(staging, ignore_errors=True)


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
    """Refuse to resume an interrupted run in `workdir` with different settings, or from a damaged backup.

    Writes nothing; every refusal is one line naming the file and saying to delete backup/.
    """
    backup = Path(workdir) / "backup"
    if not is_interrupted(workdir):
        return
    fresh = f"use another --out, or delete {backup}/ to start afresh"
    saved = backup / "config.json"
    if saved.is_file() and saved.read_text(encoding="utf-8", errors="replace") != config_json:
        raise UserError(f"{workdir}: holds an interrupted run with other settings ({saved}); {fresh}")
    try:  # what BackupAndRestore will read: its epoch counter, then the weights
        int(json.loads((backup / "training_metadata.json").read_text(encoding="utf-8"))["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        raise UserError(f"{backup / 'training_metadata.json'}: damaged (not the backup's JSON epoch record); "
                        f"{fresh}") from None
    weights = backup / "latest.weights.h5"
    digest = _digest_path(weights)
    if weights.exists() and digest.is_file() and digest.read_text(encoding="utf-8").strip() != data.sha256(weights):
        raise UserError(f"{weights}: damaged (not the file {digest.name} fingerprints); {fresh}")
    if weights.exists() and not _readable_h5(weights):  # a backup from before the digest was kept
        raise UserError(f"{weights}: damaged (not a readable HDF5 weights file); {fresh}")


def _readable_h5(path):
    """Whether every dataset of an HDF5 file reads back: a file truncated by a full disk or a kill opens,
    often, and fails only where its data is missing."""
    import h5py
    import numpy as np

    def read(name, item):
        if isinstance(item, h5py.Dataset):
            np.asarray(item[()])

    try:
        with h5py.File(path, "r") as handle:
            handle.visititems(read)
        return True
    except Exception:  # noqa: BLE001  (h5py raises OSError, KeyError, RuntimeError... for a damaged file)
        return False
