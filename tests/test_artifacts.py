"""Publishing a run's results: atomic, and never a new model beside an earlier run's figures."""
import keras
import numpy as np
import pytest

from shared.artifacts import load_model, publish


def tiny_model(value):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, kernel_initializer="ones")])
    model.layers[0].set_weights([np.full((2, 1), value, "float32"), np.zeros(1, "float32")])
    return model


def test_a_new_model_removes_the_figures_that_described_the_old_one(tmp_path):
    publish(tmp_path, {"config.json": "old", "metrics.json": "old figures"}, model=tiny_model(1.0))
    publish(tmp_path, {"config.json": "new"}, model=tiny_model(2.0), stale=("metrics.json",))
    assert not (tmp_path / "metrics.json").exists() and (tmp_path / "config.json").read_text() == "new"
    assert float(load_model(tmp_path)(np.ones((1, 2), "float32"))[0, 0]) == 4.0
    publish(tmp_path, {"metrics.json": "new figures"}, stale=("metrics.json",))  # named and written: kept
    assert (tmp_path / "metrics.json").read_text() == "new figures"


def test_a_model_that_fails_to_save_leaves_the_earlier_run_whole(tmp_path, monkeypatch):
    publish(tmp_path, {"config.json": "old", "metrics.json": "old figures"}, model=tiny_model(1.0))
    broken = tiny_model(2.0)
    monkeypatch.setattr(broken, "save", lambda path: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        publish(tmp_path, {"config.json": "new"}, model=broken, stale=("metrics.json",))
    assert (tmp_path / "config.json").read_text() == "old" and (tmp_path / "metrics.json").read_text() == "old figures"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["SHA256SUMS", "config.json", "metrics.json", "model.keras"]
