"""The benchmark command runs end to end on real data and reports rates, memory and ratios."""
import json
import math
import subprocess
import sys

import keras
import numpy as np
import pytest
from tiny import tiny_gru, tiny_problem

from benchmarks import __main__ as bench
from benchmarks import harness


@pytest.mark.timing
@pytest.mark.real_data
def test_a_small_benchmark_writes_rates_memory_and_the_ratio_to_its_tutorial(real_data, tmp_path):
    from benchmarks import forecast

    report = bench.main(["--only", "forecast", "--size", "small", "--out", str(tmp_path)])
    rows = {row["case"]: row for row in report["results"]}
    # No time to target for the course: a point forecast cannot reach a band's pinball loss.
    assert set(rows) == {"train", "train_tutorial", "target"}
    assert all(rows[case]["per_second"] > 0 and rows[case]["timed_shapes"] == 1 for case in ("train", "train_tutorial"))
    recipe = rows["target"]
    # It does not start at the target; it trains to it.
    assert recipe["start_score"] > forecast.TARGET
    assert recipe["reached"] and recipe["score"] <= forecast.TARGET < recipe["checks"][-2][1]
    assert 0 < recipe["minutes"] < recipe["cap_minutes"] and len(recipe["checks"]) - 1 >= 10
    assert all(row["peak_memory_mb"] > 50 for row in rows.values())
    ratios = {item["case"]: item for item in report["comparisons"]}
    assert ratios["train"]["ratio"] == pytest.approx(rows["train"]["per_second"] / rows["train_tutorial"]["per_second"])
    assert set(ratios) == {"train"}
    assert json.loads((tmp_path / "bench.json").read_text())["machine"]["cores"] >= 1
    table = (tmp_path / "bench.md").read_text()
    assert "| forecast | train |" in table and f"{ratios['train']['ratio']:.2f}x" in table
    assert f"| {recipe['minutes']:.2f} | {recipe['resolution_minutes'] * 60:.2f} | {len(recipe['checks'])} | yes |" in table
    assert f"The whole run took {report['minutes']:.1f} min." in table


@pytest.mark.real_data
def test_the_untrained_forecaster_does_not_reach_the_forecast_target(real_data):
    from benchmarks import forecast

    config, _, parts, scaler, _ = forecast._split()
    untrained = forecast.recipe_forecaster(config, parts[0].x.shape[2], 10)
    score = forecast.recipe_score(parts, scaler)(untrained)
    assert score == pytest.approx(forecast.VALIDATION_UNTRAINED, abs=1e-4)
    assert score > forecast.TARGET + 0.002  # persistence with a unit-normal band, before any step


@pytest.mark.real_data
def test_the_xla_comparison_times_one_shape_on_both_sides(real_data):
    from benchmarks import sentiment
    from recipes.sentiment.train import Config

    batches, _ = sentiment._recipe_batches(Config(), "full", **sentiment.FIXED_SHAPE)
    assert len(batches) == 3 + sentiment.FIXED_SHAPE["steps"]
    size = Config().batch_size
    assert {(x.shape, y.shape) for x, y in batches} == {((size, Config().max_words), (size,))}
    bucketed, _ = sentiment._recipe_batches(Config(), "full", steps=sentiment.FIXED_SHAPE["steps"])
    assert len({x.shape for x, _ in bucketed}) > 10  # what the XLA case timed before: a new shape a step
    assert ("train_padded", "train_xla") in {(case, baseline) for case, baseline, _ in sentiment.COMPARE}


def test_train_throughput_counts_the_shapes_it_timed():
    keras.utils.set_random_seed(0)
    x, y = tiny_problem()
    model = tiny_gru()
    model.compile("adam", "binary_crossentropy")
    same = [(x[i:i + 16], y[i:i + 16]) for i in range(0, 128, 16)]
    result = harness.train_throughput(model, same, count=lambda batch: len(batch[0]))
    assert result["timed_shapes"] == 1 and result["steps_timed"] == 5 and result["per_second"] > 0
    mixed = same[:3] + [(x[i:i + 8], y[i:i + 8]) for i in range(0, 40, 8)]
    assert harness.train_throughput(model, mixed, count=lambda batch: len(batch[0]))["timed_shapes"] == 1
    mixed[-1] = (x[:5], y[:5])
    assert harness.train_throughput(model, mixed, count=lambda batch: len(batch[0]))["timed_shapes"] == 2


