"""The gradients recipe: the worked example, vanishing and exploding gradients measured, the command line."""
import ast
import json
from pathlib import Path

import keras
import numpy as np
import pytest

from .. import __main__ as cli
from .. import data, exploding, loop, model, vanishing, worked_example

RECIPE_DIR = Path(vanishing.__file__).parent
PACKAGE = __package__.rsplit(".", 1)[0]  # "recipes.gradients", or "recipes.mine" in a copy
RECIPE = PACKAGE.split(".")[-1]  # the folder's name: what metrics.json and config.json call the recipe


def run_cli(argv, capsys):
    """Exit code and stderr of the command line, as a user would see them."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    return exit_info.value.code, capsys.readouterr().err


def test_worked_example_by_layer_and_by_hand_to_4_decimals():
    hand = [h for _, h in worked_example.by_hand()]
    layer = worked_example.by_layer()
    np.testing.assert_array_equal(np.round(hand, 4), [[0.5370, 0.4621], [0.4919, 0.9283]])
    np.testing.assert_allclose(layer, hand, atol=1e-6)
    assert np.abs(hand[1] - np.array(worked_example.SLIP)).max() > 0.01  # the write-up's figure is off


def test_tasks_put_the_class_where_they_say_and_validation_differs_from_training():
    x, y = data.first_symbol(data.generator(0, 30, data.TRAIN), 64, 30)
    assert x.shape == (64, 30, data.FEATURES) and np.all(x.sum(-1) == 1)
    assert np.array_equal(x[:, 0].argmax(-1), y) and np.all(x[:, 1:].argmax(-1) >= data.MARKERS)
    x_val, _ = data.first_symbol(data.generator(0, 30, data.VALIDATION), 64, 30)
    assert not np.array_equal(x, x_val)
    x, y = data.both_ends(data.generator(1, 9, data.TRAIN), 64, 9)
    assert np.array_equal(2 * x[:, 0].argmax(-1) + x[:, -1].argmax(-1) - 2, y)


def test_chrono_gates_remember_and_survive_bidirectional_copies():
    lstm = model.build_classifier("lstm", 50, 6, seed=3)
    bias = lstm.get_layer("recurrent").get_weights()[2]  # (4 * units,): input, forget, cell, output
    assert np.all(bias[6:12] >= 0) and np.allclose(bias[:6], -bias[6:12]) and bias[6:12].max() <= np.log(49)
    both = model.build_classifier("gru", 50, 6, bidirectional=True, seed=3)
    assert both.output_shape == (None, data.CLASSES)


@pytest.mark.slow
def test_simple_rnn_gradient_reaching_step_1_at_T100_is_orders_of_magnitude_below_lstm():
    found = vanishing.run(["rnn", "lstm"], [100], units=16, steps=20, batch_size=16, lr=0.01,
                          gate_init="chrono", val_size=64, seed=0)["cells"]
    rnn, lstm = found["rnn"][100], found["lstm"][100]
    for when in ("ratio_init", "ratio_trained"):
        assert rnn[when] < 1e-3 * lstm[when], (when, rnn[when], lstm[when])
    # SimpleRNN: the gradient falls with the distance from the output, by orders of magnitude.
    norms = np.asarray(rnn["grad_norm_init"])  # index: distance from the output
    assert norms[0] > 10 * norms[25] > 100 * norms[50]


def test_unclipped_update_is_larger_and_clipping_bounds_each_variable():
    keras.utils.set_random_seed(0)
    network = model.build_classifier(
        "rnn", 20, 8, recurrent_initializer=keras.initializers.Orthogonal(gain=3.0, seed=0))
    assert abs(exploding.spectral_radius(network) - 3.0) < 1e-4
    start = network.get_weights()
    x, y = data.first_symbol(data.generator(0, 20, data.TRAIN), 32, 20)
    steps = {}
    for name, options in (("none", {}), ("clipnorm", {"clipnorm": 1.0}), ("global", {"global_clipnorm": 1.0})):
        network.set_weights(start)
        # SGD at lr 1: the step of each variable is the gradient Keras applied, clipped or not.
        _, _, grads, updates = loop.training_step(network, keras.optimizers.SGD(1.0, **options))(x, y)
        steps[name] = updates.astype("float64")
    assert np.linalg.norm(grads) > 10  # exploding: far above the clip value
    np.testing.assert_allclose(steps["none"], grads, rtol=1e-4)
    for clipped in ("clipnorm", "global"):
        assert np.linalg.norm(steps["none"]) > 10 * np.linalg.norm(steps[clipped])
    assert np.all(steps["clipnorm"] <= 1.0 + 1e-5)  # each variable's gradient norm <= clipnorm
    small = grads < 1.0  # per variable: a gradient already under the clip passes unchanged
    np.testing.assert_allclose(steps["clipnorm"][small], grads[small], rtol=1e-4)
    assert np.linalg.norm(steps["global"]) <= 1.0 + 1e-5  # global: the joint norm, one factor for all
    np.testing.assert_allclose(steps["global"] / grads, 1.0 / np.linalg.norm(grads), rtol=1e-3)


def test_clipnorm_0_trains_the_unclipped_runs_only():
    assert list(exploding.variants(0.3, 0.01, 0.0)) == ["no clipping", "Adam, no clipping"]
    assert list(exploding.variants(0.3, 0.01, 0.5)) == ["no clipping", "clipnorm 0.5", "global_clipnorm 0.5",
                                                        "Adam, no clipping"]


@pytest.mark.slow
def test_smoke_run_end_to_end(tmp_path, capsys):
    out = tmp_path / "run"
    metrics = cli.main(["--smoke", "--lengths", "10,200", "--out", str(out)])
    printed = capsys.readouterr().out
    assert "(0.4919, 0.9283)" in printed and "(0.515, 0.942)" in printed
    names = {"config.json", "metrics.json", "accuracy_vs_length.png", "gradient_vs_distance.png",
             "exploding.png", "bidirectional.png"}
    assert {p.name for p in out.iterdir()} == names  # no lock or partial file left behind
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["recipe"] == metrics["recipe"] == RECIPE and saved["smoke"] is True
    config = json.loads((out / "config.json").read_text())
    assert config["recipe"] == RECIPE and config["config"]["lengths"] == "10,25"  # what ran
    assert set(saved["vanishing"]["cells"]) == {"rnn", "lstm", "gru"}
    assert set(saved["vanishing"]["cells"]["lstm"]) == {"10", "25"}
    assert saved["vanishing"]["chance"] == 0.25
    runs = saved["exploding"]["runs"]
    assert set(runs) == {"no clipping", "clipnorm 1", "global_clipnorm 1", "Adam, no clipping"}
    assert runs["clipnorm 1"]["largest_variable_step_over_lr"] <= 1.0 + 1e-5
    assert max(runs["no clipping"]["update_norm"]) > max(runs["clipnorm 1"]["update_norm"])
    assert set(saved["bidirectional"]["cells"]["rnn"]) == {"one direction", "bidirectional"}


def test_metrics_json_writes_an_overflowed_gradient_as_null_never_nan_or_infinity():
    from ..train import Config, output_files

    metrics = {"recipe": RECIPE, "exploding": {"runs": {"no clipping": {
        "update_norm": [1.5, float("inf"), np.float32("nan")], "final_loss": np.float64("nan")}}},
        "vanishing": {"cells": {"rnn": {"200": {"gradient_at_step_1": float("-inf"), "steps": np.int64(3)}}}}}
    files = output_files(Config(), metrics)
    saved = json.loads(files["metrics.json"], parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))
    assert saved["exploding"]["runs"]["no clipping"] == {"update_norm": [1.5, None, None], "final_loss": None}
    assert saved["vanishing"]["cells"]["rnn"]["200"] == {"gradient_at_step_1": None, "steps": 3}
    assert json.loads(files["config.json"])["recipe"] == RECIPE


@pytest.mark.parametrize("argv,message", [
    (["--lengths", "0,abc"], "--lengths: 0 is not a sequence length"),
    (["--lengths", "10,abc"], "--lengths: 'abc' is not a whole number"),
    (["--lengths", ","], "--lengths: give at least one length"),
    (["--cells", "foo"], "--cells: unknown cell 'foo'"),
    (["--units", "-1"], "--units must be in [1, inf), got -1"),
    (["--units", "x"], "argument --units: invalid int value: 'x'"),
    (["--clipnorm", "-1"], "--clipnorm must be in [0, inf)"),
    (["--gate-init", "zeros"], "argument --gate-init: invalid choice"),
    (["--epochs", "3"], "unrecognized arguments: --epochs 3"),
    (["--seed", "-1"], "--seed must be in [0, 4294967295], got -1"),  # numpy's seeds, as in every recipe
    (["--seed", str(2**32)], "--seed must be in [0, 4294967295], got 4294967296"),
    (["--cells", "rnn", "--gate-init", "keras"], "--gate-init sets LSTM and GRU gate biases; --cells rnn has neither"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    code, err = run_cli([*argv, "--smoke", "--out", str(out)], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists() and not any(tmp_path.iterdir())  # nothing is created


def test_the_folder_imports_itself_relatively_so_a_copy_is_its_own_recipe():
    for path in RECIPE_DIR.rglob("*.py"):  # its tests too
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                assert not (node.module or "").startswith("recipes"), f"{path.name} imports {node.module}"
