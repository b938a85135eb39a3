"""Reliability, round three: each failure built here on purpose, never waited for for real.

No network (a blocked socket), a full disk (writers that raise ENOSPC), a damaged backup (a truncated
file), a reader that closes the pipe, and input mistakes that must end in one line, never a traceback.
"""
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import pytest

from shared import artifacts, config, data, entry, errors, export
from shared.errors import UserError, reported

ROOT = Path(__file__).resolve().parents[1]


def one_line_exit(body, capsys, prog="prog"):
    """(exit status, stderr) of `body()` run as a command body is (shared.errors.reported)."""
    with pytest.raises(SystemExit) as done, reported(prog):
        body()
    return done.value.code, capsys.readouterr().err


def python(*args, env=None, **options):
    """A subprocess of this interpreter in the worktree, TensorFlow's start-up lines quiet."""
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}, **options)


# --- 1. no network ------------------------------------------------------------------------

@pytest.fixture
def offline(monkeypatch):
    """Every TCP connect fails at once, as on a machine without a network."""
    def refused(*args, **kwargs):
        raise OSError(errno.ENETUNREACH, "Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", refused)
    monkeypatch.setattr(socket.socket, "connect", refused)


def test_fetch_file_reports_an_unreachable_host_at_once(tmp_path, offline, monkeypatch):
    import keras

    monkeypatch.setattr(keras.utils, "get_file", lambda *a, **k: pytest.fail("get_file must not start"))
    with pytest.raises(UserError, match=r"cannot reach example\.org:443 .*Network is unreachable.* "
                                        r"set RECIPES_DATA_DIR to a folder laid out like the data README"):
        data.fetch_file("https://example.org/a.csv", "a.csv", tmp_path / "cache")
    assert not list((tmp_path / "cache").iterdir())


@pytest.mark.timing  # wall-clock bounds: `make test` runs these alone, after the others
def test_a_host_that_never_answers_is_given_up_within_the_probe_time(tmp_path, monkeypatch):
    def hangs(*args, **kwargs):  # a name lookup that never answers
        time.sleep(30)
        raise OSError(errno.ETIMEDOUT, "timed out")

    monkeypatch.setattr(socket, "create_connection", hangs)
    monkeypatch.setattr(data, "PROBE_SECONDS", 0.5)
    started = time.perf_counter()
    with pytest.raises(UserError, match=r"cannot reach example\.org:80 .*no answer"):
        data.check_reachable("http://example.org/x", "x")
    assert time.perf_counter() - started < 2


def test_catalog_probes_the_source_before_tfds_and_leaves_no_partial_files(tmp_path, offline, monkeypatch):
    fake = types.ModuleType("tensorflow_datasets")
    fake.builder_cls = lambda name: types.SimpleNamespace(url_infos={"http://ai.stanford.edu/x.tar.gz": None})
    fake.load = lambda *a, **k: pytest.fail("tfds.load must not start")
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake)
    with pytest.raises(UserError, match=r"cannot reach ai\.stanford\.edu:80 to download the imdb_reviews dataset"):
        data.catalog("imdb_reviews", "train", tmp_path)

    def half_then_fails(name, split, data_dir, shuffle_files):  # reachable, but the download breaks off
        (Path(data_dir) / "downloads").mkdir(parents=True)
        (Path(data_dir) / "downloads" / "source.tmp.0123").write_text("half")
        (Path(data_dir) / name / "1.0.0.incomplete.XYZ").mkdir(parents=True)
        raise ConnectionError("connection reset")

    monkeypatch.undo()
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake)
    fake.builder_cls = lambda name: types.SimpleNamespace(url_infos={})
    fake.load = half_then_fails
    with pytest.raises(UserError, match="could not download the imdb_reviews dataset .*connection reset"):
        data.catalog("imdb_reviews", "train", tmp_path)
    assert data._partial_files(tmp_path / "tensorflow_datasets") == []


BLOCKED_SOCKETS = """
import socket
def _blocked(*args, **kwargs):
    raise OSError(101, "Network is unreachable")
socket.create_connection = _blocked
socket.socket.connect = _blocked
"""