def test_every_recipe_benchmark_compares_cases_it_defines():
    for recipe in bench.recipes_with_benchmarks():
        module = __import__(f"benchmarks.{recipe}", fromlist=["CASES"])
        for case, baseline, _ in module.COMPARE:
            assert case in module.CASES and baseline in module.CASES, recipe


def test_an_unknown_recipe_is_one_line_and_exit_2(tmp_path):
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--only", "nosuch", "--out", str(tmp_path)],
                          check=False, capture_output=True, text=True)
    assert done.returncode == 2 and "no benchmark for 'nosuch'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "bench.json").exists()


def test_a_case_to_skip_that_does_not_exist_is_one_line_and_exit_2(tmp_path):
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--only", "forecast", "--skip", "forecast:trian",
                           "--out", str(tmp_path)], check=False, capture_output=True, text=True)
    assert done.returncode == 2 and "--skip: no case 'forecast:trian'" in done.stderr
    assert "forecast:train_tutorial" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def _tiny_model(lr=0.05):
    keras.utils.set_random_seed(0)
    model = tiny_gru()
    model.compile(keras.optimizers.Adam(lr), "binary_crossentropy")
    return model


def _tiny_batches():
    tf = pytest.importorskip("tensorflow")
    x, y = tiny_problem()
    return x, y, tf.data.Dataset.from_tensor_slices((x, y)).batch(16)  # 8 batches


@pytest.mark.timing
def test_train_to_target_stops_once_the_loss_gets_there_after_at_least_ten_checks():
    x, y, batches = _tiny_batches()

    def loss(trained):
        return trained.evaluate(x, y, verbose=0)

    slow = lambda: _tiny_model(lr=0.005)  # noqa: E731  (about 40 steps to the target)
    target = 0.8 * loss(slow())
    result = harness.train_to_target(slow, batches, loss, target, check_seconds=0.01, cap_minutes=5)
    scores = [score for _, score, _ in result["checks"]]
    assert result["reached"] and scores[-1] <= target < min(scores[:-1]) and result["start_score"] > target
    assert len(scores) - 1 >= 10, result["checks"]
    assert result["minutes"] == result["checks"][-1][0] > result["checks"][-2][0] > 0
    assert result["resolution_minutes"] == pytest.approx(result["checks"][-1][0] - result["checks"][-2][0])


def after_step(step):
    """A score that crosses 0.5 exactly when the optimizer has taken `step` steps."""
    return lambda trained: 1.0 if int(trained.optimizer.iterations.numpy()) < step else 0.0


@pytest.mark.timing
def test_the_time_to_target_is_within_one_check_interval_of_the_true_crossing():
    _, _, batches = _tiny_batches()
    result = harness.train_to_target(_tiny_model, batches, after_step(200), 0.5, check_seconds=0.02, cap_minutes=5)
    (before, _, steps_before), (minutes, _, steps) = result["checks"][-2:]
    assert result["reached"] and steps_before < 200 <= steps  # the crossing, in steps, lies in the last interval
    assert minutes == result["minutes"] and minutes - before == pytest.approx(result["resolution_minutes"])
    assert len(result["checks"]) - 1 >= 10 and result["attempts"] == 1
    # Every check but the first comes about check_seconds after the one before (one tiny step late at most).
    gaps = [(b - a) * 60 for (a, _, _), (b, _, _) in zip(result["checks"], result["checks"][1:])]
    assert min(gaps) >= 0.02 and max(gaps) < 0.02 + 0.5


