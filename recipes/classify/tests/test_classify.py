"""The classify recipe: its data rules, a smoke run end to end, reload, predict, export and bad input."""
import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from shared.testing import check_recipe, write_csv

from .. import __main__ as cli
from .. import data
from .conftest import CLASSES

PACKAGE = __package__.rsplit(".", 1)[0]  # recipes.classify, or a copy's own name
SMALL = ["--units", "8", "--embedding-dim", "8", "--max-words", "32", "--batch-size", "8"]


def test_a_csv_is_read_by_the_columns_named_and_its_mistakes_name_the_flag_or_line(tmp_path):
    path = write_csv(tmp_path / "a.csv", ["id", "body", "tag"], [["1", "good, very good", " yes "], ["2", "bad", "no"]])
    texts = data.read_csv(path, "body", "tag")
    assert texts.texts == ["good, very good", "bad"] and list(texts.labels) == ["yes", "no"]
    with pytest.raises(data.UserError, match=r"a.csv: line 1: no column 'label' \(choose one with --label-column\)"):
        data.read_csv(path, "body", "label")
    path.write_text("body,tag\nfine,yes\nshort row\n", encoding="utf-8")
    with pytest.raises(data.UserError, match="a.csv: line 3: expected 2 fields, found 1"):
        data.read_csv(path, "body", "tag")
    path.write_text("body,tag\nfine,\n", encoding="utf-8")
    with pytest.raises(data.UserError, match="line 2: no class name in column 'tag'"):
        data.read_csv(path, "body", "tag")


def test_classes_come_from_the_training_split_and_every_split_needs_each(tmp_path, five_class_csv):
    parts, classes, _ = data.load_splits(str(five_class_csv), "text", "speaker", 0.1, seed=0)
    assert classes == sorted(CLASSES)  # the names as written, in a fixed order
    for part in parts.values():  # stratified: every class in every split, in its share
        assert np.bincount(part.labels, minlength=5).min() >= len(part.labels) // 5 - 1
    assert sum(len(part.texts) for part in parts.values()) == 400
    lonely = write_csv(tmp_path / "lonely.csv", ["text", "label"], [["a b", "x"]] * 20 + [["c d", "y"]])
    with pytest.raises(data.UserError, match="split lacks classes"):
        data.load_splits(str(lonely), "text", "label", 0.1, seed=0)


@pytest.mark.slow
def test_trains_on_five_named_classes_predicts_their_names_and_exports_them(tmp_path, five_class_csv, capsys):
    import tensorflow as tf

    from .. import export, predict, train

    out = tmp_path / "run"
    texts = ["the film was lady macbeth0 ladymacbeth1 it", "a story romeo2 romeo0 camera"]
    metrics, probabilities = check_recipe(
        train.main, out, ["--data", str(five_class_csv), "--label-column", "speaker", *SMALL, "--lr", "0.01"],
        infer=lambda run: predict.main(["--model", str(run), *texts]), files=["classes.json"])
    assert json.loads((out / "classes.json").read_text(encoding="utf-8")) == sorted(CLASSES)
    with (out / "training_log.csv").open(newline="") as log:
        losses = [float(row["loss"]) for row in csv.DictReader(log)]
    assert losses[-1] < losses[0]  # it learns
    assert metrics["test"]["accuracy"] > metrics["baselines"]["majority"]["accuracy"] + 0.2
    assert set(metrics["model_vs_bag_of_ngrams"]) == {"only_model_right", "only_baseline_right", "p_value"}
    assert probabilities.shape == (2, 5) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    printed = [line.split("\t") for line in capsys.readouterr().out.strip().splitlines()[-2:]]
    assert [row[0] for row in printed] == [sorted(CLASSES)[i] for i in probabilities.argmax(axis=1)]

    export.main(["--model", str(out), "--to", str(tmp_path / "served")])
    served = tf.saved_model.load(str(tmp_path / "served"))  # kept in a variable while it serves
    result = served.serve(tf.constant(texts))
    assert np.allclose(result["probabilities"].numpy(), probabilities, atol=1e-5)
    assert [name.decode() for name in result["classes"].numpy()] == sorted(CLASSES)
    assert [name.decode() for name in result["label"].numpy()] == [row[0] for row in printed]


@pytest.mark.parametrize("argv, message", [
    (["--data", "no/such.csv"], "--data no/such.csv: expected a CSV file or a folder with train.csv and test.csv"),
    (["--units", "many"], "--units"),
    (["predict", "--model", "no/such/run", "text"], "no/such/run"),
    (["predict", "--model", "x"], "no texts"),
])
def test_a_mistake_is_one_line_and_exit_2(tmp_path, argv, message):
    done = subprocess.run([sys.executable, "-m", PACKAGE, *argv, *(["--out", str(tmp_path / "o")] if argv[0] != "predict" else [])],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2 and message in done.stderr, done.stderr[-1500:]
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_the_speakers_example_keeps_each_speech_with_its_speaker():
    from ..speakers import speeches

    corpus = "First Citizen:\nBefore we proceed any further,\nhear me speak.\n\nAll:\nSpeak, speak.\n\nno name here\n"
    assert speeches(corpus) == [("Before we proceed any further, hear me speak.", "First Citizen"),
                                ("Speak, speak.", "All")]
    assert [command.name for command in cli.COMMANDS][:1] == ["train"]


def test_a_text_of_no_known_word_is_named_and_control_characters_are_never_echoed(tmp_path, five_class_csv, capsys):
    from shared.artifacts import publish
    from shared.config import to_json

    from .. import model
    from ..config import Config

    config = Config(units=4, embedding_dim=4, max_words=16)
    texts = data.read_csv(five_class_csv, "text", "speaker").texts
    vectorizer = data.make_vectorizer(texts, 100, config.max_words)
    classifier = model.build_classifier(vectorizer.vocabulary_size(), len(CLASSES), embedding_dim=4, cell="gru",
                                        units=4, num_layers=1, bidirectional=False, dropout=0.0)
    publish(tmp_path / "run", {"config.json": to_json(config, PACKAGE.split(".")[-1]),
                               "classes.json": json.dumps(sorted(CLASSES))},
            model=model.with_vectorizer(vectorizer, classifier))
    (tmp_path / "mine.txt").write_text("the film romeo0\n素晴らしい\n\x00\x00\n\nzzz\tqqq\n", encoding="utf-8")
    cli.main(["predict", "--model", str(tmp_path / "run"), "--file", str(tmp_path / "mine.txt")])
    captured = capsys.readouterr()
    assert "\x00" not in captured.out
    rows = [line.split("\t") for line in captured.out.strip("\n").split("\n")]
    assert [len(row) for row in rows] == [4] * 4  # class, probability, known/read, text: the tab escaped
    assert [row[2] for row in rows] == ["3/3", "0/1", "0/1", "0/2"]  # a NUL is no punctuation here: a word
    assert [row[3] for row in rows] == ["the film romeo0", "素晴らしい", "\\x00\\x00", "zzz\\tqqq"]
    notes = captured.err.strip().split("\n")
    assert [note.split(": ")[2] for note in notes] == ["line 2", "line 3", "line 5"]
    assert all("no word of it is in the model's vocabulary" in note for note in notes)
