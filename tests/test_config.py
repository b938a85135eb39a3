import dataclasses
import json

import pytest

from shared.config import TrainConfig, load_saved, option, parse, to_json
from shared.errors import UserError, reported


@dataclasses.dataclass
class Config(TrainConfig):
    cell: str = option("lstm", "cell", choices=("rnn", "lstm", "gru"))
    bidirectional: bool = option(True, "both directions")
    units: int = option(64, "units", bounds="[1, inf)")
    dropout: float = option(0.2, "dropout", bounds="[0, 1)")


def test_defaults_types_and_flags():
    config = parse(Config, ["--cell", "gru", "--no-bidirectional", "--units", "8", "--lr", "0.01"], recipe="demo")
    assert (config.cell, config.bidirectional, config.units, config.lr) == ("gru", False, 8, 0.01)
    assert config.out == "runs/demo"
    assert parse(Config, [], recipe="demo").bidirectional is True


@pytest.mark.parametrize("argv,message", [
    (["--colour", "red"], "unrecognized arguments: --colour red"),
    (["--units", "many"], "invalid int value: 'many'"),
    (["--cell", "tcn"], "invalid choice: 'tcn'"),
    (["--epochs", "0"], "--epochs must be in [1, inf), got 0"),
    (["--batch-size", "-4"], "--batch-size must be in [1, inf), got -4"),
    (["--dropout", "1"], "--dropout must be in [0, 1), got 1.0"),
    (["--lr", "0"], "--lr must be in (0, inf), got 0.0"),
    (["--unit", "8"], "unrecognized arguments"),  # no abbreviations: a typo is an error
])
def test_bad_options_are_one_line_errors_with_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info, reported("demo"):
        parse(Config, argv, recipe="demo")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_saved_config_round_trips_and_names_its_recipe(tmp_path):
    config = parse(Config, ["--units", "3"], recipe="demo")
    (tmp_path / "config.json").write_text(to_json(config, "demo"))
    (tmp_path / "model.keras").write_bytes(b"")
    assert load_saved(tmp_path, "demo") == dataclasses.asdict(config)
    assert json.loads((tmp_path / "config.json").read_text())["recipe"] == "demo"
    with pytest.raises(UserError, match="model of recipe 'demo', not 'other'"):
        load_saved(tmp_path, "other")


def test_a_folder_without_a_model_is_refused(tmp_path):
    with pytest.raises(UserError, match="not a model directory"):
        load_saved(tmp_path, "demo")
    with pytest.raises(UserError, match="no such model directory"):
        load_saved(tmp_path / "missing", "demo")


@pytest.mark.parametrize("recipe", ["sentiment", "forecast", "textgen", "translate"])
def test_a_user_mistake_prints_exactly_one_line_from_the_command_line(recipe):
    import subprocess
    import sys
    from pathlib import Path

    finished = subprocess.run([sys.executable, "-m", f"recipes.{recipe}", "--epochs", "0"],
                              cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=120, check=False)
    assert finished.returncode == 2
    assert finished.stderr == f"python -m recipes.{recipe}: error: --epochs must be in [1, inf), got 0\n"


def test_fractions_that_leave_no_training_data_are_named(tmp_path):
    @dataclasses.dataclass
    class Split(TrainConfig):
        val_fraction: float = option(0.1, "validation share", bounds="(0, 1)")
        test_fraction: float = option(0.1, "test share", bounds="(0, 1)")

    with pytest.raises(UserError, match="add up to 1.2: they must add up to less than 1"):
        parse(Split, ["--val-fraction", "0.6", "--test-fraction", "0.6"], recipe="demo")
    assert parse(Split, ["--val-fraction", "0.4"], recipe="demo").val_fraction == 0.4


def test_a_message_quoting_a_huge_input_stays_one_readable_line(capsys):
    header = ",".join(f"column{i}" for i in range(100_000))
    with pytest.raises(SystemExit) as exit_info, reported("prog"):
        raise UserError(f"data.csv: line 1: expected columns review,sentiment, found {header}")
    printed = capsys.readouterr().err
    assert exit_info.value.code == 2 and printed.count("\n") == 1 and len(printed) < 600
    assert printed.startswith("prog: error: data.csv: line 1: expected columns") and "characters cut" in printed


def test_a_second_run_in_the_same_folder_is_refused_and_an_early_failure_leaves_no_folder(tmp_path):
    from shared.run import LOCK_NAME, TrainingRun, lock_folder

    @dataclasses.dataclass
    class Tiny(TrainConfig):
        pass

    out = tmp_path / "run"
    held = lock_folder(out)  # another process's run, as the lock sees it (a separate open file)
    try:
        with pytest.raises(SystemExit) as exit_info:
            TrainingRun.main(Tiny, ["--out", str(out)], lambda run: None, recipe="demo")
        assert exit_info.value.code == 2
    finally:
        held.close()
        (out / LOCK_NAME).unlink()
        out.rmdir()

    def bad_data(run):
        raise UserError("data.csv: 3 rows, need at least 10")

    with pytest.raises(SystemExit):
        TrainingRun.main(Tiny, ["--out", str(out)], bad_data, recipe="demo")
    assert not out.exists()  # created for the lock, removed since the run left nothing in it