@pytest.mark.timing
def test_too_few_checks_before_the_target_repeat_the_run_with_closer_checks():
    _, _, batches = _tiny_batches()
    built = []

    def build():
        built.append(_tiny_model())
        return built[-1]

    result = harness.train_to_target(build, batches, after_step(300), 0.5, check_seconds=0.5, cap_minutes=5)
    assert result["reached"] and result["attempts"] == len(built) >= 2  # a fresh model for every run
    assert len(result["checks"]) - 1 >= 10 and result["check_seconds"] < 0.5
    assert result["checks"][-2][2] < 300 <= result["checks"][-1][2]
    assert int(built[-1].optimizer.iterations.numpy()) == result["checks"][-1][2]  # counted from step 0


@pytest.mark.timing
def test_a_target_out_of_reach_stops_at_the_time_cap_after_one_run():
    _, _, batches = _tiny_batches()
    never = harness.train_to_target(_tiny_model, batches, lambda trained: 1.0, 0.0, check_seconds=0.01,
                                  cap_minutes=0.002)
    assert not never["reached"] and never["minutes"] >= 0.002 and never["attempts"] == 1
    assert never["score"] == never["start_score"] == 1.0


def test_a_time_ratio_needs_both_sides_at_the_target():
    fast = {"minutes": 2.0, "reached": True, "resolution_minutes": 0.2, "label": "the recipe",
            "target_text": "loss 2.2"}
    slow = {"minutes": 5.0, "reached": True, "resolution_minutes": 0.4, "label": "the tutorial",
            "target_text": "loss 2.2", "cap_minutes": 8.0, "best": "2.150"}
    both = bench.compare("r", "target", "target_slow", "minutes", fast, slow)
    assert both["ratio"] == pytest.approx(2.5) and "not_reached" not in both
    assert both["ratio_range"] == pytest.approx([4.6 / 2.0, 5.0 / 1.8])
    table = bench.markdown({}, [both], {"date": "today", "device": "cpu", "python": "3"})
    assert "| r | minutes | 2.50x | 2.30x to 2.78x |" in table

    # One side stopped at its cap: no ratio (its cap is no lower bound on a time it never had), but
    # what it reached, and when the other side got there.
    capped = {**slow, "minutes": 8.1, "reached": False, "best": "2.310"}
    for case, baseline, a, b in (("target", "target_slow", fast, capped), ("target_slow", "target", capped, fast)):
        item = bench.compare("r", case, baseline, "minutes", a, b)
        assert "ratio" not in item and "ratio_range" not in item and "at_least" not in item
        assert item["not_reached"] == ("the tutorial does not reach loss 2.2 within 8 min (its cap) "
                                       "(best score 2.310); the recipe reaches it in 2.00 min")
        table = bench.markdown({("r", case): {**a, "what": "w", "peak_memory_mb": 1.0}}, [item],
                               {"date": "today", "device": "cpu", "python": "3"})
        assert f"| r | minutes | no ratio: {item['not_reached']} |" in table and "at least" not in table
    rows = {("r", "target_slow"): {**capped, "what": "w", "peak_memory_mb": 1.0, "checks": [(8.1, 2.3, 9)]}}
    assert "| r | target_slow | w | > 8 (cap) |" in bench.markdown(rows, [], {"date": "d", "device": "c", "python": "3"})

    # A side with no cap (a whole run) that misses; and neither side there.
    whole = {"minutes": 1.5, "reached": False, "label": "the recipe", "target_text": "accuracy 0.87", "best": "0.86"}
    neither = bench.compare("r", "target", "target_slow", "minutes", whole, capped)
    assert "ratio" not in neither and neither["not_reached"] == (
        "the recipe does not reach accuracy 0.87 in its whole run (1.50 min) (best score 0.86); "
        "the tutorial does not reach it within 8 min (its cap) (best score 2.310)")
    rate = bench.compare("r", "train", "train_slow", "rate", {"per_second": 30.0}, {"per_second": 12.0})
    assert rate["ratio"] == pytest.approx(2.5)
    assert "ratio" not in bench.compare("r", "target", "target_slow", "minutes", fast, {"error": "exit 1"})


