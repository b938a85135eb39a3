"""Training runs that need a process of their own, for tests/test_distribute.py.

TensorFlow fixes its devices and its cluster when it starts, so each of these
runs in a fresh interpreter:

    python tests/distributed_runs.py mirrored RESULTS.json WORKDIR TEXT
        two logical CPU devices: the tiny problem trained on one device and on both
        (mirrored), a mirrored run interrupted after epoch 2 and resumed, and the
        textgen recipe's --smoke run on TEXT with --strategy mirrored
    python tests/distributed_runs.py multiworker RESULTS.json WORKDIR TEXT
        one worker of a TF_CONFIG cluster: the same interrupted-and-resumed run,
        then the textgen --smoke run with --strategy multiworker

Each writes what it measured to RESULTS.json.
"""
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tensorflow as tf
from tiny import Interrupt, TinyConfig, tiny_gru, tiny_problem

GLOBAL_BATCH = 16  # split evenly over 1 or 2 replicas: 128 rows are 8 full batches


def train(strategy_name, workdir, interrupt_after=None):
    """The tiny GRU problem through shared.training; returns fit's result and the number of replicas."""
    from tiny import config_compile, config_fit, config_setup

    replicas_wanted = 2 if strategy_name != "auto" else 1
    # clipnorm 0.05: below the gradient norms (0.2-0.5), so clipping acts at every step
    config = TinyConfig(batch_size=GLOBAL_BATCH // replicas_wanted, strategy=strategy_name, clipnorm=0.05)
    strategy = config_setup(config)
    assert strategy.num_replicas_in_sync == replicas_wanted, strategy.num_replicas_in_sync
    x, y = tiny_problem()
    batches = tf.data.Dataset.from_tensor_slices((x, y)).batch(config.batch_size * strategy.num_replicas_in_sync)
    with strategy.scope():
        model = tiny_gru()
        config_compile(model, config, loss="binary_crossentropy")
    callbacks = [Interrupt(interrupt_after)] if interrupt_after is not None else []
    result = config_fit(model, batches, batches, config, workdir, extra_callbacks=callbacks, verbose=0)
    return {"replicas": strategy.num_replicas_in_sync, "epochs": result["epochs"],
            "resumed_from_epoch": result["resumed_from_epoch"]}


def interrupted_and_resumed(strategy_name, workdir):
    try:
        train(strategy_name, workdir, interrupt_after=1)
        raise AssertionError("the interrupting callback did not stop training")
    except KeyboardInterrupt:
        pass
    interrupted_files = sorted(str(p.relative_to(workdir)) for p in Path(workdir).rglob("*") if p.is_file())
    return {"after_interrupt": interrupted_files, **train(strategy_name, workdir)}


def textgen_smoke(strategy_name, text, out):
    """The textgen recipe's command line, --smoke, 2 epochs; returns what its metrics.json holds."""
    from recipes.textgen import train as textgen

    metrics = textgen.main(["--text", text, "--smoke", "--units", "16", "--embedding-dim", "8", "--seq-len", "20",
                            "--batch-size", "8", "--lr", "0.01", "--strategy", strategy_name, "--out", str(out)])
    return {"epochs_run": metrics["epochs_run"], "validation": metrics["validation"]}


def mirrored(workdir, text):
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    return {"one_device": train("auto", Path(workdir) / "one"),
            "two_devices": train("mirrored", Path(workdir) / "two"),
            "resumed": interrupted_and_resumed("mirrored", Path(workdir) / "resumed"),
            "textgen": textgen_smoke("mirrored", text, Path(workdir) / "textgen")}


def multiworker(workdir, text):
    return {"resumed": interrupted_and_resumed("multiworker", Path(workdir) / "harness"),
            "textgen": textgen_smoke("multiworker", text, Path(workdir) / "textgen")}


if __name__ == "__main__":
    scenario, results_path, workdir, text = sys.argv[1:]
    results = {"mirrored": mirrored, "multiworker": multiworker}[scenario](workdir, text)
    Path(results_path).write_text(json.dumps(results, indent=1), encoding="utf-8")
