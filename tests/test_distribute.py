"""Several devices and machines, tested without GPUs.

MirroredStrategy runs on two logical CPU devices and MultiWorkerMirroredStrategy on
two worker processes on 127.0.0.1; both need a fresh interpreter (TensorFlow fixes
its devices and cluster at start-up), so the runs live in tests/distributed_runs.py.
"""
import json
import os
import random
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from shared.device import cluster_role
from shared.errors import UserError

RUNS = Path(__file__).with_name("distributed_runs.py")
# 1 vs 2 replicas compute the same sums in another order (two half-batch gradients, all-reduced),
# so float32 rounding differs: measured up to 5e-7 relative. 1e-5 leaves room for other CPUs
# while catching real differences: clipping before the all-reduce (Keras's default) moved the
# loss 24% by epoch 4, an unevenly split last batch 1e-3.
TOLERANCE = 1e-5
COLUMNS = ("loss", "val_loss", "grad_norm_mean", "grad_norm_max")

# Module fixtures start the distributed runs once: one process of `make test` runs this whole file.
pytestmark = pytest.mark.xdist_group("distribute")


def subprocess_env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    # No GPU even where there is one: two workers on one machine would share it (TF's tutorial does this too).
    env.update(TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", PYTHONPATH=str(RUNS.parents[1]), **extra)
    return env


def check_finished(process, output):
    assert process.returncode == 0, f"exit {process.returncode}:\n{output[-3000:]}"


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    rng = random.Random(0)
    words = ["the", "king", "and", "queen", "of", "the", "north", "sings", "a", "song", "to", "the", "sea"]
    path = tmp_path_factory.mktemp("text") / "words.txt"
    path.write_text(" ".join(rng.choice(words) for _ in range(1200)), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory, text_file):
    workdir = tmp_path_factory.mktemp("mirrored")
    results = workdir / "results.json"
    process = subprocess.run([sys.executable, str(RUNS), "mirrored", str(results), str(workdir), str(text_file)],
                             env=subprocess_env(), capture_output=True, text=True, timeout=600, check=False)
    check_finished(process, process.stdout + process.stderr)
    return workdir, json.loads(results.read_text())


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for handle in sockets:
        handle.bind(("127.0.0.1", 0))
    ports = [handle.getsockname()[1] for handle in sockets]
    for handle in sockets:
        handle.close()
    return ports


@pytest.fixture(scope="module")
def multiworker(tmp_path_factory, text_file):
    """Two workers on this machine, the same command each, told apart only by TF_CONFIG's task index."""
    workdir = tmp_path_factory.mktemp("multiworker")
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    workers = []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        log = (workdir / f"worker{index}.log").open("w")
        command = [sys.executable, str(RUNS), "multiworker", str(workdir / f"results{index}.json"),
                   str(workdir / "shared"), str(text_file)]
        workers.append((subprocess.Popen(command, env=subprocess_env(TF_CONFIG=tf_config), stdout=log,
                                         stderr=subprocess.STDOUT, text=True), log))
    try:
        for process, log in workers:
            process.wait(timeout=600)
            log.close()
    finally:
        for process, _ in workers:
            if process.poll() is None:
                process.kill()
    for index, (process, _) in enumerate(workers):
        check_finished(process, (workdir / f"worker{index}.log").read_text())
    return workdir / "shared", [json.loads((workdir / f"results{i}.json").read_text()) for i in range(2)]


def curve(result):
    return [float(row[name]) for row in result["epochs"] for name in COLUMNS]


def assert_same_curve(result, reference):
    assert [row["epoch"] for row in result["epochs"]] == [row["epoch"] for row in reference["epochs"]]
    assert curve(result) == pytest.approx(curve(reference), rel=TOLERANCE)


@pytest.mark.slow
def test_two_devices_give_the_loss_curve_of_one(mirrored):
    _, results = mirrored
    one, two = results["one_device"], results["two_devices"]
    assert (one["replicas"], two["replicas"]) == (1, 2)
    # Same global batch (16 on one device, 8 on each of two), gradient clipping active at every step.
    assert len(one["epochs"]) == 4
    assert float(one["epochs"][-1]["loss"]) < float(one["epochs"][0]["loss"])
    assert_same_curve(two, one)


@pytest.mark.slow
def test_mirrored_run_resumes_from_its_backup(mirrored):
    _, results = mirrored
    resumed = results["resumed"]
    assert "backup/latest.weights.h5" in resumed["after_interrupt"]
    assert resumed["resumed_from_epoch"] == 2
    # Weights and optimizer state come back: the resumed run continues the uninterrupted curve.
    assert_same_curve(resumed, results["two_devices"])


@pytest.mark.slow
def test_recipe_trains_with_strategy_mirrored(mirrored):
    workdir, results = mirrored
    assert results["textgen"]["epochs_run"] == 2
    assert (workdir / "textgen" / "model.keras").is_file()


@pytest.mark.slow
def test_two_workers_train_a_recipe_and_write_one_model(multiworker):
    shared_dir, results = multiworker
    # Both workers took part in every step (their metrics are the cluster's), one wrote the results.
    assert results[0]["textgen"] == results[1]["textgen"] and results[0]["textgen"]["epochs_run"] == 2
    out = shared_dir / "textgen"
    assert sorted(path.name for path in shared_dir.rglob("model.keras")) == ["model.keras"]
    assert (out / "model.keras").is_file() and (out / "metrics.json").is_file()
    assert not list(out.glob(".worker-*")), "the non-chief worker's scratch folder is left behind"


@pytest.mark.slow
def test_two_workers_resume_and_match_one_device(multiworker, mirrored):
    shared_dir, results = multiworker
    for result in results:
        assert result["resumed"]["replicas"] == 2 and result["resumed"]["resumed_from_epoch"] == 2
        # While unfinished each worker has its own backup: the chief's in the run's folder, the other's apart.
        assert "backup/latest.weights.h5" in result["resumed"]["after_interrupt"]
        assert ".worker-1/backup/latest.weights.h5" in result["resumed"]["after_interrupt"]
        assert_same_curve(result["resumed"], mirrored[1]["one_device"])
    assert not list((shared_dir / "harness").glob(".worker-*"))


@pytest.mark.parametrize("value,message", [
    (None, "needs TF_CONFIG on every machine"),
    ("{not json", "TF_CONFIG must be JSON like"),
    ('{"cluster": {"worker": ["a:1", "b:1"]}}', "TF_CONFIG must be JSON like"),
    ('{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 2}}', "task index 2 is not in"),
    ('{"cluster": {"ps": ["a:1"]}, "task": {"type": "ps", "index": 0}}', "task type 'ps'"),
])
def test_unusable_tf_config_is_one_clear_error(value, message):
    with pytest.raises(UserError, match=message) as error:
        cluster_role({} if value is None else {"TF_CONFIG": value})
    assert "\n" not in str(error.value)


def test_cluster_role_finds_the_chief():
    two = {"worker": ["a:1", "b:1"]}
    assert cluster_role({"TF_CONFIG": json.dumps({"cluster": two, "task": {"type": "worker", "index": 0}})}) \
        == ("worker", 0, True)
    assert cluster_role({"TF_CONFIG": json.dumps({"cluster": two, "task": {"type": "worker", "index": 1}})}) \
        == ("worker", 1, False)
    with_chief = {"chief": ["c:1"], **two}
    assert cluster_role({"TF_CONFIG": json.dumps({"cluster": with_chief, "task": {"type": "worker", "index": 0}})}) \
        == ("worker", 0, False)


@pytest.mark.parametrize("recipe", ["textgen", "forecast", "sentiment"])
def test_multiworker_without_tf_config_exits_with_one_line(recipe, tmp_path, monkeypatch, capsys, reviews_csv):
    import importlib

    monkeypatch.delenv("TF_CONFIG", raising=False)
    data = {"textgen": [], "forecast": ["--csv", str(prices_csv(tmp_path / "p.csv"))],
            "sentiment": ["--data", str(reviews_csv)]}[recipe]
    cli = importlib.import_module(f"recipes.{recipe}.__main__")
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*data, "--smoke", "--strategy", "multiworker", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.count("\n") == 1 and "needs TF_CONFIG" in err, err
    assert not (tmp_path / "out" / "model.keras").exists()


def prices_csv(path, days=400):
    import numpy as np
    import pandas as pd

    close = 50 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, days)))
    pd.DataFrame({"Date": pd.bdate_range("2001-01-01", periods=days).strftime("%Y-%m-%d"), "Close": close,
                  "High": close * 1.01, "Low": close * 0.99, "Volume": 1000.0}).to_csv(path, index=False)
    return path