@pytest.mark.real_data
def test_small_time_to_target_cases_train_score_and_compare(real_data, tmp_path):
    others = [f"{recipe}:{case}" for recipe, cases in
              (("textgen", ("train", "train_tutorial", "generate", "generate_rerun", "equal_time",
                            "equal_time_transformer")),
               ("translate", ("train", "train_plain", "translate_greedy", "translate_beam4"))) for case in cases]
    report = bench.main(["--only", "textgen,translate", "--size", "small", "--skip", ",".join(others),
                         "--out", str(tmp_path)])
    rows = {(row["recipe"], row["case"]): row for row in report["results"]}
    assert set(rows) == {("textgen", "target"), ("textgen", "target_tutorial"),
                         ("translate", "target"), ("translate", "target_plain")}
    for row in rows.values():  # too short to get there: stopped by the time cap, after a finite score
        assert row["checks"] and row["minutes"] >= row["cap_minutes"] and not row["reached"]
        assert row["start_score"] > row["target"] and row["attempts"] == 1  # untrained, it is not there
        # A few seconds of training: too short to promise progress (Adam's first steps can raise the loss).
        assert math.isfinite(row["score"]) and row["score"] > 0 and f"{row['score']:.3f}" in row["what"]
    targets = [item for item in report["comparisons"] if item["case"] == "target"]
    assert len(targets) == 2 and all("ratio" not in item for item in targets)  # no ratio without a time
    assert all("does not reach" in item["not_reached"] and "(its cap)" in item["not_reached"] for item in targets)


@pytest.mark.real_data
def test_the_sentiment_time_to_target_runs_the_recipe_command(real_data, tmp_path):
    # The case calls the recipe's own train.main (a --smoke run at --size small); it once imported
    # it relative to benchmarks/ and failed in every whole run.
    from benchmarks import sentiment

    others = [f"sentiment:{case}" for case in sentiment.CASES if case not in ("target", "target_tutorial")]
    report = bench.main(["--only", "sentiment", "--size", "small", "--skip", ",".join(others), "--out", str(tmp_path)])
    row, tutorial = report["results"]
    assert "error" not in row and "error" not in tutorial, report["results"]
    assert row["case"] == "target" and row["minutes"] > 0 and "test accuracy" in row["what"]
    assert "n-gram branch" in row["what"] and row["blend_seconds"] > 0  # both count as training time
    assert row["grouping_seconds"] > 0 and "not counted: grouping" in row["what"]
    # The tutorial trains past its schedule, checked as it goes, up to its cap.
    assert tutorial["case"] == "target_tutorial" and len(tutorial["checks"]) >= 1 and "trained past its 2 epochs" in tutorial["what"]
    assert tutorial["reached"] or tutorial["minutes"] >= tutorial["cap_minutes"]
    (item,) = [item for item in report["comparisons"] if item["baseline"] == "target_tutorial"]
    if row["reached"] and tutorial["reached"]:
        assert item["ratio"] > 0
    else:
        assert "ratio" not in item and "does not reach test accuracy 0.87" in item["not_reached"]


