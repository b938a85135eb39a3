"""`python -m recipes.NAME export`: each export, loaded by TensorFlow alone in a fresh process, answers
as the recipe's own inference does on the same run folder."""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def served(export_dir, calls):
    """Run `calls` (Python source using `served` = tf.saved_model.load(export_dir) and tf; it sets
    `result`, a JSON-able value) in a fresh interpreter that never imports the recipes or Keras."""
    probe = textwrap.dedent("""
        import json, sys
        import tensorflow as tf
        served = tf.saved_model.load(sys.argv[1])
        result = None
    """) + textwrap.dedent(calls) + textwrap.dedent("""
        assert not {m.split('.')[0] for m in sys.modules} & {'recipes', 'shared'}
        print(json.dumps(result))
    """)
    done = subprocess.run([sys.executable, "-c", probe, str(export_dir)], cwd=ROOT / "tests", capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_cli(cli, argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    return exit_info.value.code, capsys.readouterr().err


# --- the command, for every recipe ------------------------------------------------------

RECIPES = ["sentiment", "forecast", "translate", "textgen"]


@pytest.mark.parametrize("recipe", RECIPES)
def test_a_missing_model_folder_is_one_line_and_exit_2(tmp_path, capsys, recipe):
    import importlib

    cli = importlib.import_module(f"recipes.{recipe}.__main__")
    code, err = run_cli(cli, ["export", "--model", str(tmp_path / "nothing"), "--to", str(tmp_path / "x")], capsys)
    assert code == 2 and err == f"python -m recipes.{recipe} export: error: {tmp_path / 'nothing'}: no such model " \
                                "directory\n"
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("make,message", [
    (lambda path: path.write_text("a file"), "is a file; give a folder for the SavedModel"),
    (lambda path: (path.mkdir(), (path / "notes.txt").write_text("mine")), "holds files and no saved_model.pb"),
    (lambda path: None, "no folder"),
])
def test_an_export_folder_that_is_not_an_earlier_export_is_refused_untouched(tmp_path, capsys, make, message):
    from recipes.sentiment import __main__ as cli

    target = tmp_path / "there"
    make(target)
    if message == "no folder":
        target = tmp_path / "missing" / "there"
    before = sorted(str(path) for path in tmp_path.rglob("*"))
    code, err = run_cli(cli, ["export", "--model", str(tmp_path), "--to", str(target)], capsys)
    assert code == 2 and message in err and err.count("\n") == 1
    assert sorted(str(path) for path in tmp_path.rglob("*")) == before


def test_a_failed_write_leaves_the_earlier_export_whole_and_no_partial_folder(tmp_path):
    from shared.export import write

    class Archive:
        def __init__(self, fail):
            self.fail = fail

        def write_out(self, path, verbose=False):
            Path(path).mkdir()
            (Path(path) / "saved_model.pb").write_text("new")
            if self.fail:
                raise RuntimeError("disk full")

    target = tmp_path / "exported"
    write(Archive(fail=False), target)
    with pytest.raises(RuntimeError):
        write(Archive(fail=True), target)
    assert (target / "saved_model.pb").read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["exported"]


def test_another_backend_is_told_to_export_under_tensorflow(monkeypatch):
    import keras

    from shared.errors import UserError
    from shared.export import check_backend

    monkeypatch.setattr(keras.config, "backend", lambda: "jax")
    with pytest.raises(UserError, match="needs the TensorFlow backend, not jax: run it with KERAS_BACKEND=tensorflow"):
        check_backend()


# --- sentiment ---------------------------------------------------------------------------

def test_sentiment_export_takes_raw_reviews_and_returns_the_predicted_probabilities(tmp_path, reviews_csv):
    from recipes.sentiment import __main__ as cli
    from recipes.sentiment import predict

    out, exported = tmp_path / "run", tmp_path / "exported"
    cli.main(["--data", str(reviews_csv), "--out", str(out), "--smoke", "--units", "4", "--embedding-dim", "4",
              "--epochs", "1", "--ngram-buckets", "64"])
    assert cli.main(["export", "--model", str(out), "--to", str(exported)]) == exported
    reviews = ["A great<br />superb film", "awful, boring and dull!", "zzz unknown words", "!!!", "the plot"]
    expected = predict.main(["--model", str(out), *reviews])
    got = served(exported, f"""
        reviews = tf.constant({reviews!r})
        result = served.serve(reviews)["probability"].numpy().tolist()
        signature = served.signatures["serving_default"](reviews=reviews)
        assert signature["probability"].numpy().tolist() == result
    """)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert len(set(np.round(got, 4))) > 1  # not a constant: the text reaches the network
    # Again into the same folder: the earlier export is replaced whole, nothing is left beside it.
    (exported / "variables" / "stale").write_text("from the earlier export")
    assert cli.main(["export", "--model", str(out), "--to", str(exported)]) == exported
    assert not (exported / "variables" / "stale").exists() and (exported / "saved_model.pb").is_file()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["exported", "reviews.csv", "run"]


# --- forecast ----------------------------------------------------------------------------

@pytest.mark.parametrize("features,inputs,days", [
    ("return,range,volume", ["price", "high", "low", "volume"], 10 + 20),  # the window and volume's 20-day mean
    ("return", ["price"], 10 + 1),  # the window and the day before its first return
])
def test_forecast_export_takes_a_price_window_and_returns_the_predicted_quantiles(tmp_path, features, inputs, days):
    import pandas as pd

    from recipes.forecast import __main__ as cli

    rng = np.random.default_rng(0)
    close = 50 * np.exp(np.cumsum(rng.normal(0.0005, 0.015, 400)))
    dates = pd.bdate_range("2000-01-03", periods=len(close)).strftime("%Y-%m-%d")
    frame = pd.DataFrame({"Date": dates, "High": close * (1 + rng.uniform(0, 0.02, len(close))),
                          "Low": close * (1 - rng.uniform(0, 0.02, len(close))), "Close": close,
                          "Volume": rng.integers(1000, 5000, len(close)).astype(float)})
    frame.to_csv(tmp_path / "prices.csv", index=False)
    out, exported = tmp_path / "run", tmp_path / "exported"
    cli.main(["--csv", str(tmp_path / "prices.csv"), "--out", str(out), "--features", features,
              "--window", "10", "--vol-window", "5", "--horizon", "3", "--units", "4", "--epochs", "1"])
    cli.main(["export", "--model", str(out), "--to", str(exported)])
    expected = []
    for end in (days, 200, len(frame)):  # three windows: predict on a CSV of just those days
        frame[end - days: end].to_csv(tmp_path / "window.csv", index=False)
        rows = cli.main(["predict", "--model", str(out), "--csv", str(tmp_path / "window.csv")])
        expected.append([[row["low"], row["median"], row["high"]] for row in rows])
    columns = {name: [frame[column][end - days: end].tolist() for end in (days, 200, len(frame))]
               for name, column in (("price", "Close"), ("high", "High"), ("low", "Low"), ("volume", "Volume"))
               if name in inputs}
    got = served(exported, f"""
        columns = {{name: tf.constant(values, tf.float32) for name, values in {columns!r}.items()}}
        result = served.serve(**columns)["quantiles"].numpy().tolist()
        named = served.signatures["serving_default"].structured_input_signature[1]  # {{name: spec}}
        assert {{name: spec.shape.as_list() for name, spec in named.items()}} == {{name: [None, {days}]
                                                                                for name in columns}}
    """)
    np.testing.assert_allclose(got, expected, rtol=1e-4)
    assert np.array(got).shape == (3, 3, 3)


# --- translate ---------------------------------------------------------------------------

def test_translate_export_takes_spanish_strings_and_returns_the_greedy_english(tmp_path):
    from recipes.translate import __main__ as cli

    lines = []
    for s_es, s_en in [("el gato", "the cat"), ("el perro", "the dog"), ("Tomás", "Tom"), ("María", "Mary")]:
        for v_es, v_en in [("come", "eats"), ("ve", "sees"), ("quiere", "wants")]:
            for o_es, o_en in [("una manzana", "an apple"), ("el pan", "the bread"), ("agua", "water")]:
                lines.append(f"{(s_en + ' ' + v_en).capitalize()} {o_en}.\t{s_es.capitalize()} {v_es} {o_es}.")
                lines.append(f"{(s_en + ' ' + v_en).capitalize()} {o_en}?\t¿{s_es.capitalize()} {v_es} {o_es}?")
    (tmp_path / "pairs.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out, exported = tmp_path / "run", tmp_path / "exported"
    cli.main(["--data", str(tmp_path / "pairs.tsv"), "--out", str(out), "--smoke", "--units", "8",
              "--embedding-dim", "8", "--lr", "0.03", "--epochs", "2", "--batch-size", "8", "--beam-size", "1",
              "--max-len", "12", "--val-fraction", "0.2", "--test-fraction", "0.2"])
    cli.main(["export", "--model", str(out), "--to", str(exported)])
    sentences = ["¿Tomás come agua?", "El gato ve el pan.", "«María» quiere una manzana, 3,5 kilos...",
                 "EL PERRO   come\tagua!", "", "xyzzy plugh",
                 "el gato ve el pan y el perro come agua y el gato ve el pan", "María’s gato", "¡¿?!"]
    (tmp_path / "sentences.txt").write_text("\n".join(sentences) + "\n", encoding="utf-8")
    expected = cli.main(["translate", "--model", str(out), "--file", str(tmp_path / "sentences.txt")])
    got = served(exported, f"""
        result = [text.decode() for text in served.serve(tf.constant({sentences!r}))["english"].numpy()]
        # one at a time: a sentence's translation does not depend on the batch around it
        assert result == [served.serve(tf.constant([s]))["english"].numpy()[0].decode() for s in {sentences!r}]
    """)
    assert got == expected, (got, expected)
    assert got[4:7] == ["", "", ""]  # empty, all unknown, longer than --max-len 12: refused as the command does
    assert all(got[:4]) and got[-2] and got[-1] == "", got  # the others translated


# --- textgen -----------------------------------------------------------------------------

def test_textgen_export_takes_prompts_and_returns_the_greedy_text(tmp_path):
    from recipes.textgen import __main__ as cli

    (tmp_path / "corpus.txt").write_text("the cat sat on the mat. the dog sat on the log. a cat and a dog met. " * 30,
                                         encoding="utf-8")
    out, exported = tmp_path / "run", tmp_path / "exported"
    cli.main(["--text", str(tmp_path / "corpus.txt"), "--out", str(out), "--units", "16", "--embedding-dim", "8",
              "--seq-len", "20", "--batch-size", "16", "--epochs", "2", "--lr", "0.01"])
    cli.main(["export", "--model", str(out), "--to", str(exported)])
    prompts = ["the ", "a dog", "t", "the cat sat on the"]
    expected = [cli.main(["generate", "--model", str(out), "--prompt", prompt, "--length", "25", "--temperature", "0"])
                for prompt in prompts]
    expected.append(cli.main(["generate", "--model", str(out), "--length", "25", "--temperature", "0"]))
    got = served(exported, f"""
        prompts = tf.constant({prompts!r} + ["", "the QUEEN"])  # no prompt: the first character; Q is unknown
        def generated(endpoint, prompts, length, *more):
            texts = endpoint(prompts, tf.constant(length), *more)["generated"].numpy()
            return [text.decode() for text in texts]
        greedy = generated(served.serve, prompts, 25)
        # as a batch and one at a time alike: each row carries its own state from its own prompt
        assert greedy == [generated(served.serve, tf.constant([p]), 25)[0] for p in prompts.numpy()]
        def sample(temperature, seed):
            return generated(served.sample, prompts, 40, tf.constant(temperature), tf.constant(seed, tf.int64))
        result = {{"greedy": greedy, "sampled": [sample(1.0, 1), sample(1.0, 1), sample(1.0, 2)],
                  "sampled_greedy": [text[:25] for text in sample(0.0, 3)]}}
    """)
    assert got["greedy"] == expected + [""], (got["greedy"], expected)
    assert len(set(expected)) > 1  # the prompt matters
    assert got["sampled_greedy"] == got["greedy"]  # temperature 0 is greedy
    first, again, other = got["sampled"]
    assert first == again != other  # a seed gives one text
    vocabulary = set(json.loads((out / "vocab.json").read_text(encoding="utf-8"))["vocabulary"])
    assert all(len(text) == 40 and set(text) <= vocabulary for text in first[:-1]) and first[-1] == ""
