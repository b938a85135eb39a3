import inspect
import json
import math
import time

import keras
import numpy as np
import pytest

from shared.artifacts import publish
from shared.config import parse, to_json

from .. import __main__ as cli
from .. import baseline, data, generate, model, ngram, speed, train
from ..config import Config, HomeConfig

PACKAGE = __package__.rsplit(".", 1)[0]  # "recipes.textgen", or "recipes.mine" in a copy
RECIPE = PACKAGE.split(".")[-1]

TEXT = "the cat sat on the mat. the dog sat on the log. a cat and a dog met. " * 30  # 2,070 characters
FAST = ["--units", "16", "--embedding-dim", "8", "--seq-len", "20", "--batch-size", "16", "--epochs", "2",
        "--lr", "0.01"]


def run_cli(argv, capsys):
    """Exit code and stderr of the command line, as a user would see them."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    return exit_info.value.code, capsys.readouterr().err


def random_generator(cell="gru", units=6, layers=2, vocab="abcdefg", seed=0):
    """An untrained network (random weights) and its Generator: enough to test the plumbing."""
    keras.utils.set_random_seed(seed)
    config = Config(cell=cell, units=units, layers=layers, embedding_dim=5)
    lm = model.build_language_model(config, len(vocab))
    return lm, generate.Generator(lm, list(vocab), cell, units, layers), config


def softmax(logits):
    exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)


# --- the HOME example --------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("seed", range(10))
def test_home_greedy_generation_is_home_for_every_seed(tmp_path, capsys, seed):
    metrics = cli.main(["home", "--seed", str(seed), "--out", str(tmp_path)])
    assert metrics["home"]["generated"] == "HOME"
    assert "test" not in metrics and set(metrics["baselines"]) == {"unigram"}  # HOME has no tail to hold out
    printed = capsys.readouterr().out
    assert "generated: HOME" in printed
    saved = json.loads((tmp_path / "config.json").read_text())["config"]
    assert saved["cell"] == "rnn" and saved["text"] == "" and saved["seed"] == seed
    for context, probabilities in metrics["home"]["steps"]:  # after H, HO, HOM: one row of 4 probabilities
        assert len(probabilities) == 4 and math.isclose(sum(probabilities), 1.0, rel_tol=1e-6)
        assert max(probabilities) > 0.9
    if seed == 0:  # the saved model says the same through the command line
        assert cli.main(["generate", "--model", str(tmp_path), "--prompt", "H", "--length", "3",
                         "--temperature", "0"]) == "OME"


def test_home_settings_are_the_defaults_its_help_shows_and_yield_to_options_given(capsys):
    with pytest.raises(SystemExit):
        cli.main(["home", "--help"])
    shown = capsys.readouterr().out
    assert f"python -m {PACKAGE} home" in shown and "(default: rnn)" in shown and "(default: 0.05)" in shown
    config = parse(HomeConfig, ["--units", "4", "--seq-len=2"], recipe=RECIPE)
    assert (config.units, config.seq_len, config.cell, config.lr) == (4, 2, "rnn", 0.05)
    assert Config().cell == "gru" and Config().units == 512  # the real-text defaults stay apart


# --- data --------------------------------------------------------------------------------

def test_split_is_training_then_validation_then_test_and_the_vocabulary_comes_from_training_only():
    text = "abcabcabcabcabcabcabcabcabcabcabcabcabcxyabcabcbcz"  # 50 characters
    corpus = data.split(text, val_fraction=0.1, seq_len=2, test_fraction=0.12)
    assert corpus.train == text[:39]
    assert (corpus.val, corpus.dropped) == ("abc", 2)  # x, y were never seen in training
    assert (corpus.test, corpus.test_dropped) == ("abcbc", 1)  # nor z
    assert data.vocabulary(corpus.train) == ["a", "b", "c"]
    inputs, targets = data.windows(data.encode("abcabca", ["a", "b", "c"]), seq_len=3)
    assert inputs.tolist() == [[0, 1, 2], [0, 1, 2]] and targets.tolist() == [[1, 2, 0], [1, 2, 0]]
    assert data.scored_positions(np.arange(7), 3).tolist() == [1, 2, 3, 4, 5, 6]  # the targets' places


def test_default_split_keeps_the_training_part_of_one_ten_percent_tail():
    text = "".join(chr(97 + i % 26) for i in range(12_345))
    corpus = data.split(text, Config.val_fraction, 100)
    assert Config.test_fraction == data.TEST_FRACTION  # what a caller that names no test fraction gets
    assert corpus.train == text[: len(text) - round(len(text) * 0.1)]
    assert corpus.train + corpus.val + corpus.test == text
    assert abs(len(corpus.val) - len(corpus.test)) <= 1


def test_home_has_no_test_tail():
    corpus = data.split("HOME", 0.05, 3, holdout=False)
    assert corpus.train == corpus.val == "HOME" and corpus.test == ""


def test_unigram_baseline_is_the_cross_entropy_of_training_frequencies():
    train_ids = np.array([0, 0, 0, 1])
    assert data.unigram_loss(train_ids, np.array([0, 1]), 2) == pytest.approx(-(math.log(0.75) + math.log(0.25)) / 2)


def test_kneser_ney_matches_the_formula_worked_by_hand():
    # Training "aabab", vocabulary a, b, c (c never seen). Bigrams aa 1, ab 2, ba 1: D2 = 2 / (2 + 2 * 1).
    # Continuation counts (distinct predecessors): a 2, b 1, c 0; D1 = 1 / (1 + 2 * 1);
    # P1(a) = (2 - 1/3) / 3 + (1/3) * 2 / 3 * 1/3 = 17/27, P1(b) = 8/27, P1(c) = 2/27.
    counts = ngram.KneserNey([0, 0, 1, 0, 1], 3, max_order=2)
    np.testing.assert_allclose(counts.distribution([2]), np.array([17, 8, 2]) / 27)  # unseen context: backs off
    after_a = [(1 - 0.5) / 3 + 0.5 * 2 / 3 * 17 / 27, (2 - 0.5) / 3 + 0.5 * 2 / 3 * 8 / 27, 0.5 * 2 / 3 * 2 / 27]
    np.testing.assert_allclose(counts.distribution([0]), after_a)
    counts.order = 1  # raw unigram counts a 3, b 2 (n1 0, n2 1: D clipped to 0.1), interpolated with 1/3
    np.testing.assert_allclose(counts.distribution([]), [(3 - 0.1) / 5 + 0.1 * 2 / 5 / 3, (2 - 0.1) / 5 + 0.1 * 2 / 5 / 3,
                                                         0.1 * 2 / 5 / 3])


def test_kneser_ney_sums_to_one_over_the_vocabulary_for_every_context_and_order():
    rng = np.random.default_rng(0)
    vocab_size = 9
    train_ids = np.minimum(rng.geometric(0.35, size=3000) - 1, vocab_size - 2)  # skewed; the last id never seen
    counts = ngram.KneserNey(train_ids, vocab_size, max_order=6)
    for order in range(1, 7):
        counts.order = order
        for length in (0, 1, 3, 5, 9):
            for context in (rng.integers(0, vocab_size, size=length).tolist(), list(train_ids[100:100 + length])):
                probabilities = counts.distribution(context)
                assert probabilities.min() > 0 and probabilities.sum() == pytest.approx(1.0, abs=1e-12)
    # Scoring a text gives each character the probability its context's distribution gives it.
    ids = rng.integers(0, vocab_size, size=40)
    positions = np.arange(0, 40)
    expected = -np.mean([np.log(counts.distribution(ids[max(0, p - 5):p])[ids[p]]) for p in positions])
    assert counts.loss(ids, positions) == pytest.approx(expected)


def test_kneser_ney_of_the_right_order_learns_a_periodic_text_and_beats_the_unigram():
    # Period 6 over a, b, c: after "a" comes b or c (order 2 is unsure), the two characters before decide (order 3).
    pattern = data.encode("abcacb", ["a", "b", "c"])
    text = np.tile(pattern, 200)
    train_ids, val_ids = text[:1000], text[1000:1100]
    positions = np.arange(1, len(val_ids))  # every character after the first
    counts, by_order = ngram.choose_order(train_ids, val_ids, positions, 3, max_order=6)
    assert by_order[1] > 1.0 and by_order[2] > 0.6  # unigram: ln 3 = 1.10 nats; order 2: ln 2 = 0.69
    assert counts.order == 3 and by_order[3] == min(by_order.values()) < 0.05


def test_the_n_gram_order_is_chosen_on_validation_and_never_sees_the_test_tail():
    assert list(inspect.signature(ngram.choose_order).parameters) == [
        "train_ids", "val_ids", "val_positions", "vocab_size", "max_order"]
    # Training is mostly periodic; validation is random (order 1 fits it best), test periodic (a high order would).
    rng = np.random.default_rng(0)
    periodic = np.tile([0, 1, 2], 300)
    train_ids = np.concatenate([periodic, rng.integers(0, 3, size=300)])
    val_ids, test_ids = rng.integers(0, 3, size=301), np.tile([0, 1, 2], 101)
    baselines = baseline.score_baselines(train_ids, val_ids, test_ids, 3, seq_len=10)
    kneser_ney = baselines["ngram"]
    by_order = {int(n): loss for n, loss in kneser_ney["validation_by_order"].items()}
    assert kneser_ney["order"] == min(by_order, key=by_order.get) == 1
    counts = ngram.KneserNey(train_ids, 3)
    on_test = counts.losses(test_ids, data.scored_positions(test_ids, 10))
    assert min(on_test, key=on_test.get) > 1  # the test tail would have picked another order
    assert kneser_ney["test"]["nats_per_char"] == pytest.approx(on_test[1])


def test_perplexity_and_bits_follow_from_nats():
    figures = baseline.per_char(1.5)
    assert figures["perplexity"] == math.exp(1.5) and figures["bits_per_char"] == 1.5 / math.log(2)


# --- generation --------------------------------------------------------------------------

@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_carrying_the_state_step_by_step_equals_one_pass_over_the_sequence(cell):
    lm, generator, _ = random_generator(cell)
    ids = np.random.default_rng(1).integers(0, 7, size=25).astype("int32")
    whole = softmax(keras.ops.convert_to_numpy(lm(ids[None], training=False))[0])  # (25, vocab)
    logits, states = generator.feed(ids[:5])  # a prompt in one call, then one character at a time
    stepped = [logits]
    for index in ids[5:]:
        logits, states = generator.feed([index], states)
        stepped.append(logits)
    np.testing.assert_allclose(softmax(np.concatenate(stepped)), whole, rtol=1e-5, atol=1e-6)


def test_temperature_scales_the_logits_and_zero_is_greedy():
    logits = np.array([2.0, 1.0, 0.5, -1.0])
    np.testing.assert_allclose(generate.distribution(logits, 1.0), softmax(logits))
    np.testing.assert_allclose(generate.distribution(logits, 0.5), softmax(logits / 0.5))
    assert generate.distribution(logits, 0).tolist() == [1.0, 0.0, 0.0, 0.0]
    entropy = [-(p * np.log(p)).sum() for p in (generate.distribution(logits, t) for t in (0.5, 1.0, 2.0))]
    assert entropy[0] < entropy[1] < entropy[2]


def test_top_k_keeps_the_k_most_likely_renormalised():
    logits = np.array([0.1, 3.0, -2.0, 2.0, 1.0])
    probabilities = generate.distribution(logits, 1.0, top_k=2)
    assert set(np.flatnonzero(probabilities)) == {1, 3}
    np.testing.assert_allclose(probabilities[[1, 3]], softmax(logits[[1, 3]]))
    np.testing.assert_allclose(generate.distribution(logits, 1.0, top_k=99), softmax(logits))


def test_top_k_sampling_never_emits_a_character_outside_the_top_k():
    _, generator, _ = random_generator("lstm")
    seen = []
    feed = generator.feed

    def recording(ids, states=None):
        logits, states = feed(ids, states)
        seen.append(np.argsort(-logits[-1])[:2])  # this step's two most likely ids
        return logits, states

    generator.feed = recording
    text = "".join(generator.characters("abc", 150, temperature=3.0, top_k=2, seed=0))
    for allowed, char in zip(seen, text):
        assert generator.vocab.index(char) in allowed
    assert len(set(text)) > 1  # a high temperature does sample, within the top 2


def test_top_p_keeps_the_fewest_most_likely_whose_probabilities_reach_p():
    probabilities = np.array([0.1, 0.5, 0.15, 0.25])  # sorted: ids 1, 3, 2, 0; running sums .5 .75 .9 1
    logits = np.log(probabilities)
    for top_p, kept in [(0.3, {1}), (0.5, {1}), (0.6, {1, 3}), (0.75, {1, 3}), (0.76, {1, 3, 2}),
                        (0.95, {0, 1, 2, 3}), (1.0, {0, 1, 2, 3})]:
        nucleus = generate.distribution(logits, 1.0, top_p=top_p)
        assert set(np.flatnonzero(nucleus)) == kept, top_p
        ids = sorted(kept)
        np.testing.assert_allclose(nucleus[ids], probabilities[ids] / probabilities[ids].sum())
    # Against the definition, on random distributions: the kept set reaches p, and it is the smallest such
    # set (its size is that of the shortest prefix of the sorted probabilities whose sum reaches p).
    rng = np.random.default_rng(0)
    for _ in range(200):
        logits, top_p, temperature = rng.normal(0, 2, size=12), rng.uniform(0.05, 1), rng.choice([0.5, 1, 2])
        full = softmax(logits / temperature)  # top-p applies to the distribution after the temperature
        kept = np.flatnonzero(generate.distribution(logits, temperature, top_p=top_p))
        assert full[kept].sum() >= top_p - 1e-12
        assert len(kept) == 1 + np.argmax(np.cumsum(np.sort(full)[::-1]) >= top_p - 1e-12)
        assert full[kept].min() >= np.delete(full, kept).max(initial=0)  # the most likely, none skipped


def test_top_p_after_top_k_and_top_p_sampling_stays_in_the_nucleus():
    logits = np.log(np.array([0.4, 0.3, 0.2, 0.1]))
    # Top-2 leaves 4/7 and 3/7; p = 0.5 then keeps only the first.
    assert set(np.flatnonzero(generate.distribution(logits, 1.0, top_k=2, top_p=0.5))) == {0}
    _, generator, _ = random_generator("gru")
    seen = []
    feed = generator.feed

    def recording(ids, states=None):
        logits, states = feed(ids, states)
        seen.append(np.flatnonzero(generate.distribution(logits[-1], 2.0, top_p=0.6)))  # this step's nucleus
        return logits, states

    generator.feed = recording
    text = "".join(generator.characters("abc", 150, temperature=2.0, seed=0, top_p=0.6))
    assert all(generator.vocab.index(char) in allowed for allowed, char in zip(seen, text))
    assert len(set(text)) > 1


def save(tmp_path, lm, config, vocab):
    publish(tmp_path, {"config.json": to_json(config, RECIPE),
                       "vocab.json": json.dumps({"vocabulary": vocab, "start": vocab[0]})}, model=lm)


def test_same_seed_same_text_after_save_and_reload(tmp_path):
    lm, generator, config = random_generator("gru", units=8)
    save(tmp_path, lm, config, generator.vocab)
    reloaded, _ = generate.load(tmp_path)
    before = "".join(generator.characters("cab", 80, temperature=1.0, seed=7))
    assert "".join(reloaded.characters("cab", 80, temperature=1.0, seed=7)) == before
    assert "".join(reloaded.characters("cab", 80, temperature=1.0, seed=8)) != before


def test_speed_table_times_both_ways_on_the_same_text(tmp_path):
    lm, generator, _ = random_generator("gru", units=8)
    row = speed.measure(generator, lm, "abc", 30)
    assert row["length"] == 30 and row["carried_seconds"] > 0 and row["window_seconds"] > 0
    assert row["ratio"] == pytest.approx(row["window_seconds"] / row["carried_seconds"])


# --- end to end --------------------------------------------------------------------------

@pytest.mark.slow
def test_train_on_a_text_file_then_generate(tmp_path, capsys):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    out = tmp_path / "run"
    metrics = train.main(["--text", str(path), "--out", str(out), *FAST])
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["validation"] == metrics["validation"] and saved["test"] == metrics["test"]
    assert (saved["sizes"]["train"], saved["sizes"]["validation"], saved["sizes"]["test"]) == (1863, 103, 104)
    nats = metrics["test"]["nats_per_char"]
    assert metrics["test"]["perplexity"] == pytest.approx(math.exp(nats))
    unigram, kneser_ney = saved["baselines"]["unigram"], saved["baselines"]["ngram"]
    assert nats < unigram["test"]["nats_per_char"] - 0.3  # learnt more than character frequencies
    assert kneser_ney["test"]["nats_per_char"] < unigram["test"]["nats_per_char"] - 0.3
    orders = kneser_ney["validation_by_order"]
    assert kneser_ney["validation"]["nats_per_char"] == min(orders.values()) == orders[str(kneser_ney["order"])]

    # The reported test loss is the mean cross-entropy of the test tail's next characters.
    vocab = json.loads((out / "vocab.json").read_text())["vocabulary"]
    inputs, targets = data.windows(data.encode(TEXT[-104:], vocab), 20)
    probabilities = softmax(keras.ops.convert_to_numpy(generate.load(out)[0].trained(inputs, training=False)))
    picked = np.take_along_axis(probabilities, targets[..., None], axis=-1)
    assert -np.log(picked).mean() == pytest.approx(nats, rel=1e-4)
    printed = capsys.readouterr().out
    assert "test (104 characters)" in printed and f"{kneser_ney['order']}-gram KN" in printed

    capsys.readouterr()
    argv = ["generate", "--model", str(out), "--prompt", "the ", "--length", "40", "--seed", "3"]
    first = cli.main(argv)
    assert capsys.readouterr().out == "the " + first + "\n" and len(first) == 40
    assert cli.main(argv) == first
    # A fresh process, as a user runs it: it never imports the training code (the saved model named
    # the shared optimizer's class, and generate could not load it).
    import subprocess
    import sys
    from pathlib import Path

    fresh = subprocess.run([sys.executable, "-m", PACKAGE, *argv], capture_output=True, text=True,
                           cwd=Path(__file__).resolve().parents[3], timeout=300, check=False)
    assert fresh.returncode == 0 and fresh.stdout == "the " + first + "\n", fresh.stderr[-2000:]


@pytest.mark.slow
def test_the_learning_rate_follows_the_steps_whatever_the_minutes_and_the_clock(tmp_path, monkeypatch):
    from shared import training

    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    fit = training.fit

    def run(name, minutes, seconds_spent=None):
        """The learning rate of every training step of a run; seconds_spent: what its clock always says."""
        rates = []

        class Recorder(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):  # the rate now set: the next step's
                rates.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

        monkeypatch.setattr(training, "fit", lambda *a, extra_callbacks=(), **k: fit(
            *a, extra_callbacks=[*extra_callbacks, Recorder()], **k))
        if seconds_spent is not None:  # a slow machine: the budget looks nearly (or already) spent
            monkeypatch.setattr(training.EpochClock, "elapsed", lambda self: seconds_spent)
        train.main(["--text", str(path), "--out", str(tmp_path / name), "--minutes", str(minutes), *FAST])
        monkeypatch.undo()
        return rates

    uncapped = run("uncapped", 0)
    # 1,863 training characters: 93 windows of 20, repeated 9 times to make 50 batches of 16 or more: 53.
    steps = 2 * data.batch_count(data.encode(TEXT[:1863], sorted(set(TEXT))), 20, 16, shuffled=True)
    assert steps == 106 == len(uncapped)
    expected = [0.01 * 0.5 * (1 + math.cos(math.pi * k / steps)) for k in range(1, steps + 1)]  # cosine to 0
    np.testing.assert_allclose(uncapped, expected, rtol=1e-5)
    # 90% of 30 minutes gone from the first step: the old wall-clock cool-down lowered the rate here.
    np.testing.assert_allclose(run("slow", 30, seconds_spent=0.9 * 30 * 60), uncapped, rtol=1e-6)
    capped = run("spent", 1, seconds_spent=61)  # the budget is spent: the run stops, the steps it did are the same
    assert 0 < len(capped) < steps
    np.testing.assert_allclose(capped, uncapped[: len(capped)], rtol=1e-6)


@pytest.fixture
def float32_afterwards():
    """--mixed-precision sets Keras's global dtype policy; later tests expect float32 again."""
    yield
    keras.config.set_dtype_policy("float32")