# Each tutorial case's published settings, copied from its source, not from benchmarks/: a case whose
# settings drift (a recipe default leaking in, a typo) fails here.
PUBLISHED = {
    # keras.io/examples/nlp/bidirectional_lstm_imdb (fchollet): max_features 20000, maxlen 200 via
    # pad_sequences' defaults, Embedding(max_features, 128), two Bidirectional(LSTM(64)), Dense(1, sigmoid),
    # compile("adam", "binary_crossentropy"), fit(batch_size=32, epochs=2).
    "sentiment": {"max_features": 20000, "maxlen": 200, "padding": "pre", "truncating": "pre", "embedding_dim": 128,
                  "cell": "lstm", "bidirectional": True, "layers": 2, "units": 64, "dropout": 0.0, "batch_size": 32,
                  "epochs": 2, "optimizer": "adam", "lr": 1e-3, "clipnorm": None, "loss": "binary_crossentropy"},
    # tensorflow.org/text/tutorials/text_generation: seq_length 100, BATCH_SIZE 64, embedding_dim 256,
    # rnn_units 1024, one GRU, no dropout, compile(optimizer="adam") with from_logits cross-entropy.
    "textgen": {"cell": "gru", "layers": 1, "units": 1024, "embedding_dim": 256, "seq_len": 100, "batch_size": 64,
                "dropout": 0.0, "lr": 1e-3, "clipnorm": 0.0, "lr_schedule": "constant", "mixed_precision": False,
                "carry_state": False},  # shuffled windows, each from a zero state (tf.data .shuffle().batch())
    # The course's stock-price LSTM (Deep Learning A-Z rnn.py): 60 timesteps, 4x LSTM(50) + Dropout(0.2),
    # Dense(1), optimizer "adam", mean_squared_error, epochs 100, batch_size 32.
    "forecast": {"timesteps": 60, "layers": 4, "units": 50, "dropout": 0.2, "batch_size": 32, "optimizer": "adam",
                 "lr": 1e-3, "clipnorm": None, "loss": "mean_squared_error", "epochs": 100},
    # translate's baseline is no tutorial: the plain padded configuration, as run A measured it. (TF's NMT
    # tutorial, tensorflow.org/text/tutorials/nmt_with_attention, differs: batch 64, 5,000 words, a summed
    # Bidirectional GRU(256), multi-head cross-attention, no dropout.)
    "translate": {"cell": "gru", "units": 256, "embedding_dim": 256, "layers": 1, "attention": "additive",
                  "dropout": 0.2, "max_tokens": 10000, "batch_size": 128, "lr": 2e-3, "clipnorm": 1.0,
                  "lr_schedule": "constant", "mixed_precision": False},
}


def test_each_tutorial_case_is_written_out_as_published():
    from benchmarks import forecast, sentiment, textgen, translate

    assert sentiment.TUTORIAL == PUBLISHED["sentiment"] and forecast.COURSE == PUBLISHED["forecast"]
    assert textgen.TUTORIAL == PUBLISHED["textgen"] and translate.PLAIN == PUBLISHED["translate"]
    for recipe, config in (("textgen", textgen.tutorial_config()), ("translate", translate.plain_config())):
        assert {key: getattr(config, key) for key in PUBLISHED[recipe]} == PUBLISHED[recipe], recipe

    # The models as built: what the settings say, not what a default would add.
    model = sentiment._tutorial_model()
    embedding, *recurrent = [layer for layer in model.layers if layer.__class__.__name__ in ("Embedding", "Bidirectional")]
    assert (embedding.input_dim, embedding.output_dim) == (20000, 128) and len(recurrent) == 2
    assert all(layer.forward_layer.units == 64 and layer.forward_layer.dropout == 0 for layer in recurrent)
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(1e-3) and model.optimizer.clipnorm is None
    course = forecast._course_model()
    lstms = [layer for layer in course.layers if isinstance(layer, keras.layers.LSTM)]
    assert [layer.units for layer in lstms] == [50] * 4 and course.input_shape == (None, 60, 1)
    assert [layer.rate for layer in course.layers if isinstance(layer, keras.layers.Dropout)] == [0.2] * 4
    from recipes.textgen import model as textgen_model

    lm = textgen_model.build_language_model(textgen.tutorial_config(), 65)
    rates = [layer.rate for layer in lm.layers if isinstance(layer, keras.layers.Dropout)]
    grus = [layer for layer in lm._flatten_layers() if isinstance(layer, keras.layers.GRU)]
    assert all(rate == 0 for rate in rates) and [(g.units, g.dropout) for g in grus] == [(1024, 0)]
    assert lm.get_layer("embedding").output_dim == 256