@pytest.mark.timing  # wall-clock bounds: `make test` runs these alone, after the others
@pytest.mark.parametrize("recipe", ["sentiment", "textgen", "forecast", "translate"])
def test_every_loader_answers_offline_in_one_line_within_15_seconds(recipe, tmp_path):
    (tmp_path / "sitecustomize.py").write_text(BLOCKED_SOCKETS)  # every socket of the process is blocked
    env = {"PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}", "RECIPES_CACHE_DIR": str(tmp_path / "cache")}
    started = time.perf_counter()
    done = python("-m", f"recipes.{recipe}", "--smoke", "--out", str(tmp_path / "run"),
                  env={**env, "RECIPES_DATA_DIR": ""}, timeout=120)
    seconds = time.perf_counter() - started
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and "RECIPES_DATA_DIR" in lines[0], done.stderr
    assert "laid out like the data README" in lines[0], done.stderr
    assert seconds < 15 + 30  # the probe's few seconds, plus starting Python and TensorFlow on a busy machine
    leftovers = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert leftovers == []


INTERRUPTIBLE = """
import concurrent.futures, sys, time, types
from pathlib import Path

def load(name, split, data_dir, shuffle_files):  # tfds as it downloads: a partial file, worker threads
    (Path(data_dir) / "downloads").mkdir(parents=True)
    (Path(data_dir) / "downloads" / "source.tmp.0123").write_text("half")
    print("downloading", flush=True)
    with concurrent.futures.ThreadPoolExecutor() as pool:  # the exit waits for the workers, as tfds's does
        pool.submit(time.sleep, 60).result()

fake = types.ModuleType("tensorflow_datasets")
fake.builder_cls = lambda name: types.SimpleNamespace(url_infos={})
fake.load = load
sys.modules["tensorflow_datasets"] = fake

from shared.data import catalog
from shared.errors import reported

def main(argv):
    with reported("fetcher"):
        catalog("imdb_reviews", "train", CACHE)
"""


@pytest.mark.timing  # wall-clock bounds: `make test` runs these alone, after the others
@pytest.mark.parametrize("signum, code, word", [(signal.SIGINT, 130, "interrupted"),
                                                (signal.SIGTERM, 143, "terminated")])