def test_step_model_under_mixed_precision_keeps_float32_states(float32_afterwards):
    keras.config.set_dtype_policy("mixed_bfloat16")  # what --mixed-precision sets on CPU
    _, generator, _ = random_generator("lstm", units=6, layers=2)
    _, states = generator.feed(generator.encode("abc"))
    assert all(keras.backend.standardize_dtype(state.dtype) == "float32" for state in states)
    text = "".join(generator.characters("abc", 20, temperature=1.0))  # the second step failed with bfloat16 states
    assert len(text) == 20


@pytest.mark.slow
def test_mixed_precision_run_saves_the_model_and_it_generates(tmp_path, capsys, float32_afterwards):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    out = tmp_path / "run"
    metrics = train.main(["--text", str(path), "--smoke", "--mixed-precision", "--out", str(out), *FAST])
    assert keras.config.dtype_policy().name == "mixed_bfloat16"  # it did train in mixed precision
    assert json.loads((out / "metrics.json").read_text())["test"] == metrics["test"]
    for policy in ("mixed_bfloat16", "float32"):  # the same process, then as a fresh process loads it
        keras.config.set_dtype_policy(policy)
        capsys.readouterr()
        generated = cli.main(["generate", "--model", str(out), "--prompt", "the ", "--length", "30"])
        assert len(generated) == 30 and capsys.readouterr().out == "the " + generated + "\n"


