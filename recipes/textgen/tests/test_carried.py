"""Carried-state training and evaluation (carried.py, --carry-state)."""
import csv
import json

import keras
import numpy as np
import pytest

from shared.artifacts import publish
from shared.run import compile_from_config

from .. import __main__ as cli
from .. import baseline, carried, data, generate, model, train
from ..config import Config
from .test_textgen import FAST, RECIPE, TEXT, save, softmax


def tiny(cell="gru", layers=2, vocab_size=9, **settings):
    keras.utils.set_random_seed(0)
    return Config(cell=cell, units=6, layers=layers, embedding_dim=5, dropout=0.0, **settings), vocab_size


def states_of(network):
    """The carried states of a stateful model's layers, as NumPy arrays."""
    return [keras.ops.convert_to_numpy(state) for layer in carried.stateful_layers(network) for state in layer.states]


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_the_state_carried_between_windows_is_the_state_of_one_long_pass(cell):
    config, vocab_size = tiny(cell)
    stateful = model.build_language_model(config, vocab_size, stateful_batch=2)
    stateless = model.stateless_copy(stateful, config, vocab_size)  # the same weights, zero state every call
    ids = np.random.default_rng(0).integers(0, vocab_size, size=(2, 14)).astype("int32")
    whole = keras.ops.convert_to_numpy(stateless(ids))  # (2, 14, vocab): one pass over both windows
    first = keras.ops.convert_to_numpy(stateful(ids[:, :7]))
    second = keras.ops.convert_to_numpy(stateful(ids[:, 7:]))  # starts from the state window 1 ended in
    np.testing.assert_allclose(first, whole[:, :7], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(second, whole[:, 7:], rtol=1e-5, atol=1e-5)
    # The state after window 2 is the state the long pass reaches after 14 characters.
    step = model.build_step_model(stateless, cell, config.units, config.layers)
    zeros = [np.zeros((2, config.units), "float32")] * (len(step.inputs) - 1)
    _, *long_states = step([ids, *zeros])
    for carried_state, long_state in zip(states_of(stateful), long_states, strict=True):
        np.testing.assert_allclose(carried_state, keras.ops.convert_to_numpy(long_state), rtol=1e-5, atol=1e-5)
    # Without the carried state window 2 differs: the comparison above can fail.
    assert not np.allclose(keras.ops.convert_to_numpy(stateless(ids[:, 7:])), whole[:, 7:], atol=1e-3)
    for layer in carried.stateful_layers(stateful):
        layer.reset_state()
    assert all(not state.any() for state in states_of(stateful))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(stateful(ids[:, :7])), first, rtol=1e-6, atol=1e-6)


def test_streams_are_contiguous_and_row_b_of_each_batch_continues_stream_b():
    ids = np.arange(103, dtype="int32")  # id = position: what each window holds names where it came from
    inputs, targets = carried.stream_windows(ids, seq_len=5, streams=4)  # streams of 102 // 4 = 25: 5 windows
    assert inputs.shape == targets.shape == (5, 4, 5)
    for b in range(4):
        stream = np.concatenate(inputs[:, b])  # batch 0, 1, ... of row b, end to end
        assert stream.tolist() == list(range(25 * b, 25 * b + 25))
        assert np.concatenate(targets[:, b]).tolist() == list(range(25 * b + 1, 25 * b + 26))
    pipeline = [(x.numpy(), y.numpy()) for x, y in carried.batches(ids, 5, 4, min_batches=1)]
    assert len(pipeline) == 5 and all((x == inputs[t]).all() and (y == targets[t]).all()
                                      for t, (x, y) in enumerate(pipeline))
    # A short text is read several times an epoch: 12 batches at least, so 3 passes of 5.
    assert carried.batch_count(ids, 5, 4, min_batches=12) == (15, 5)
    assert len(list(carried.batches(ids, 5, 4, min_batches=12))) == 15


class Recorder(keras.callbacks.Callback):
    """After ResetStates: whether the state is zero at each batch's start, and each step's learning rate."""

    def __init__(self):
        super().__init__()
        self.zero, self.rates = {}, []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        self.zero[self.epoch, batch] = all(not state.any() for state in states_of(self.model))

    def on_train_batch_end(self, batch, logs=None):
        self.rates.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))