def test_a_signal_during_a_download_exits_at_once_and_removes_the_partial_file(tmp_path, signum, code, word):
    package = tmp_path / "fetcher"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "cmd.py").write_text(INTERRUPTIBLE.replace("CACHE", repr(str(tmp_path / "cache"))))
    (package / "__main__.py").write_text("from shared.entry import Command, dispatch\n"
                                         "dispatch('fetcher', [Command('train', 'cmd:main', '')])\n")
    child = subprocess.Popen([sys.executable, "-m", "fetcher"], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"},
                             # A shell's background job (nohup, `cmd &`) ignores SIGINT, and the child
                             # would inherit that: give it the default a user's terminal gives.
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert child.stdout.readline() == "downloading\n"
        sent = time.perf_counter()
        child.send_signal(signum)
        _, err = child.communicate(timeout=20)
    finally:
        child.kill()
    assert time.perf_counter() - sent < 5  # not the 60 s the download threads would hold it
    assert child.returncode == code and err.strip() == f"fetcher: {word}; nothing was written"  # a fetch: no resume
    assert not list((tmp_path / "cache").rglob("*.tmp.*"))


# --- 2. a full disk ------------------------------------------------------------------------

def full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")  # as write() raises it: no file name


class Model:
    """Stands in for a Keras model whose save runs out of space half-way."""

    def save(self, path):
        Path(path).write_bytes(b"PK half")
        full_disk()


def test_publish_on_a_full_disk_names_the_file_and_keeps_the_finished_model(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "model.keras").write_bytes(b"the good model")
    (out / "config.json").write_text("{}")
    code, err = one_line_exit(lambda: artifacts.publish(out, {"config.json": '{"new": 1}'}, model=Model()),
                              capsys, "python -m recipes.x")
    assert code == 1
    assert err == (f"python -m recipes.x: error: no space left on device while writing {out / 'model.keras'}; "
                   "free some space and run the same command again (finished results were left as they were)\n")
    assert (out / "model.keras").read_bytes() == b"the good model" and (out / "config.json").read_text() == "{}"
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.keras"]  # no partial files


def test_publish_names_a_small_file_that_fills_the_disk(tmp_path, monkeypatch):
    monkeypatch.setattr(Path, "write_text", full_disk)
    with pytest.raises(OSError) as raised:
        artifacts.publish(tmp_path, {"metrics.json": "{}"})
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(tmp_path / "metrics.json")
    assert list(tmp_path.iterdir()) == []


H5PY_FULL = RuntimeError("Can't write data (file write failed: time = Mon, filename = 'x', file descriptor = 5, "
                         "errno = 28, error message = 'No space left on device', buf = 0x1, total write size = 8)")


@pytest.mark.parametrize("nth_save, file", [(1, "backup/latest.weights.h5"),
                                            (2, "unfinished/checkpoints/best.weights.h5")])
def test_training_on_a_full_disk_names_the_checkpoint_it_was_writing(tmp_path, monkeypatch, capsys, nth_save, file):
    import keras

    from shared import training
    from tiny import tiny_gru, tiny_problem

    model = tiny_gru()
    training.compile_model(model, lr=0.05, clipnorm=1.0, loss="binary_crossentropy")
    calls, save_weights = [], keras.Model.save_weights

    def fills_up(self, filepath, *args, **kwargs):  # BackupAndRestore saves first, then ModelCheckpoint
        calls.append(filepath)
        if len(calls) == nth_save:
            raise H5PY_FULL  # h5py's message: the errno is in the text only
        return save_weights(self, filepath, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save_weights", fills_up)
    x, y = tiny_problem()
    code, err = one_line_exit(lambda: training.fit(model, (x, y), (x, y), tmp_path, epochs=2, patience=2,
                                                   verbose=0), capsys)
    assert code == 1 and err.count("\n") == 1
    assert f"no space left on device while writing {tmp_path / file};" in err


def test_a_full_disk_in_the_csv_log_names_the_log(tmp_path, monkeypatch):
    import keras

    from shared import training
    from tiny import tiny_gru, tiny_problem

    model = tiny_gru()
    training.compile_model(model, lr=0.05, clipnorm=1.0, loss="binary_crossentropy")
    monkeypatch.setattr(keras.callbacks.CSVLogger, "on_epoch_end", full_disk)
    x, y = tiny_problem()
    with pytest.raises(OSError) as raised:
        training.fit(model, (x, y), (x, y), tmp_path, epochs=1, patience=1, verbose=0)
    assert raised.value.filename == str(tmp_path / "unfinished" / "training_log.csv")


def test_export_on_a_full_disk_keeps_the_earlier_export(tmp_path, capsys):
    target = tmp_path / "served"
    target.mkdir()
    (target / "saved_model.pb").write_bytes(b"the earlier export")

    class Archive:
        def write_out(self, path, verbose=False):
            Path(path).mkdir()
            (Path(path) / "saved_model.pb").write_bytes(b"half")
            full_disk()

    code, err = one_line_exit(lambda: export.write(Archive(), target), capsys)
    assert code == 1 and f"no space left on device while writing {target};" in err
    assert [p.name for p in tmp_path.iterdir()] == ["served"]  # no staging folder left
    assert (target / "saved_model.pb").read_bytes() == b"the earlier export"


def test_a_backup_cut_short_is_refused_by_its_digest(tmp_path):
    import h5py

    from shared import training
    from tiny import Interrupt, tiny_gru, tiny_problem

    model = tiny_gru()
    training.compile_model(model, lr=0.05, clipnorm=1.0, loss="binary_crossentropy")
    x, y = tiny_problem()
    with pytest.raises(KeyboardInterrupt):  # killed after the first epoch's backup
        training.fit(model, (x, y), (x, y), tmp_path, epochs=3, patience=3, verbose=0, config_json="settings",
                     extra_callbacks=[Interrupt(0)])
    training.check_resumable(tmp_path, "settings")  # complete: accepted
    weights = tmp_path / "backup" / "latest.weights.h5"
    with h5py.File(weights, "a") as handle:  # a save that stopped after some layers: valid HDF5
        del handle[next(iter(handle.keys()))]
    with pytest.raises(UserError, match=r"latest\.weights\.h5: damaged \(not the file latest\.weights\.h5\.sha256 fingerprints\).* to start afresh"):
        training.check_resumable(tmp_path, "settings")


def test_a_truncated_backup_is_refused_at_the_resume_check_with_its_fix(tmp_path):
    from shared import training
    from tiny import tiny_gru

    backup = tmp_path / "backup"
    backup.mkdir()
    (backup / "training_metadata.json").write_text(json.dumps({"epoch": 1, "batch": -1}))
    (backup / "config.json").write_text("settings")
    weights = backup / "latest.weights.h5"
    tiny_gru().save_weights(weights)
    training.check_resumable(tmp_path, "settings")  # whole: accepted
    whole = weights.read_bytes()
    for size in (len(whole) // 2, len(whole) - 200):  # a write cut short by a full disk, or a kill
        weights.write_bytes(whole[:size])
        with pytest.raises(UserError, match=rf"{weights}: damaged \(not a readable HDF5 weights file\).*delete {backup}/ to start afresh"):
            training.check_resumable(tmp_path, "settings")


# --- 3. a reader that closes the pipe -----------------------------------------------------

@pytest.mark.parametrize("argv", [["recipes.forecast", "--help"], ["recipes.sentiment", "--help"],
                                  ["recipes.textgen", "generate", "--help"]])
def test_help_into_a_pipe_closed_early_ends_without_a_traceback(argv):
    for read_first_line in (True, False):
        child = subprocess.Popen([sys.executable, "-m", *argv], cwd=ROOT, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        if read_first_line:  # `| head -1`
            assert child.stdout.readline().startswith("usage:")
        child.stdout.close()  # before anything was read: every write meets a closed pipe
        err = child.stderr.read()
        child.wait(timeout=30)
        assert err == "" and child.returncode in (0, 141), err


# --- 4. one line where one line is promised --------------------------------------------------

def test_a_csv_field_over_128_kb_is_read(tmp_path):
    from recipes.sentiment.data import read_csv

    long_review = "word " * 60_000  # 300 KB, above the csv module's default limit of 128 KB
    (tmp_path / "long.csv").write_text(f'review,sentiment\n"{long_review}",positive\nshort,negative\n')
    reviews = read_csv(tmp_path / "long.csv")
    assert reviews.texts[0] == long_review and list(reviews.labels) == [1, 0]


@pytest.mark.parametrize("seed", ["-1", str(2**32)])
def test_a_seed_out_of_range_is_one_line(seed, capsys):
    code, err = one_line_exit(lambda: config.parse(config.TrainConfig, ["--seed", seed], recipe="x"), capsys)
    assert code == 2 and err == f"prog: error: --seed must be in [0, 4294967295], got {seed}\n"
    assert config.parse(config.TrainConfig, ["--seed", "4294967295"], recipe="x").seed == 2**32 - 1


def recipe_settings():
    """[(recipe, class)]: every dataclass of settings a recipe's config.py or train.py defines (a new recipe's too)."""
    import dataclasses
    import importlib

    found = []
    for main in sorted((ROOT / "recipes").glob("*/__main__.py")):
        for name in ("config", "train"):
            if (main.parent / f"{name}.py").is_file():
                module = importlib.import_module(f"recipes.{main.parent.name}.{name}")
                found += [(main.parent.name, cls) for cls in vars(module).values() if isinstance(cls, type)
                          and dataclasses.is_dataclass(cls) and cls.__module__ == module.__name__]
    return found


SETTINGS = recipe_settings()
SETTINGS_IDS = [f"{recipe}.{cls.__name__}" for recipe, cls in SETTINGS]


@pytest.mark.parametrize("recipe, cls", SETTINGS, ids=SETTINGS_IDS)
def test_every_number_option_of_every_recipe_has_bounds(recipe, cls):
    import dataclasses
    import typing

    kinds = typing.get_type_hints(cls)
    unbounded = [field.name for field in dataclasses.fields(cls)
                 if kinds[field.name] in (int, float) and not field.metadata.get("bounds")]
    assert unbounded == [], f"{recipe}: --{', --'.join(unbounded)} take any number, negative or zero included"


@pytest.mark.parametrize("argv, says", [(["--seed", "-1"], "--seed must be in [0, 4294967295], got -1"),
                                        (["--batch-size", "0"], "--batch-size must be in [1, inf), got 0")])
@pytest.mark.parametrize("recipe, cls", SETTINGS, ids=SETTINGS_IDS)
def test_a_negative_seed_and_a_zero_batch_size_are_one_line_in_every_recipe(recipe, cls, argv, says, capsys):
    code, err = one_line_exit(lambda: config.parse(cls, argv, recipe=recipe), capsys)
    assert code == 2 and err == f"prog: error: {says}\n"


def test_a_cache_folder_that_cannot_be_created_is_one_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("RECIPES_CACHE_DIR", str(tmp_path / "a-file" / "cache"))
    code, err = one_line_exit(data.cache_root, capsys)
    assert code == 2 and err.count("\n") == 1
    assert f"RECIPES_CACHE_DIR={tmp_path / 'a-file' / 'cache'}: cannot create the folder" in err
    assert "set RECIPES_CACHE_DIR to a folder you can write" in err
    monkeypatch.setenv("RECIPES_CACHE_DIR", str(tmp_path / "new" / "cache"))
    assert data.cache_root().is_dir()


@pytest.mark.parametrize("name, says", [("nonesuch", "is not a Keras backend (expected one of tensorflow, jax, "
                                                     "torch, numpy, openvino)"),
                                        ("", "'' is not a Keras backend"),
                                        ("openvino", "the openvino package is not installed")])
def test_a_keras_backend_that_is_not_there_is_one_line(name, says, monkeypatch, capsys):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda module: None if module == "openvino" else find_spec(module))
    monkeypatch.setenv("KERAS_BACKEND", name)
    with pytest.raises(SystemExit) as done:
        entry.check_backend("python -m recipes.x")
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.count("\n") == 1 and says in err and "unset KERAS_BACKEND" in err


def test_a_bad_keras_backend_is_refused_before_keras_loads():
    done = python("-m", "recipes.forecast", "--smoke", env={"KERAS_BACKEND": "tensorflw"}, timeout=60)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "KERAS_BACKEND='tensorflw'" in done.stderr


# --- 5. an empty --out; SIGTERM (with the download above) -------------------------------------

@pytest.mark.parametrize("argv", [["--out", ""], ["--out="], ["--out", "  "]])
def test_an_empty_out_is_refused(argv, capsys):
    code, err = one_line_exit(lambda: config.parse(config.TrainConfig, argv, recipe="x"), capsys)
    assert code == 2 and "empty; give a folder, or leave --out out for runs/x" in err
    assert config.parse(config.TrainConfig, [], recipe="x").out == str(Path("runs") / "x")


def test_sigterm_in_training_says_what_was_kept(tmp_path):
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(ROOT / 'tests')!r})
        import keras
        from shared.run import TrainingRun
        from tiny import TinyConfig, tiny_gru, tiny_problem

        class Terminate(keras.callbacks.Callback):  # `kill PID` after the first epoch's backup
            def on_epoch_end(self, epoch, logs=None):
                os.kill(os.getpid(), signal.SIGTERM)

        def train(run):
            model = tiny_gru()
            run.compile(model, loss="binary_crossentropy")
            x, y = tiny_problem()
            from shared import training
            training.fit(model, (x, y), (x, y), run.out, epochs=3, patience=3, verbose=0,
                         extra_callbacks=[Terminate()])

        TrainingRun.main(TinyConfig, ["--out", {str(tmp_path / 'run')!r}], train, recipe="tiny")
    """)
    done = python("-c", script, timeout=120)
    assert done.returncode == 143
    last = done.stderr.strip().splitlines()[-1]
    assert last == "python -m recipes.tiny: terminated; run the same command again to resume"
    assert (tmp_path / "run" / "backup" / "latest.weights.h5").is_file()


# --- 6. nothing silently wrong -------------------------------------------------------------------

def test_ctrl_c_in_a_command_that_is_not_training_promises_no_resume(capsys):
    def interrupted():
        raise KeyboardInterrupt

    code, err = one_line_exit(interrupted, capsys, "python -m recipes.x predict")
    assert code == 130 and err == "python -m recipes.x predict: interrupted; nothing was written\n"


def every_command():
    """(recipe, command) for every command of every recipe, read from each recipe's list of commands."""
    import importlib

    recipes = sorted(path.parent.name for path in (ROOT / "recipes").glob("*/__main__.py"))
    return [(recipe, each.name) for recipe in recipes
            for each in importlib.import_module(f"recipes.{recipe}.__main__").COMMANDS]


TRAINING_COMMANDS = {"train", "validate", "home"}  # shared.run.TrainingRun's; every other command writes whole files


@pytest.mark.parametrize("recipe, command", every_command())
def test_ctrl_c_says_resume_only_where_a_backup_is_there_to_resume(recipe, command, monkeypatch, capsys):
    import argparse
    import importlib

    def interrupted(self, *args, **kwargs):  # Ctrl-C while the command starts, in every command alike
        raise KeyboardInterrupt

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", interrupted)
    with pytest.raises(SystemExit) as done:
        importlib.import_module(f"recipes.{recipe}.__main__").main([command])
    err = capsys.readouterr().err
    assert done.value.code == 130 and err.count("\n") == 1, err
    expected = ("there is no backup to resume from: the same command starts afresh" if command in TRAINING_COMMANDS
                else "nothing was written")
    assert err.startswith(f"python -m recipes.{recipe}") and f": interrupted; {expected}" in err, err


def test_a_run_interrupted_after_its_first_backup_says_resume(tmp_path, capsys):
    from shared.run import TrainingRun
    from tiny import Interrupt, TinyConfig, tiny_gru, tiny_problem

    def train(run):
        model = tiny_gru()
        run.compile(model, loss="binary_crossentropy")
        x, y = tiny_problem()
        from shared import training
        training.fit(model, (x, y), (x, y), run.out, epochs=3, patience=3, verbose=0, extra_callbacks=[Interrupt(0)])

    with pytest.raises(SystemExit) as done:
        TrainingRun.main(TinyConfig, ["--out", str(tmp_path / "run")], train, recipe="tiny")
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert done.value.code == 130 and last == "python -m recipes.tiny: interrupted; run the same command again to resume"


DEAD_PID = 4_194_305  # above Linux's largest pid_max (2**22): no process has it


class SavedModelArchive:
    """Stands in for keras.export.ExportArchive: writes a saved_model.pb holding `content`."""

    def __init__(self, content=b"new export", fails=False):
        self.content, self.fails = content, fails

    def write_out(self, path, verbose=False):
        Path(path).mkdir()
        (Path(path) / "saved_model.pb").write_bytes(self.content)
        if self.fails:
            full_disk()


def test_an_export_removes_what_a_killed_export_left_but_never_a_live_ones(tmp_path, capsys):
    target = tmp_path / "served"
    dead = tmp_path / f".served.partial-{DEAD_PID}"  # kill -9 during an export
    (dead / "variables").mkdir(parents=True)
    (dead / "saved_model.pb").write_bytes(b"half")
    live = tmp_path / f".served.partial-{os.getppid()}"  # an export under way in a process that runs
    live.mkdir()
    other = tmp_path / f".elsewhere.partial-{DEAD_PID}"  # another export's: not this --to's business
    other.mkdir()
    export.write(SavedModelArchive(), target)
    err = capsys.readouterr().err
    assert err == (f"note: removed {dead}, a half-written export left by an export that was killed "
                   f"(process {DEAD_PID} is gone)\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([".elsewhere.partial-4194305", live.name, "served"])
    assert (target / "saved_model.pb").read_bytes() == b"new export"


def test_an_export_killed_between_its_renames_has_the_earlier_export_put_back(tmp_path, capsys):
    target = tmp_path / "served"
    moved = tmp_path / f".served.old-{DEAD_PID}"  # the earlier export, moved aside; the new one not yet in place
    moved.mkdir()
    (moved / "saved_model.pb").write_bytes(b"the earlier export")
    code, err = one_line_exit(lambda: export.write(SavedModelArchive(fails=True), target), capsys)
    assert code == 1 and err.startswith(f"note: put back {target}, the earlier export") and err.count("\n") == 2
    assert [p.name for p in tmp_path.iterdir()] == ["served"]
    assert (target / "saved_model.pb").read_bytes() == b"the earlier export"


def test_metrics_json_writes_a_non_finite_number_as_null_and_is_always_json(tmp_path):
    import numpy as np

    from shared.report import metrics_json

    metrics = {"loss": float("nan"), "test": {"auc": np.float32("nan"), "ratio": float("inf"), "n": np.int64(3)},
               "per_epoch": [1.5, -np.inf, np.float64(0.25)], "array": np.array([1.0, np.nan]), "ok": True}
    text = metrics_json(metrics)
    parsed = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))
    assert parsed == {"loss": None, "test": {"auc": None, "ratio": None, "n": 3}, "per_epoch": [1.5, None, 0.25],
                      "array": [1.0, None], "ok": True}