@pytest.mark.slow
def test_a_failure_after_training_keeps_the_trained_model(tmp_path, monkeypatch):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    out = tmp_path / "run"

    def broken(*args, **kwargs):
        raise RuntimeError("generation broke")

    monkeypatch.setattr(generate, "stream", broken)
    with pytest.raises(RuntimeError, match="generation broke"):
        train.main(["--text", str(path), "--smoke", "--out", str(out), *FAST])
    assert {"model.keras", "config.json", "vocab.json"} <= {p.name for p in out.iterdir()}
    assert not (out / "metrics.json").exists()  # metrics come last, so they never describe a lost model
    monkeypatch.undo()
    assert len(cli.main(["generate", "--model", str(out), "--prompt", "the ", "--length", "10"])) == 10


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    lm, generator, config = random_generator("rnn", units=4, layers=1)
    folder = tmp_path_factory.mktemp(RECIPE) / "model"
    save(folder, lm, config, generator.vocab)
    return folder


@pytest.mark.parametrize("argv,message", [
    (["--text", "{tmp}/empty.txt"], "the text file is empty"),
    (["--text", "{tmp}/blank.txt"], "the text file is empty"),
    (["--text", "{tmp}/nbsp.txt"], "holds only whitespace"),
    (["--text", "{tmp}/latin1.txt"], ("line 2: bytes that are not valid utf-8 (byte 9); save the file as utf-8, "
                                      "or name its encoding with --encoding")),
    (["--text", "{tmp}/short.txt", "--seq-len", "10"], "the text has 10 characters, fewer than --seq-len + 1 = 11"),
    (["--text", "{tmp}/short.txt", "--seq-len", "8"], "too few for a training part, a validation part (5%) and a "
                                                          "test tail (5%)"),
    (["--text", "{tmp}/short.txt", "--seq-len", "2", "--val-fraction", "0.5", "--test-fraction", "0.5"],
     "add up to 1: they must add up to less than 1"),
    (["--text", "{tmp}/one_letter.txt", "--seq-len", "5"], "uses 1 distinct character(s)"),
    (["--text", "{tmp}/nowhere.txt"], "no such text file"),
    (["--text", "{tmp}/short.txt", "--corpus", "tinyshakespeare"], "either --text or --corpus"),
    (["--encoding", "klingon", "--text", "{tmp}/latin1.txt"], "unknown text encoding 'klingon'"),
    (["--cell", "transformer"], "invalid choice"),
    (["generate", "--model", "{model}", "--temperature", "-0.5"], "--temperature must be 0 (greedy) or more"),
    (["generate", "--model", "{model}", "--length", "0"], "--length must be at least 1, got 0"),
    (["generate", "--model", "{model}", "--top-k", "-1"], "--top-k must be 0 (off) or more"),
    (["generate", "--model", "{model}", "--top-p", "0"], "--top-p must be in (0, 1] (1: off), got 0.0"),
    (["generate", "--model", "{model}", "--top-p", "1.5"], "--top-p must be in (0, 1] (1: off), got 1.5"),
    (["--text", "{tmp}/short.txt", "--seq-len", "2", "--minutes", "5", "--lr-schedule", "constant"],
     "--minutes with --lr-schedule constant would lower the rate by the clock"),
    (["generate", "--model", "{model}", "--prompt", "bad Zoo"], "characters the model never saw: ' ' 'Z' 'o'"),
    (["generate", "--model", "{model}", "--prompt", ""], "--prompt is empty"),
    (["generate", "--model", "{tmp}/sentiment"], "model of recipe 'sentiment', not '{recipe}'"),
    (["generate", "--model", "{tmp}"], "not a model directory"),
    (["speed", "--model", "{model}", "--lengths", "0"], "--lengths must be at least 1"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, saved_model, argv, message):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "blank.txt").write_bytes(b"  \n\t\n")
    (tmp_path / "nbsp.txt").write_text("\u00a0\u2003\n", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("Romeo\ncaf\u00e9\n".encode("latin-1"))
    (tmp_path / "short.txt").write_text("0123456789", encoding="utf-8")
    (tmp_path / "one_letter.txt").write_text("a" * 200, encoding="utf-8")
    (tmp_path / "sentiment").mkdir()
    (tmp_path / "sentiment" / "config.json").write_text(json.dumps({"recipe": "sentiment", "config": {}}))
    (tmp_path / "sentiment" / "model.keras").write_bytes(b"")
    argv = [a.format(tmp=tmp_path, model=saved_model) for a in argv]
    message = message.format(recipe=RECIPE)
    if argv[0] not in ("generate", "speed"):
        argv += ["--out", str(tmp_path / "out")]
    code, err = run_cli(argv, capsys)
    assert code == 2 and message in err, err
    assert err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()  # a refused run writes nothing


def test_another_encoding_can_be_named(tmp_path):
    (tmp_path / "latin1.txt").write_bytes("Romeo\ncaf\u00e9\n".encode("latin-1"))
    assert data.read_corpus(tmp_path / "latin1.txt", "latin-1") == "Romeo\ncaf\u00e9\n"


@pytest.mark.timing
@pytest.mark.real_data
def test_tiny_shakespeare_is_found_split_and_has_a_unigram_baseline(real_data, monkeypatch):
    monkeypatch.setenv("RECIPES_DATA_DIR", str(real_data))
    text, source = data.load_text("", "tinyshakespeare", "utf-8")
    assert len(text) == 1_115_394 and len(set(text)) == 65 and source.endswith("text/tinyshakespeare.txt")
    corpus = data.split(text, Config.val_fraction, 100, test_fraction=Config.test_fraction)
    vocab = data.vocabulary(corpus.train)
    assert len(corpus.train) == 1_003_855 and corpus.val == text[1_003_855:1_059_624] and corpus.dropped == 0
    assert corpus.test == text[1_059_624:] and corpus.test_dropped == 0
    train_ids, val_ids, test_ids = (data.encode(part, vocab) for part in (corpus.train, corpus.val, corpus.test))
    unigram = data.unigram_loss(train_ids, val_ids, len(vocab))
    assert 3.0 < unigram < 3.5  # about 4.7 bits per character
    started = time.perf_counter()
    baselines = baseline.score_baselines(train_ids, val_ids, test_ids, len(vocab), 100)
    assert time.perf_counter() - started < 30  # counting 8 orders of 1 M characters and choosing one
    kneser_ney = baselines["ngram"]
    assert 4 <= kneser_ney["order"] <= 8
    assert kneser_ney["test"]["nats_per_char"] < 2.0 < baselines["unigram"]["test"]["nats_per_char"]


@pytest.mark.slow
def test_recipe_contract(tmp_path):
    from shared.testing import check_recipe

    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    check_recipe(train.main, tmp_path / "run", ["--text", str(path), *FAST], files=("vocab.json",),
                 infer=lambda out: cli.main(["generate", "--model", str(out), "--prompt", "the ", "--length", "20"]))
