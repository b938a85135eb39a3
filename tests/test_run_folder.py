"""The run folder: a resume with other settings or from a damaged backup, and a damaged model, are one line."""
import dataclasses
import json

import pytest

from shared.config import TrainConfig, to_json
from shared.inference import load_run
from shared.run import TrainingRun


@dataclasses.dataclass
class Tiny(TrainConfig):
    units: int = 4


def start(out, *argv):
    """Exit code and stderr of starting a run in `out` (the task is never reached when it is refused)."""
    return TrainingRun.main(Tiny, ["--out", str(out), *argv], lambda run: "trained", recipe="demo")


def interrupted(out, **changes):
    """A folder as a killed run leaves it: backup/ with its settings, epoch record and weights."""
    backup = out / "backup"
    backup.mkdir(parents=True)
    (backup / "config.json").write_text(to_json(Tiny(out=str(out), **changes), "demo"), encoding="utf-8")
    (backup / "training_metadata.json").write_text(json.dumps({"epoch": 2, "batch": 0}), encoding="utf-8")
    return backup


@pytest.mark.parametrize("damage,message", [
    (lambda backup: None, "holds an interrupted run with other settings"),
    (lambda backup: (backup / "training_metadata.json").write_text("{garbage", encoding="utf-8"),
     "training_metadata.json: damaged"),
    (lambda backup: (backup / "latest.weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n truncated"),
     "latest.weights.h5: damaged (not a readable HDF5 weights file)"),
])
def test_a_resume_that_cannot_work_is_one_line_saying_to_delete_the_backup(tmp_path, capsys, damage, message):
    out = tmp_path / "run"
    backup = interrupted(out, units=4 if "settings" not in message else 8)
    damage(backup)
    with pytest.raises(SystemExit) as exit_info:
        start(out)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err and f"delete {backup}/" in err and err.count("\n") == 1


def test_a_resume_with_the_same_settings_and_a_sound_backup_goes_ahead(tmp_path):
    out = tmp_path / "run"
    interrupted(out)
    assert start(out) == "trained"


def test_a_truncated_model_or_a_broken_file_beside_it_is_one_line(tmp_path):
    from shared.errors import UserError

    (tmp_path / "config.json").write_text(to_json(Tiny(), "demo"), encoding="utf-8")
    (tmp_path / "model.keras").write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(UserError, match="not a complete .keras file"):
        load_run(tmp_path, "demo")
    (tmp_path / "vocab.json").write_text('{"vocabulary": [', encoding="utf-8")
    with pytest.raises(UserError, match="vocab.json: unreadable or not JSON"):
        load_run(tmp_path, "demo", "vocab.json")
    (tmp_path / "config.json").write_text('{"recipe": "demo"', encoding="utf-8")
    with pytest.raises(UserError, match="config.json: not a recipe config"):
        load_run(tmp_path, "demo")


@pytest.mark.parametrize("edit,message", [
    (lambda config: config.pop("units"), "no setting 'units'"),
    (lambda config: config.update(units="64"), "setting 'units' is '64', expected int"),
])
def test_an_edited_config_is_one_line_naming_the_setting(tmp_path, edit, message):
    from shared.errors import UserError

    saved = json.loads(to_json(Tiny(), "demo"))
    edit(saved["config"])
    (tmp_path / "config.json").write_text(json.dumps(saved), encoding="utf-8")
    (tmp_path / "model.keras").write_bytes(b"")
    with pytest.raises(UserError, match=message):
        load_run(tmp_path, "demo", config_class=Tiny)


def test_a_file_edited_after_saving_is_one_line_naming_it(tmp_path):
    import shutil
    import subprocess

    import keras

    from shared.artifacts import publish
    from shared.errors import UserError

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    publish(tmp_path, {"config.json": to_json(Tiny(), "demo"), "vocab.json": '["a", "b"]'}, model=model)
    load_run(tmp_path, "demo", "vocab.json", config_class=Tiny)  # as saved: loads
    if shutil.which("sha256sum"):  # the standard tool reads the fingerprints too
        subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=tmp_path, check=True)

    saved = json.loads((tmp_path / "config.json").read_text(encoding="utf-8"))
    saved["config"]["units"] = 5  # a well-formed value the model was not trained with
    (tmp_path / "config.json").write_text(json.dumps(saved), encoding="utf-8")
    with pytest.raises(UserError, match=r"config.json: changed since the model was saved .*train again"):
        load_run(tmp_path, "demo", "vocab.json", config_class=Tiny)
    (tmp_path / "config.json").write_text(to_json(Tiny(), "demo"), encoding="utf-8")
    (tmp_path / "vocab.json").write_text('["b", "a"]', encoding="utf-8")
    with pytest.raises(UserError, match="vocab.json: changed since the model was saved"):
        load_run(tmp_path, "demo", "vocab.json", config_class=Tiny)
