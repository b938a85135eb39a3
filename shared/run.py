"""One training run and its output folder: what a recipe's train.py hands over to shared/.

    def main(argv=None):
        return TrainingRun.main(Config, argv, train, recipe=RECIPE, description=__doc__,
                                smoke={"epochs": 2})

    def train(run):                               # the recipe's task, top to bottom
        config = run.config                       # parsed and validated; --smoke caps applied
        ... load and split the data, batches of run.batch_size ...
        with run.scope():                         # the distribution strategy's scope
            network = build(...)
            run.compile(network, loss=..., metrics=[...], steps_per_epoch=...)
        run.fit(network, train_batches, val_batches)
        run.save(model_for_users, {"vocab.json": ...})   # the model first: scoring cannot lose it
        ... evaluate once on the test split, beside the baselines ...
        return run.finish(metrics)                 # metrics.json, and the summary line

The run owns, in this order: parsing (unknown or ill-typed options are one line, exit 2);
the resume check (an interrupted run in --out with other settings is refused before any data
is read); the writability of --out; seeding, the precision policy and the distribution strategy
(before any TensorFlow op); the batch across replicas; compile; fit (training_log.csv,
checkpoints/, backup/ and resume, the time budget); the chief guard; atomic publishing of the
model, config.json, curves.png and metrics.json. User mistakes anywhere end in one line.

Keras loads when a run starts, not with this module (shared.training is imported where it is
used): `--help` and option errors answer before TensorFlow loads, in well under a second.
"""
import os
import shutil
from pathlib import Path

from shared.artifacts import check_writable, publish
from shared.config import TrainConfig, option, parse, to_json
from shared.errors import RESUME, UserError, reported
from shared.report import metrics_json, plot_curves, training_facts

LOCK_NAME = ".lock"  # in --out while a run trains there: holds the process id
NO_BACKUP = "there is no backup to resume from: the same command starts afresh"  # said on Ctrl-C without one


def resumable(out):
    """Whether --out holds the backup of an unfinished run (shared.training.is_interrupted, the chief's or a
    multiworker worker's), checked without loading Keras: Ctrl-C in the first seconds is answered at once."""
    return any(Path(out).glob("backup/training_metadata.json")) or any(
        Path(out).glob(".worker-*/backup/training_metadata.json"))


def lock_folder(out):
    """An exclusive lock on out/.lock (the folder is created); a UserError naming the holder if taken."""
    import fcntl

    out.mkdir(parents=True, exist_ok=True)
    handle = open(out / LOCK_NAME, "a+", encoding="utf-8")  # noqa: SIM115  (held for the whole run)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise UserError(f"--out {out}: another run is training there (process {holder}); wait for it to "
                        "finish, or use another --out") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