def test_a_finished_run_writes_null_for_a_nan_metric(tmp_path):
    from shared.run import TrainingRun
    from tiny import TinyConfig, tiny_gru, tiny_problem

    def train(run):
        model = tiny_gru()
        run.compile(model, loss="binary_crossentropy")
        x, y = tiny_problem()
        run.fit(model, (x, y), (x, y))
        run.save(model)
        return run.finish({"test": {"auc": float("nan"), "loss": float("inf")}})

    out = tmp_path / "run"
    TrainingRun.main(TinyConfig, ["--out", str(out), "--epochs", "1"], train, recipe="tiny")
    saved = json.loads((out / "metrics.json").read_text(), parse_constant=lambda name: pytest.fail(name))
    assert saved["test"] == {"auc": None, "loss": None}


UNCLOSED = 'review,sentiment\nfine,positive\n"nice, and\nbad,negative\ndull,negative\n'  # the quote opens on line 3


@pytest.mark.parametrize("reader", ["sentiment", "classify"])
def test_an_unclosed_quote_is_named_where_it_opens(reader, tmp_path):
    import importlib

    path = tmp_path / "r.csv"
    path.write_text(UNCLOSED)
    data_module = importlib.import_module(f"recipes.{reader}.data")
    read = (lambda: data_module.read_csv(path)) if reader == "sentiment" else (
        lambda: data_module.read_csv(path, "review", "sentiment"))
    with pytest.raises(UserError, match=rf"^{path}: line 3: unclosed quote: .*close it with \""):
        read()
    path.write_text('review,sentiment\n"fine,\nacross lines",positive\n"a ""quoted"" word",negative\n')
    texts = read()[0] if reader == "classify" else read().texts
    assert texts == ["fine,\nacross lines", 'a "quoted" word']