def test_a_changed_recipe_default_does_not_change_a_tutorial_case(monkeypatch):
    import dataclasses

    from benchmarks import textgen, translate

    for module, settings, build in ((textgen, PUBLISHED["textgen"], textgen.tutorial_config),
                                    (translate, PUBLISHED["translate"], translate.plain_config)):
        fields = {field.name: field for field in dataclasses.fields(module.Config)}
        # Every setting the model and its training read is pinned; the rest are named as not read.
        unpinned = set(fields) - set(settings)
        if module is textgen:
            assert unpinned == textgen.NOT_MODEL_SETTINGS
        # The recipe's defaults, every pinned one changed (dropout 0.2 -> 0.5, units -> 7, ...).
        changed = {"dropout": 0.5, "units": 7, "embedding_dim": 5, "layers": 3, "batch_size": 3, "lr": 0.1,
                   "clipnorm": 9.0, "lr_schedule": "cosine", "seq_len": 11, "max_tokens": 77, "cell": "lstm",
                   "attention": "dot", "mixed_precision": True, "carry_state": True}
        altered = dataclasses.make_dataclass(
            "Config", [(name, fields[name].type, dataclasses.field(default=value))
                       for name, value in changed.items() if name in fields], bases=(module.Config,))
        monkeypatch.setattr(module, "Config", altered)
        assert all(getattr(module.Config(), name) == value for name, value in changed.items() if name in fields)
        config = build()
        assert {key: getattr(config, key) for key in settings} == settings, module.__name__


def _words_text(chars=30_000, seed=0):
    """Synthetic 'Shakespeare': random words of a small list, 8 a line: far below the unigram once learnt."""
    rng = np.random.default_rng(seed)
    words = ["the", "king", "and", "queen", "of", "rome", "shall", "speak", "to", "my", "lord", "now"]
    lines = []
    while sum(map(len, lines)) < chars:
        lines.append(" ".join(rng.choice(words, 8)) + "\n")
    return "".join(lines)


class FakeClock:
    """time.perf_counter for a test: 1 microsecond a read, plus `step` seconds a training step."""

    def __init__(self, step):
        self.now, self.step = 0.0, step

    def __call__(self):
        self.now += 1e-6
        return self.now

    def callback(self):
        clock = self

        class Tick(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):  # runs before the run's own clock reads
                clock.now += clock.step

        return Tick()


def _transformer_parameters(s, vocab):
    """Parameters of benchmarks.char_transformer's model, counted by hand."""
    d = s.width
    block = 2 * 2 * d + 4 * (d * d + d) + (d * 4 * d + 4 * d) + (4 * d * d + d)  # 2 norms, attention, MLP
    return vocab * d + s.context * d + s.layers * block + 2 * d + d * vocab + vocab


