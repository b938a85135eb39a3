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


# --- forecast ----------------------------------------------------------------------------

def test_forecast_export_takes_a_price_window_and_returns_the_predicted_quantiles(tmp_path):
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
    cli.main(["--csv", str(tmp_path / "prices.csv"), "--out", str(out), "--features", "return,range,volume",
              "--window", "10", "--vol-window", "5", "--horizon", "3", "--units", "4", "--epochs", "1"])
    cli.main(["export", "--model", str(out), "--to", str(exported)])
    days = 10 + 20  # the window and volume's 20-day mean
    expected = []
    for end in (days, 200, len(frame)):  # three windows: predict on a CSV of just those days
        frame[end - days: end].to_csv(tmp_path / "window.csv", index=False)
        rows = cli.main(["predict", "--model", str(out), "--csv", str(tmp_path / "window.csv")])
        expected.append([[row["low"], row["median"], row["high"]] for row in rows])
    columns = {name: [frame[column][end - days: end].tolist() for end in (days, 200, len(frame))]
               for name, column in (("price", "Close"), ("high", "High"), ("low", "Low"), ("volume", "Volume"))}
    got = served(exported, f"""
        columns = {{name: tf.constant(values, tf.float32) for name, values in {columns!r}.items()}}
        result = served.serve(**columns)["quantiles"].numpy().tolist()
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
              "--embedding-dim", "8", "--lr", "0.03", "--epochs", "6", "--batch-size", "8", "--beam-size", "1",
              "--max-len", "12", "--val-fraction", "0.2", "--test-fraction", "0.2"])
    cli.main(["export", "--model", str(out), "--to", str(exported)])
    sentences = ["¿Tomás come agua?", "El gato ve el pan.", "«María» quiere una manzana, 3,5 kilos...",
                 "EL PERRO   come\tagua!", "", "xyzzy plugh", "el gato ve el pan y el perro come agua y el gato ve el pan",
                 "María’s gato", "¡¿?!"]
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
