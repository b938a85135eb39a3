import csv
import time

import keras
import numpy as np
import pytest
from tiny import Interrupt, TinyConfig, tiny_gru, tiny_problem

from shared.training import (
    Adam,
    TimeBudget,
    compile_model,
    fit,
    is_interrupted,
    make_optimizer,
    setup,
)


def test_clipnorm_bounds_what_reaches_adams_moments():
    # One gradient of norm 1e6: clipped, Adam's moments stay at the scale of the clip norm.
    for clipnorm, bound in ((1.0, 0.1 + 1e-6), (0.0, None)):
        variable = keras.Variable(np.zeros(4, dtype="float32"))
        optimizer = make_optimizer(lr=0.01, clipnorm=clipnorm)
        gradient = np.full(4, 5e5, dtype="float32")  # norm 1e6
        optimizer.apply([gradient], [variable])
        first_moment = np.linalg.norm(keras.ops.convert_to_numpy(optimizer._momentums[0]))
        if bound is None:
            assert first_moment == pytest.approx(0.1 * 1e6, rel=1e-5)  # (1 - beta_1) * g, unclipped
        else:
            assert first_moment <= bound
        total, count, largest = (float(keras.ops.convert_to_numpy(v)) for v in optimizer.grad_norm_stats)
        assert count == 1 and total == pytest.approx(1e6, rel=1e-5) and largest == pytest.approx(1e6, rel=1e-5)


def test_clipnorm_zero_turns_clipping_off_and_class_is_serializable():
    assert make_optimizer(0.01, 0).clipnorm is None
    optimizer = make_optimizer(0.01, 2.0)
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(restored, Adam) and restored.clipnorm == 2.0


def tiny_model(config):
    setup(config)
    model = tiny_gru()
    compile_model(model, config, loss="binary_crossentropy", metrics=["accuracy"])
    return model


def batches(x, y):
    import tensorflow as tf
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(16)


def test_fit_logs_gradient_norms_and_loss_falls(tmp_path):
    config = TinyConfig()
    x, y = tiny_problem()
    model = tiny_model(config)
    result = fit(model, batches(x, y), batches(x, y), config, tmp_path, verbose=0)
    rows = result["epochs"]
    assert len(rows) == 4
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    for row in rows:
        assert 0 < float(row["grad_norm_mean"]) <= float(row["grad_norm_max"])
    assert (tmp_path / "checkpoints" / "best.weights.h5").is_file()
    assert any((tmp_path / "tensorboard").rglob("*tfevents*"))
    assert not is_interrupted(tmp_path)  # a finished run leaves no backup


def test_killed_run_resumes_from_its_last_finished_epoch(tmp_path):
    config = TinyConfig()
    x, y = tiny_problem()
    with pytest.raises(KeyboardInterrupt):
        fit(tiny_model(config), batches(x, y), batches(x, y), config, tmp_path,
            extra_callbacks=[Interrupt(after=1)], verbose=0)
    assert is_interrupted(tmp_path)
    with (tmp_path / "training_log.csv").open() as handle:
        assert [row["epoch"] for row in csv.DictReader(handle)] == ["0", "1"]

    result = fit(tiny_model(config), batches(x, y), batches(x, y), config, tmp_path, verbose=0)
    assert result["resumed_from_epoch"] == 2
    assert [row["epoch"] for row in result["epochs"]] == ["0", "1", "2", "3"]
    # The resumed epoch starts from the saved weights, not from scratch.
    assert float(result["epochs"][2]["loss"]) < float(result["epochs"][0]["loss"])
    assert not is_interrupted(tmp_path)


def test_nan_loss_stops_training_with_a_clear_error(tmp_path):
    from shared.errors import TrainingError

    config = TinyConfig()
    x, y = tiny_problem()
    x[5, 2, 1] = np.nan
    with pytest.raises(TrainingError, match="loss became nan"):
        fit(tiny_model(config), batches(x, y), batches(x, y), config, tmp_path, verbose=0)


def test_seeding_makes_runs_repeatable(tmp_path):
    config = TinyConfig(epochs=2)
    x, y = tiny_problem()
    losses = []
    for name in ("a", "b"):
        result = fit(tiny_model(config), batches(x, y), batches(x, y), config, tmp_path / name, verbose=0)
        losses.append([row["loss"] for row in result["epochs"]])
    assert losses[0] == losses[1]


def test_cosine_schedule_anneals_to_zero_over_all_epochs():
    optimizer = make_optimizer(0.1, 1.0, decay_steps=10)
    variable = keras.Variable(np.zeros(2, dtype="float32"))
    rates = []
    for _ in range(10):
        rates.append(float(keras.ops.convert_to_numpy(optimizer.learning_rate)))
        optimizer.apply([np.ones(2, dtype="float32")], [variable])
    assert rates[0] == pytest.approx(0.1) and rates == sorted(rates, reverse=True)
    assert float(keras.ops.convert_to_numpy(optimizer.learning_rate)) == pytest.approx(0.0, abs=1e-7)


def test_cosine_without_a_known_epoch_length_is_refused():
    from shared.errors import UserError

    config = TinyConfig(lr_schedule="cosine")
    with pytest.raises(UserError, match="cosine is not available"):
        tiny_model(config)


def test_mixed_precision_trains_with_finite_loss_and_float32_outputs(tmp_path):
    config = TinyConfig(epochs=2, mixed_precision=True)
    x, y = tiny_problem()
    try:
        model = tiny_model(config)
        assert model.layers[1].compute_dtype in ("bfloat16", "float16")  # the recurrent layer
        result = fit(model, batches(x, y), batches(x, y), config, tmp_path, verbose=0)
        assert all(np.isfinite(float(row["loss"])) for row in result["epochs"])
        assert model.predict(x[:2], verbose=0).dtype == np.float32
    finally:
        keras.config.set_dtype_policy("float32")


def test_time_budget_stops_training_in_time_and_lowers_the_learning_rate_at_the_end():
    class Slow(keras.callbacks.Callback):  # a known cost per step, so the test does not race the machine
        def on_train_batch_end(self, batch, logs=None):
            time.sleep(0.02)

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    started = time.perf_counter()
    history = model.fit(x, x[:, :1], batch_size=16, epochs=1000, verbose=0, callbacks=[Slow(), TimeBudget(1.0)])
    assert len(history.history["loss"]) < 1000 and time.perf_counter() - started < 5
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) < 0.002  # fell towards a tenth