def test_an_epoch_has_the_batches_the_cosine_is_told_and_the_state_is_zeroed_where_each_pass_starts():
    config, vocab_size = tiny(layers=1, epochs=2, lr=0.01, lr_schedule="cosine")
    ids = np.random.default_rng(0).integers(0, vocab_size, size=103).astype("int32")
    steps, period = carried.batch_count(ids, 5, 4, min_batches=8)
    assert (steps, period) == (10, 5)  # two passes over streams of 5 windows
    network = model.build_language_model(config, vocab_size, stateful_batch=4)
    compile_from_config(network, config, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                        steps_per_epoch=steps)
    reset, recorder = carried.ResetStates(period), Recorder()
    network.fit(carried.batches(ids, 5, 4, min_batches=8), epochs=2, callbacks=[reset, recorder], verbose=0)
    assert reset.resets == [(0, 0), (0, 5), (1, 0), (1, 5)]
    assert [key for key, zero in recorder.zero.items() if zero] == reset.resets  # zero there, and only there
    assert len(recorder.rates) == 2 * steps == int(network.optimizer.iterations)
    expected = [0.01 * 0.5 * (1 + np.cos(np.pi * k / (2 * steps))) for k in range(1, 2 * steps + 1)]
    np.testing.assert_allclose(recorder.rates, expected, rtol=1e-5, atol=1e-9)  # the cosine ends at the last step


def test_the_carried_evaluation_is_the_mean_loss_of_one_long_pass_and_the_baselines_score_the_same_characters():
    config, vocab_size = tiny("lstm")
    lm = model.build_language_model(config, vocab_size)
    scorer = carried.Scorer(model.build_step_model(lm, "lstm", config.units, config.layers))
    ids = np.random.default_rng(2).integers(0, vocab_size, size=204).astype("int32")

    def long_pass(piece):
        """Mean -log p of piece[1:] from one pass over piece[:-1] from a zero state."""
        probabilities = softmax(keras.ops.convert_to_numpy(lm(piece[None, :-1]))[0].astype("float64"))
        return -np.log(probabilities[np.arange(len(piece) - 1), piece[1:]])

    # One stream: every character but the first, in chunks of 17 (not a divisor of 203).
    assert scorer.carried(ids, streams=1, chunk=17) == pytest.approx(long_pass(ids).mean(), rel=1e-5)
    assert carried.positions(ids, 1).tolist() == list(range(1, 204))
    # Three streams of 67: each a long pass of its own; the last 2 characters are not scored.
    losses = np.concatenate([long_pass(ids[67 * s: 67 * s + 68]) for s in range(3)])
    assert scorer.carried(ids, streams=3, chunk=10) == pytest.approx(losses.mean(), rel=1e-5)
    assert carried.positions(ids, 3).tolist() == list(range(1, 202))
    # Windows from a zero state, for comparison, are what Keras's evaluate of the windows gives.
    lm.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    inputs, targets = data.windows(ids, 20)
    assert scorer.windowed(ids, 20, 4) == pytest.approx(float(lm.evaluate(inputs, targets, verbose=0)), rel=1e-5)
    # The baselines are scored on the characters the carried figure scores.
    train_ids = np.random.default_rng(3).integers(0, vocab_size, size=2000)
    test_ids = ids[::-1].copy()
    streams = carried.eval_streams(ids)
    scored = baseline.score_baselines(train_ids, ids, test_ids, vocab_size, 30,
                                      positions=lambda part: carried.positions(part, streams))
    for part, part_ids in (("validation", ids), ("test", test_ids)):
        expected = data.unigram_loss(train_ids, part_ids[carried.positions(part_ids, streams)], vocab_size)
        assert scored["unigram"][part]["nats_per_char"] == pytest.approx(expected)
    assert streams == carried.EVAL_STREAMS and len(carried.positions(ids, streams)) != len(data.scored_positions(ids, 30))