def test_equal_time_trains_both_models_by_steps_to_the_budget_and_scores_every_checkpoint(monkeypatch):
    # Each training step costs 0.25 s of a fake clock: a 1-minute budget is 240 steps whatever this machine's
    # speed, the checkpoints fall at known steps, and the cosine must reach 0 at the last one.
    import time

    from benchmarks import equal_time
    from benchmarks.char_transformer import TransformerSettings
    from recipes.textgen.train import Config

    clock = FakeClock(0.25)
    monkeypatch.setattr(time, "perf_counter", clock)
    text, checkpoints = _words_text(), (0.25, 0.5, 1.0)
    settings = TransformerSettings(context=32, width=32, layers=1, heads=2, batch_size=16, lr=3e-3)
    config = Config(units=32, embedding_dim=16, seq_len=32, batch_size=16, lr=1e-2, dropout=0.0, carry_state=False)
    network, transformer = equal_time.run_transformer(text, settings, 1.0, checkpoints, generate_chars=10,
                                                      callbacks=[clock.callback()])
    lm, rnn = equal_time.run_rnn(text, config, 1.0, checkpoints, generate_chars=10, callbacks=[clock.callback()])
    vocab = len(set(text))
    assert transformer["parameters"] == network.count_params() == _transformer_parameters(settings, vocab)
    assert rnn["parameters"] == lm.count_params() > 0
    for row, peak in ((transformer, settings.lr), (rnn, config.lr)):
        assert row["step_seconds"] == pytest.approx(0.25, abs=1e-3) and row["total_steps"] == pytest.approx(240, abs=1)
        assert [c["checkpoint"] for c in row["checkpoints"]] == list(checkpoints) and not row["cut"]
        first, middle, last = row["checkpoints"]
        assert first["steps"] == pytest.approx(60, abs=1) and middle["steps"] == pytest.approx(120, abs=1)
        assert last["steps"] == row["total_steps"] and last["minutes"] == pytest.approx(1.0, abs=0.01)
        # The rate follows the steps: the optimizer's, read at each checkpoint, is the cosine of its step.
        for c in row["checkpoints"]:
            assert c["optimizer_lr"] == pytest.approx(equal_time.cosine_rate(peak, c["steps"], row["total_steps"]),
                                                      rel=1e-4, abs=1e-9)
        assert first["lr"] > 0.8 * peak and last["lr"] == 0 and last["optimizer_lr"] < 1e-9
        unigram = row["baselines"]["unigram"]
        assert last["validation"] < unigram["validation"] - 0.5 and last["test"] < unigram["test"] - 0.5
        assert row["baselines"]["ngram"]["label"].endswith("-gram KN")
        assert row["per_second"] > 0 and row["generation"]["per_second"] > 0 and len(row["generation"]["sample"]) == 10
        assert "context_scored" in row and row["chars_per_step"] > 0
    # Both tails scored on the same characters, with the same baselines.
    assert transformer["baselines"] == rnn["baselines"]
    # The GRU trained on shuffled windows, scored from a zero state and with the state carried too.
    assert "shuffled windows of 32" in rnn["what"] and "carried through 8 contiguous streams" in rnn["context_scored"]
    assert all(math.isfinite(c["validation_carried"]) and math.isfinite(c["test_carried"]) for c in rnn["checkpoints"])
    assert not any("validation_carried" in c for c in transformer["checkpoints"])

    results = {("textgen", "equal_time"): {**rnn, "peak_memory_mb": 1.0},
               ("textgen", "equal_time_transformer"): {**transformer, "peak_memory_mb": 1.0}}
    table = bench.markdown(results, [], {"date": "d", "device": "c", "python": "3"})
    assert ("| checkpoint (minutes of training) | equal_time validation | equal_time test | equal_time validation, "
            "carried | equal_time test, carried | equal_time_transformer validation | equal_time_transformer test |"
            in table)
    for checkpoint in checkpoints:
        found = [c for c in rnn["checkpoints"] if c["checkpoint"] == checkpoint][0]
        assert (f"| {checkpoint:g} | {found['validation']:.3f} | {found['test']:.3f} | "
                f"{found['validation_carried']:.3f} | {found['test_carried']:.3f} |") in table
    assert f"| {transformer['parameters']:,} |" in table and "KN (no training time)" in table


class StateRecorder(keras.callbacks.Callback):
    """Per fit (the warm-up's, then the run's): at each batch's start, whether the model has stateful
    layers and whether their state is zero (after the training's own callbacks, which run first)."""

    def __init__(self):
        super().__init__()
        self.fits = []

    def on_train_begin(self, logs=None):
        self.fits.append([])

    def on_train_batch_begin(self, batch, logs=None):
        from recipes.textgen import carried

        layers = carried.stateful_layers(self.model)
        zero = all(not keras.ops.convert_to_numpy(state).any() for layer in layers for state in layer.states)
        self.fits[-1].append((bool(layers), zero))