class TrainingRun:
    """A training run of `recipe` with `config`, writing to config.out."""

    def __init__(self, config, recipe):
        self.config, self.recipe, self.out = config, recipe, Path(config.out)
        from shared import training  # Keras loads here, once the command line is parsed

        self.config_json = to_json(config, recipe)
        training.check_resumable(self.out, self.config_json)  # before anything is read or written
        check_writable(self.out)
        self.strategy = training.setup(seed=config.seed, mixed_precision=config.mixed_precision,
                                       strategy=config.strategy)
        self._created = not self.out.exists()
        # One run at a time in a folder. Other multiworker workers write only in their own .worker-N/.
        self._lock = lock_folder(self.out) if self.chief else None
        self.history = None

    def close(self):
        """Release the folder; a folder this run created and left empty (it stopped early) goes too."""
        if self._lock is None:
            return
        (self.out / LOCK_NAME).unlink(missing_ok=True)
        self._lock.close()
        self._lock = None
        if self._created and self.out.is_dir() and not any(self.out.iterdir()):
            self.out.rmdir()

    @classmethod
    def main(cls, config_class, argv, train, *, recipe, description=None, epilog=None, smoke=None, command=""):
        """Parse argv into config_class, start the run and return train(run); user mistakes are one line.

        smoke: {field: cap} applied to the config under --smoke (e.g. {"epochs": 2}), so the
        saved config says what ran. command: the sub-command's name, for messages (e.g. "home").
        """
        prog = " ".join(filter(None, ("python -m recipes." + recipe, command)))
        parsed = []
        with reported(prog, after_interrupt=lambda: RESUME if parsed and resumable(parsed[0].out) else NO_BACKUP):
            config = parse(config_class, argv, recipe=recipe, description=description, epilog=epilog, prog=prog)
            parsed.append(config)
            if config.smoke:
                for name, cap in (smoke or {}).items():
                    setattr(config, name, min(getattr(config, name), cap))
            run = cls(config, recipe)
            try:
                result = train(run)
                run.discard_unpublished_logs()
                return result
            finally:
                run.close()

    # --- training -------------------------------------------------------------------------

    @property
    def batch_size(self):
        """Examples per step: --batch-size per replica, times the replicas."""
        return self.config.batch_size * self.strategy.num_replicas_in_sync

    @property
    def chief(self):
        """Whether this process writes the results (every process but a non-chief multiworker worker)."""
        from shared.device import is_chief

        return is_chief(self.strategy)

    def scope(self):
        """Build and compile models inside this: their variables then live on the strategy's devices."""
        return self.strategy.scope()

    def compile(self, model, *, loss, metrics=(), steps_per_epoch=None):
        """Compile with the shared optimizer; --lr-schedule cosine needs steps_per_epoch."""
        compile_from_config(model, self.config, loss=loss, metrics=metrics, steps_per_epoch=steps_per_epoch)

    def fit(self, model, train_data, val_data, *, budget_minutes=0.0, callbacks=(), validator=None):
        """Train with early stopping and resume; the model ends with its best epoch's weights.

        callbacks: more Keras callbacks, run after the shared ones; validator: one that scores
        validation itself (shared.training.fit), val_data then None.
        Returns the history: epochs (the log's rows, across resumes), train_seconds, resumed_from_epoch.
        """
        self.history = fit_from_config(model, train_data, val_data, self.config, self.out,
                                       config_json=self.config_json, budget_seconds=budget_minutes * 60,
                                       extra_callbacks=callbacks, validator=validator)
        return self.history

    def evaluate(self, model, data):
        """Metrics of `model` on batches or (inputs, targets): run by every worker under multiworker."""
        from shared import training

        return training.evaluate(model, data)

    def best_epoch_logs(self, prefix="val_"):
        """{metric: value} of the best epoch's row in the log, for names starting with prefix (stripped)."""
        rows = self.history["epochs"]
        best = min(rows, key=lambda row: float(row["val_loss"]))
        return {k.removeprefix(prefix): float(v) for k, v in best.items() if k.startswith(prefix) and v}

    def discard_unpublished_logs(self):
        """Remove unfinished/, where fit keeps a run's logs and best checkpoint until save() publishes them,
        once the command has done its work without publishing a model (`validate` reports its own file).
        A failed command leaves them for a look; the next run clears them; a resumable run keeps them."""
        from shared import training

        if self.chief and not training.is_interrupted(self.out):
            shutil.rmtree(self.out / training.UNFINISHED, ignore_errors=True)

    # --- results --------------------------------------------------------------------------

    def save(self, model, files=None, curves=("loss",)):
        """The chief publishes the model, config.json, `files` and curves.png, before any scoring.

        An earlier run's metrics.json, which described another model, goes once the new model is in;
        the run's logs (training_log.csv, tensorboard/, checkpoints/) move into place after it.
        """
        if not self.chief:
            return
        curves_png = plot_curves(self.history["epochs"], curves)
        publish(self.out, {"config.json": self.config_json, "curves.png": curves_png, **(files or {})},
                model=model, stale=("metrics.json",))
        from shared import training

        training.publish_logs(self.out)  # the new logs replace the earlier run's only now

    def finish(self, metrics, files=None):
        """The chief writes metrics.json (with the training facts) and `files`; returns the metrics."""
        metrics = {"recipe": self.recipe, "smoke": self.config.smoke, **metrics, **training_facts(self.history)}
        if not self.chief:
            print("\nfinished; the chief worker saves the model")
            return metrics
        publish(self.out, {"metrics.json": metrics_json(metrics), **(files or {})})
        print(f"\nsaved the model, its settings, metrics and curves in {self.out}/ "
              f"({metrics['train_seconds'] / 60:.1f} min of training)")
        return metrics


def compile_from_config(model, config, *, loss, metrics=(), steps_per_epoch=None):
    """shared.training.compile_model with a TrainConfig's settings (lr, clipnorm, lr_schedule, epochs)."""
    from shared import training

    decay_steps = None
    if config.lr_schedule == "cosine":
        if not steps_per_epoch:
            raise UserError("--lr-schedule cosine is not available in this recipe")
        decay_steps = config.epochs * steps_per_epoch
    training.compile_model(model, lr=config.lr, clipnorm=config.clipnorm, loss=loss, metrics=metrics,
                           decay_steps=decay_steps)


def fit_from_config(model, train_data, val_data, config, workdir, **options):
    """shared.training.fit with a TrainConfig's settings (epochs, patience, batch_size, lr for a time budget)."""
    from shared import training

    base_lr = config.lr if config.lr_schedule == "constant" else None  # a schedule is left alone
    return training.fit(model, train_data, val_data, workdir, epochs=config.epochs, patience=config.patience,
                        batch_size=config.batch_size, base_lr=base_lr, **options)


__all__ = ["TrainConfig", "TrainingRun", "option"]  # what a recipe imports from here