def test_a_run_saved_before_the_option_existed_still_loads(tmp_path):
    config, vocab_size = tiny("gru", layers=1)
    lm = model.build_language_model(config, vocab_size)
    vocab = list("abcdefghi")
    save(tmp_path, lm, config, vocab)
    settings = json.loads((tmp_path / "config.json").read_text())
    del settings["config"]["carry_state"]  # as an earlier version wrote it
    publish(tmp_path, {"config.json": json.dumps(settings)}, model=lm)
    generator, _ = generate.load(tmp_path)
    assert len("".join(generator.characters("abc", 10))) == 10


def log_rows(out):
    with (out / "training_log.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_a_carried_state_run_killed_after_an_epoch_and_resumed_ends_as_the_uninterrupted_one(tmp_path, monkeypatch):
    from shared import training

    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    # Without dropout: Keras keeps its dropout masks' random state out of the saved weights, so a resumed run
    # (carried state or not) draws other masks than the uninterrupted one from its first resumed epoch on.
    argv = ["--text", str(path), "--carry-state", *FAST, "--epochs", "2", "--batch-size", "4", "--dropout", "0"]
    whole = train.main([*argv, "--out", str(tmp_path / "whole")])

    class Killed(Exception):
        pass

    class Kill(keras.callbacks.Callback):  # a killed process: after epoch 1's backup is written
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                raise Killed

    fit = training.fit
    monkeypatch.setattr(training, "fit", lambda *a, extra_callbacks=(), **k: fit(
        *a, extra_callbacks=[*extra_callbacks, Kill()], **k))
    with pytest.raises(Killed):
        train.main([*argv, "--out", str(tmp_path / "killed")])
    monkeypatch.undo()
    resumed = train.main([*argv, "--out", str(tmp_path / "killed")])
    assert resumed["resumed_from_epoch"] == 1 and whole["resumed_from_epoch"] is None
    for a, b in zip(log_rows(tmp_path / "whole"), log_rows(tmp_path / "killed"), strict=True):
        for name in ("loss", "val_loss", "val_windowed_loss"):
            assert float(a[name]) == pytest.approx(float(b[name]), rel=1e-5), name
    for part in ("validation", "test"):
        assert resumed[part]["nats_per_char"] == pytest.approx(whole[part]["nats_per_char"], rel=1e-5)
        assert resumed["carried"][part]["nats_per_char"] == pytest.approx(whole["carried"][part]["nats_per_char"],
                                                                            rel=1e-5)


@pytest.mark.slow
def test_carried_state_smoke_run_records_both_figures_and_its_model_generates(tmp_path, capsys):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    out = tmp_path / "run"
    # Streams of 465 characters, 23 windows of 20: an epoch reads them 3 times (data.MIN_BATCHES 50).
    metrics = train.main(["--text", str(path), "--carry-state", "--out", str(out), *FAST, "--batch-size", "4"])
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["best_epoch_by"] == "validation loss, carried"
    assert json.loads((out / "config.json").read_text())["config"]["carry_state"] is True
    rows = log_rows(out)
    best = min(rows, key=lambda row: float(row["val_loss"]))
    # The chosen model's figures: carried (picked the epoch) and windowed (as runs without the option).
    assert saved["carried"]["validation"]["nats_per_char"] == pytest.approx(float(best["val_loss"]), rel=1e-4)
    assert saved["validation"]["nats_per_char"] == pytest.approx(float(best["val_windowed_loss"]), rel=1e-4)
    for part in ("validation", "test"):
        unigram = saved["carried"]["baselines"]["unigram"][part]["nats_per_char"]
        assert saved["carried"][part]["nats_per_char"] < unigram
    printed = capsys.readouterr().out
    assert "the state carried through" in printed and "streams" in printed
    # The saved model is stateless: generate, speed and a reload work at batch 1.
    generated = cli.main(["generate", "--model", str(out), "--prompt", "the ", "--length", "20"])
    assert len(generated) == 20
    rows = cli.main(["speed", "--model", str(out), "--prompt", "the ", "--lengths", "5"])
    assert rows[0]["length"] == 5
    assert metrics["recipe"] == RECIPE
