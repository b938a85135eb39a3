import csv
import time

import keras
import numpy as np
import pytest
from tiny import (
    Interrupt,
    TinyConfig,
    config_compile,
    config_fit,
    config_setup,
    tiny_gru,
    tiny_problem,
)

from shared.optimizer import Adam, make_optimizer
from shared.training import TimeBudget, is_interrupted, publish_logs


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
    config_setup(config)
    model = tiny_gru()
    config_compile(model, config, loss="binary_crossentropy", metrics=["accuracy"])
    return model


def batches(x, y):
    import tensorflow as tf
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(16)


def test_fit_logs_gradient_norms_and_loss_falls(tmp_path):
    config = TinyConfig()
    x, y = tiny_problem()
    model = tiny_model(config)
    result = config_fit(model, batches(x, y), batches(x, y), config, tmp_path, verbose=0)
    rows = result["epochs"]
    assert len(rows) == 4
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    for row in rows:
        assert 0 < float(row["grad_norm_mean"]) <= float(row["grad_norm_max"])
    assert not is_interrupted(tmp_path)  # a finished run leaves no backup
    # Its logs wait beside where the backup was until the run publishes them (after its model).
    staged = tmp_path / "unfinished"
    assert (staged / "checkpoints" / "best.weights.h5").is_file()
    assert any((staged / "tensorboard").rglob("*tfevents*"))
    assert not (tmp_path / "training_log.csv").exists()
    publish_logs(tmp_path)
    assert (tmp_path / "checkpoints" / "best.weights.h5").is_file()
    assert any((tmp_path / "tensorboard").rglob("*tfevents*"))
    assert len((tmp_path / "training_log.csv").read_text().splitlines()) == 1 + 4
    assert not staged.exists()


def test_a_new_run_leaves_the_published_logs_alone_until_it_publishes(tmp_path):
    config = TinyConfig()
    x, y = tiny_problem()
    config_fit(tiny_model(config), batches(x, y), batches(x, y), config, tmp_path, verbose=0)
    publish_logs(tmp_path)
    names = ("training_log.csv", "checkpoints/best.weights.h5")
    good = {name: (tmp_path / name).read_bytes() for name in names}
    events = sorted(path.name for path in (tmp_path / "tensorboard").rglob("*tfevents*"))
    with pytest.raises(KeyboardInterrupt):  # a second run, killed after one epoch
        config_fit(tiny_model(config), batches(x, y), batches(x, y), config, tmp_path,
                   extra_callbacks=[Interrupt(after=0)], verbose=0)
    assert {name: (tmp_path / name).read_bytes() for name in names} == good
    assert sorted(path.name for path in (tmp_path / "tensorboard").rglob("*tfevents*")) == events


def test_killed_run_resumes_from_its_last_finished_epoch(tmp_path, capsys):
    config = TinyConfig()
    x, y = tiny_problem()
    with pytest.raises(KeyboardInterrupt):
        config_fit(tiny_model(config), batches(x, y), batches(x, y), config, tmp_path,
            extra_callbacks=[Interrupt(after=1)], verbose=0)
    assert is_interrupted(tmp_path)
    with (tmp_path / "unfinished" / "training_log.csv").open() as handle:
        assert [row["epoch"] for row in csv.DictReader(handle)] == ["0", "1"]

    capsys.readouterr()
    result = config_fit(tiny_model(config), batches(x, y), batches(x, y), config, tmp_path, verbose=0)
    assert capsys.readouterr().out.startswith("resuming from epoch 3 of 4")  # said before anything else
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
        config_fit(tiny_model(config), batches(x, y), batches(x, y), config, tmp_path, verbose=0)


def test_seeding_makes_runs_repeatable(tmp_path):
    config = TinyConfig(epochs=2)
    x, y = tiny_problem()
    losses = []
    for name in ("a", "b"):
        result = config_fit(tiny_model(config), batches(x, y), batches(x, y), config, tmp_path / name, verbose=0)
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
        result = config_fit(model, batches(x, y), batches(x, y), config, tmp_path, verbose=0)
        assert all(np.isfinite(float(row["loss"])) for row in result["epochs"])
        assert model.predict(x[:2], verbose=0).dtype == np.float32
    finally:
        keras.config.set_dtype_policy("float32")