def test_csv_rows_name_the_line_a_row_starts_on():
    rows = list(data.csv_rows("f.csv", 'a,b\r\n"x\r\ny",1\r\nz,2\r\n'))
    assert rows == [(1, ["a", "b"]), (2, ["x\r\ny", "1"]), (4, ["z", "2"])]
    for text, line in [('"a,b\n1,2\n', 1), ('a,b\n"ok","x"\n1,"y\n', 3), ('a,b\n"x\ny",1\n"z""q,2\n', 4)]:
        with pytest.raises(UserError, match=f"line {line}: unclosed quote"):
            list(data.csv_rows("f.csv", text))


@pytest.mark.parametrize("recipe, extra", [("sentiment", []),
                                           ("classify", ["--text-column", "review", "--label-column", "sentiment"])])
@pytest.mark.parametrize("fraction, says", [("0.999", "holds out all 160 reviews labelled negative, leaving none "
                                                      "for training"),
                                            ("0.001", "holds out none of the 160 reviews labelled negative for "
                                                      "validation")])
def test_a_val_fraction_that_empties_a_split_is_blamed_not_the_data(recipe, extra, fraction, says, reviews_csv,
                                                                     tmp_path, capsys):
    import importlib

    if recipe == "classify":
        says = says.replace("reviews labelled negative", "texts of class 'negative'")
    cli = importlib.import_module(f"recipes.{recipe}.__main__")
    with pytest.raises(SystemExit) as done:
        cli.main(["--data", str(reviews_csv), "--val-fraction", fraction, "--out", str(tmp_path / "out"), *extra])
    err = capsys.readouterr().err
    noun = "reviews" if recipe == "sentiment" else "texts"
    assert done.value.code == 2 and err.count("\n") == 1, err
    assert f"--val-fraction {fraction} {says}" in err
    assert f"expected a share above 0.0032 and below 0.9968 for these 320 {noun}" in err
    assert "give at least" not in err and not (tmp_path / "out").exists()