def test_equal_time_with_carry_state_trains_on_the_carried_streams_and_scores_both_ways(monkeypatch):
    # config.carry_state as the recipe reads it: a stateful model fed the contiguous streams in order, its
    # state zeroed at each pass over them and carried everywhere else; every checkpoint scores both ways.
    import time

    from benchmarks import equal_time
    from recipes.textgen import carried
    from recipes.textgen.train import Config

    clock = FakeClock(0.25)
    monkeypatch.setattr(time, "perf_counter", clock)
    pipelines = []
    original = carried.batches

    def recorded(*args, **kwargs):
        pipelines.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(carried, "batches", recorded)
    text, checkpoints, recorder = _words_text(), (0.25, 0.5), StateRecorder()
    config = Config(units=32, embedding_dim=16, seq_len=32, batch_size=16, lr=1e-2, dropout=0.0, carry_state=True)
    lm, rnn = equal_time.run_rnn(text, config, 0.5, checkpoints, generate_chars=10,
                                 callbacks=[clock.callback(), recorder])
    train_ids = equal_time.prepare(text)[0]["train"]
    period = carried.batch_count(train_ids, 32, 16, min_batches=1)[1]  # batches in one pass over the 16 streams
    assert len(pipelines) == 2 and all((args[0] == train_ids).all() and args[1:3] == (32, 16) for args in pipelines)
    warmup, run = recorder.fits
    assert len(run) == rnn["total_steps"] == pytest.approx(120, abs=1)
    assert rnn["total_steps"] > 2 * period  # passes enough to see the state zeroed more than once
    assert [zero for _, zero in run] == [step % period == 0 for step in range(len(run))]
    assert all(stateful for stateful, _ in warmup + run)
    assert [c["checkpoint"] for c in rnn["checkpoints"]] == list(checkpoints) and not rnn["cut"]
    unigram = rnn["baselines"]["unigram"]
    for c in rnn["checkpoints"]:
        assert all(math.isfinite(c[key]) for key in ("validation", "test", "validation_carried", "test_carried"))
    last = rnn["checkpoints"][-1]
    assert last["validation_carried"] < unigram["validation"] - 0.5 and last["test_carried"] < unigram["test"] - 0.5
    assert "carried state: 16 contiguous streams" in rnn["what"] and "carried through 8" in rnn["context_scored"]
    # The model returned is the stateless copy the recipe saves: any batch size.
    assert not carried.stateful_layers(lm) and lm(np.zeros((3, 5), "int32")).shape == (3, 5, len(set(text)))
    assert rnn["generation"]["per_second"] > 0 and len(rnn["generation"]["sample"]) == 10


def test_the_recipe_scoring_is_back_to_back_windows_and_a_sliding_window_scores_every_character_once():
    from benchmarks.equal_time import window_nll

    # A bigram "model": its prediction depends on the last character only, so any windows that score
    # every character exactly once give the same mean as scoring the text directly.
    rng = np.random.default_rng(0)
    table = rng.normal(size=(7, 7))
    ids = rng.integers(0, 7, 1001).astype("int32")
    log_probs = table - np.log(np.exp(table).sum(axis=1, keepdims=True))
    direct = float(-np.mean(log_probs[ids[:-1], ids[1:]]))
    for window, stride in ((100, 100), (64, 32), (128, 64), (37, 5), (1000, 500)):
        assert window_nll(lambda x: table[x], ids, 1000, window, stride) == pytest.approx(direct, rel=1e-12)


def test_the_equal_time_clock_stops_by_steps_and_cuts_a_run_that_overruns_its_budget(monkeypatch):
    # The warm-up sees 0.25 s steps, the run 0.5 s ones: the schedule still follows the steps (and is not
    # at 0 when the cap, 1.25 x the budget, stops the run), and the cut is reported.
    import time

    from benchmarks import equal_time

    clock = FakeClock(0.25)
    monkeypatch.setattr(time, "perf_counter", clock)
    built = []

    def build(decay_steps):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(0.01, decay_steps)),
                      loss="mse")
        built.append(model)
        if len(built) == 2:  # the run, after the warm-up's throwaway model
            clock.step = 0.5
        return model

    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")

    def batches():
        while True:
            yield x, x[:, :1]

    _, run = equal_time.train_for(build, batches, 1.0, (0.5, 1.0), lambda model: {"validation": 1.0}, 0.01,
                                  callbacks=[clock.callback()])
    assert run["total_steps"] == pytest.approx(240, abs=1) and run["cut"]
    half, cut = run["checkpoints"]
    assert half["steps"] == pytest.approx(60, abs=1) and cut["steps"] == pytest.approx(150, abs=1)
    assert cut["minutes"] == pytest.approx(1.25, abs=0.01) and cut["lr"] > 0.001
    assert cut["optimizer_lr"] == pytest.approx(equal_time.cosine_rate(0.01, cut["steps"], run["total_steps"]), rel=1e-4)