def test_time_budget_stops_training_in_time_and_lowers_the_learning_rate_at_the_end(monkeypatch):
    # A fake clock that each training step advances by 0.02 s: the test cannot race a busy machine.
    now = [0.0]
    monkeypatch.setattr(time, "perf_counter", lambda: now[0])
    rates = []

    class Step(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            rates.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))
            now[0] += 0.02

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    history = model.fit(x, x[:, :1], batch_size=16, epochs=1000, verbose=0,
                        callbacks=[Step(), TimeBudget(1.0, base_lr=0.01)])
    # 1 s of 0.02 s steps, 4 steps an epoch: stopped within a step of the budget (about 13 epochs).
    assert 49 <= len(rates) <= 52 and len(history.history["loss"]) == -(-len(rates) // 4)
    assert rates[0] == pytest.approx(0.01) and rates[30] == pytest.approx(0.01)  # full rate for 70% of the time
    assert rates[-1] < 0.002 and all(a >= b for a, b in zip(rates[34:], rates[35:]))  # then falling to a tenth


class Slow(keras.callbacks.Callback):
    """A known cost per step, so budget tests do not race the machine."""

    def on_train_batch_end(self, batch, logs=None):
        time.sleep(0.01)


def test_time_budget_works_under_mixed_precision_with_constant_and_cosine_rates(tmp_path):
    # The budget used to read the optimizer's private rate, which a loss-scale wrapper does not have.
    x, y = tiny_problem()
    try:
        for schedule in ("constant", "cosine"):
            config = TinyConfig(epochs=2, mixed_precision=True, lr_schedule=schedule)
            config_setup(config)
            model = tiny_gru()
            config_compile(model, config, loss="binary_crossentropy", steps_per_epoch=8)
            result = config_fit(model, batches(x, y), batches(x, y), config, tmp_path / schedule, budget_seconds=0.1,
                         extra_callbacks=[Slow()], verbose=0)
            assert all(np.isfinite(float(row["loss"])) for row in result["epochs"])
            assert len(result["epochs"]) == 1  # the budget stopped it in the first epoch
    finally:
        keras.config.set_dtype_policy("float32")


class RateAtStart(keras.callbacks.Callback):
    """Records the learning rate the first step of this fit call used."""

    def on_train_batch_end(self, batch, logs=None):  # runs before Step advances the clock
        if not hasattr(self, "rate"):
            self.rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


def test_a_resumed_time_budget_counts_the_killed_part_and_starts_from_the_configured_rate(tmp_path, monkeypatch):
    # A fake clock that only training steps advance (0.1 s each, 8 steps an epoch), a 2 s budget: the
    # rate starts falling at 1.4 s, in epoch 1, after which the run is killed. Resumed, it must go on
    # with the 0.4 s left (not a fresh 2 s) at the rate for that time, computed from config.lr, not
    # from the optimizer's restored, already-lowered rate.
    now = [0.0]
    monkeypatch.setattr(time, "perf_counter", lambda: now[0])

    class Step(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            now[0] += 0.1

    config = TinyConfig(epochs=50)
    x, y = tiny_problem()
    with pytest.raises(KeyboardInterrupt):
        config_fit(tiny_model(config), batches(x, y), batches(x, y), config, tmp_path, budget_seconds=2.0,
            extra_callbacks=[Step(), Interrupt(after=1)], verbose=0)
    first = RateAtStart()
    result = config_fit(tiny_model(config), batches(x, y), batches(x, y), config, tmp_path, budget_seconds=2.0,
                 extra_callbacks=[first, Step()], verbose=0)
    assert first.rate == pytest.approx(config.lr * (0.1 + 0.9 * (1 - 1.6 / 2.0) / 0.3), rel=1e-5)
    elapsed = [float(row["elapsed_seconds"]) for row in result["epochs"]]
    # Both parts counted; stopped once the budget was spent (this fake clock ticks after the check: one step late).
    assert elapsed[:2] == pytest.approx([0.8, 1.6]) and 2.0 <= elapsed[2] <= 2.1 + 1e-9
    assert result["train_seconds"] == pytest.approx(elapsed[2])


def test_a_run_killed_after_an_epoch_and_resumed_ends_with_the_uninterrupted_weights(tmp_path):
    # Shuffled data (a new pipeline for the resumed part, as a new process would build), a cosine
    # schedule and a time budget too long to bite: the resumed run must retrace the same steps.
    from shared.data import slices

    config = TinyConfig(epochs=4, lr_schedule="cosine")
    x, y = tiny_problem()

    def shuffled():
        return slices((x, y), shuffle_seed=3).batch(16)

    def model():
        config_setup(config)
        network = tiny_gru()
        config_compile(network, config, loss="binary_crossentropy", steps_per_epoch=8)
        return network

    whole = model()
    config_fit(whole, shuffled(), batches(x, y), config, tmp_path / "whole", budget_seconds=600, verbose=0)
    with pytest.raises(KeyboardInterrupt):
        config_fit(model(), shuffled(), batches(x, y), config, tmp_path / "killed", budget_seconds=600,
            extra_callbacks=[Interrupt(after=1)], verbose=0)
    resumed = model()
    result = config_fit(resumed, shuffled(), batches(x, y), config, tmp_path / "killed", budget_seconds=600, verbose=0)
    assert result["resumed_from_epoch"] == 2
    for a, b in zip(whole.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)  # stated tolerance: float32 round-off only


def test_each_epoch_has_its_own_order_and_the_same_one_in_any_pipeline():
    from shared.data import set_shuffle_epoch, slices

    def order(epoch):
        set_shuffle_epoch(epoch)
        return [int(i) for i in slices(np.arange(50), shuffle_seed=7)]

    try:
        assert order(0) != order(1) and sorted(order(1)) == list(range(50))
        assert order(1) == order(1) and order(0) == order(0)  # a function of (seed, epoch) alone
        assert [int(i) for i in slices(np.arange(5))] == [0, 1, 2, 3, 4]  # no seed: in order
    finally:
        set_shuffle_epoch(0)


def test_early_stopping_carries_its_best_value_and_patience_count_across_a_resume():
    from shared.training import ResumableEarlyStopping

    earlier = [{"val_loss": "0.5"}, {"val_loss": "0.4"}, {"val_loss": "0.45"}]
    stopper = ResumableEarlyStopping(earlier, monitor="val_loss", patience=2)
    stopper.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    stopper.on_train_begin()
    assert stopper.best == 0.4 and stopper.wait == 1
    stopper.on_epoch_end(3, {"val_loss": 0.41})  # the second epoch without improvement: stop, as uninterrupted
    assert stopper.model.stop_training


def test_embedding_gradients_are_measured_and_clipped_with_repeated_rows_summed():
    import tensorflow as tf

    # Token 3 occurs twice: two rows of norm 1 that sum to one row of norm 2.0.
    row = np.full(2, np.sqrt(0.5), dtype="float32")
    sparse = tf.IndexedSlices(tf.constant([row, row]), tf.constant([3, 3]), tf.constant([5, 2]))
    dense = np.full(3, 2.0 / np.sqrt(3), dtype="float32")  # a second variable, norm 2.0
    variables = [keras.Variable(np.zeros((5, 2), "float32")), keras.Variable(np.zeros(3, "float32"))]
    optimizer = make_optimizer(lr=0.01, clipnorm=1.5)
    optimizer.apply([sparse, tf.constant(dense)], variables)
    total = float(keras.ops.convert_to_numpy(optimizer.grad_norm_stats[0]))  # one step: the sum is its norm
    assert total == pytest.approx(np.sqrt(8.0), rel=1e-5)  # both variables together; unsummed rows gave sqrt(6)
    # Each variable clipped to 1.5 on its own (global_clipnorm would scale both to 2.0 * 1.5 / sqrt(8)):
    for moment in optimizer._momentums:
        assert np.linalg.norm(keras.ops.convert_to_numpy(moment)) == pytest.approx(0.1 * 1.5, rel=1e-5)


def test_the_logged_norm_of_a_real_embedding_gradient_is_its_dense_norm():
    import tensorflow as tf

    inputs = keras.Input((6,), dtype="int32")
    hidden = keras.layers.GRU(4)(keras.layers.Embedding(5, 3)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1)(hidden))
    ids = np.array([[1, 1, 1, 2, 2, 1], [2, 1, 1, 1, 2, 2]], dtype="int32")  # every id repeated
    target = np.ones((2, 1), "float32")
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(ids) - target))
    grads = tape.gradient(loss, model.trainable_variables)
    assert isinstance(grads[0], tf.IndexedSlices)
    true_norm = np.sqrt(sum(np.sum(np.square(tf.convert_to_tensor(g).numpy())) for g in grads))
    optimizer = make_optimizer(lr=0.01, clipnorm=0)
    optimizer.apply(grads, model.trainable_variables)
    assert float(keras.ops.convert_to_numpy(optimizer.grad_norm_stats[0])) == pytest.approx(true_norm, rel=1e-5)