def test_home_with_a_text_file_says_text_belongs_to_the_train_command(tmp_path, capsys):
    from recipes.textgen import train

    (tmp_path / "t.txt").write_text("some text to learn\n" * 20)
    with pytest.raises(SystemExit) as done:
        train.home(["--text", str(tmp_path / "t.txt"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.count("\n") == 1
    assert "--corpus" not in err and 'the home command trains on the built-in word "HOME"' in err
    assert "python -m recipes.textgen --text FILE" in err and not (tmp_path / "out").exists()


INFERENCE_OPTIONS = [  # (recipe, command argv, what the one line says): every number option of a command that
    # takes no config class, checked before the model (here a folder that is not there) is read
    ("textgen", ["generate", "--seed", "-1"], "--seed must be in [0, 4294967295], got -1"),
    ("textgen", ["generate", "--seed", str(2**32)], "--seed must be in [0, 4294967295], got 4294967296"),
    ("textgen", ["generate", "--length", "-3"], "--length must be at least 1, got -3"),
    ("textgen", ["generate", "--temperature", "-0.5"], "--temperature must be 0 (greedy) or more, got -0.5"),
    ("textgen", ["generate", "--top-k", "-1"], "--top-k must be 0 (off) or more, got -1"),
    ("textgen", ["generate", "--top-p", "-0.1"], "--top-p must be in (0, 1] (1: off), got -0.1"),
    ("textgen", ["speed", "--every", "-2"], "--every must be 0 (automatic) or more, got -2"),
    ("textgen", ["speed", "--lengths", "100", "-5"], "--lengths must be at least 1, got -5"),
    ("textgen", ["speed", "--lengths", "0"], "--lengths must be at least 1, got 0"),
    ("textgen", ["speed", "--prompt", ""], "--prompt is empty"),
    ("translate", ["translate", "--beam-size", "-1", "hola"], "--beam-size must be 1 or more, got -1"),
    ("translate", ["translate", "--beam-size", "0", "hola"], "--beam-size must be 1 or more, got 0"),
]


@pytest.mark.parametrize("recipe, argv, says", INFERENCE_OPTIONS, ids=[f"{r}-{' '.join(a[:3])}"
                                                                      for r, a, _ in INFERENCE_OPTIONS])
def test_a_negative_number_option_of_an_inference_command_is_one_line_before_the_model_loads(recipe, argv, says,
                                                                                          tmp_path, capsys):
    import importlib

    with pytest.raises(SystemExit) as done:
        importlib.import_module(f"recipes.{recipe}.__main__").main([*argv, "--model", str(tmp_path / "none")])
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"python -m recipes.{recipe} {argv[0]}: error: {says}"), err
