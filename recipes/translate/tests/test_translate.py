import csv
import json
import math
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import keras
import numpy as np
import pytest
import sacrebleu

from .. import __main__ as cli
from .. import data, model, scoring, train
from .. import translator as inference
from ..config import Config
from shared.artifacts import load_model, publish
from shared.config import to_json
from shared.errors import UserError
from shared.inference import inference_copy
from shared.run import compile_from_config
from shared.training import evaluate

PACKAGE = __package__.rsplit(".", 1)[0]  # this recipe's package (a copy's own in a copy)
RECIPE = PACKAGE.split(".")[-1]  # the folder's name, which the run folders record
COMMAND = "translate"  # the inference command (the same in a copy under another name)
ROOT = Path(__file__).resolve().parents[3]  # the project: recipes/RECIPE/tests/this file
TINY = ["--units", "16", "--embedding-dim", "8", "--lr", "0.01", "--epochs", "2", "--batch-size", "32",
        "--beam-size", "2", "--max-len", "12"]
SUBJECTS = [("el gato", "the cat"), ("el perro", "the dog"), ("la niña", "the girl"), ("Tomás", "Tom"),
            ("María", "Mary")]
VERBS = [("come", "eats"), ("ve", "sees"), ("quiere", "wants"), ("busca", "looks for")]
OBJECTS = [("una manzana", "an apple"), ("el pan", "the bread"), ("agua", "water"), ("un libro", "a book")]


def synthetic_pairs():
    """English<TAB>Spanish lines a tiny model can learn word by word, with accents and ¿ ?."""
    lines = []
    for s_es, s_en in SUBJECTS:
        for v_es, v_en in VERBS:
            for o_es, o_en in OBJECTS:
                lines.append(f"{(s_en + ' ' + v_en).capitalize()} {o_en}.\t{s_es.capitalize()} {v_es} {o_es}.")
                lines.append(f"{(s_en + ' ' + v_en).capitalize()} {o_en}?\t¿{s_es.capitalize()} {v_es} {o_es}?")
    return lines


@pytest.fixture
def pairs_file(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("\n".join(synthetic_pairs()) + "\n", encoding="utf-8")
    return path


def run_cli(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    return exit_info.value.code, capsys.readouterr().err


def subprocess_cli(*args, timeout=120):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, "-m", PACKAGE, *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


# --- text --------------------------------------------------------------------------------

@pytest.mark.parametrize("text,tokens", [
    ("¿Todavía está en casa?", ["¿", "todavía", "está", "en", "casa", "?"]),
    ("¡Qué día tan bonito, mamá!", ["¡", "qué", "día", "tan", "bonito", ",", "mamá", "!"]),
    ("El niño comió 3.5 piñas.", ["el", "niño", "comió", "3.5", "piñas", "."]),
    ("I don't know what’s wrong.", ["i", "don't", "know", "what's", "wrong", "."]),
    ("Él está aquí; ésta no.", ["él", "está", "aquí", ";", "ésta", "no", "."]),
])
def test_tokenization_keeps_accents_splits_punctuation_and_round_trips(text, tokens):
    assert data.tokenize(text) == tokens
    assert data.detokenize(data.tokenize(text)) == data.normalize(text)


def test_decomposed_accents_are_the_same_word_and_esta_is_not_esta():
    composed, decomposed = "está", "esta\u0301"  # one code point, or 'a' + combining acute
    assert data.tokenize(decomposed) == data.tokenize(composed) == ["está"]
    assert data.tokenize("esta") != data.tokenize("está")  # accents kept: "this" is not "is"


def test_truecasing_restores_capitals_the_training_text_uses():
    truecase = data.fit_truecase(["I think Tom is here.", "Where is Tom?", "Yes, I do."])
    assert truecase == {"i": "I", "tom": "Tom"}
    assert data.detokenize(["where", "is", "tom", "?"], truecase) == "Where is Tom?"
    assert data.detokenize(["¿", "qué", "?"]) == "¿qué?"


def test_vocabulary_from_training_text_only_and_unknown_words_are_unk():
    vocab = data.Vocabulary.fit(["el gato come.", "el perro come."], max_tokens=100)
    assert vocab.tokens[:4] == data.SPECIALS and vocab.tokens[4:7] == [".", "come", "el"]  # count, then a-z
    assert vocab.encode(data.tokenize("El lobo come")) == [vocab.index["el"], 1, vocab.index["come"]]
    assert data.encode_target(vocab, "come")[0] == 2 and data.encode_target(vocab, "come")[-1] == 3
    assert len(data.Vocabulary.fit(["a b c d e f"], max_tokens=6)) == 6


# --- data files and splits --------------------------------------------------------------

@pytest.mark.parametrize("content,message", [
    ("Hi.\tHola.\nBye.\n", "line 2: expected 2 tab-separated fields (English<TAB>Spanish), found 1"),
    ("Hi.\tHola.\n\nGo.\tVe.\tCC-BY\n", "line 3: expected 2 tab-separated fields"),
    ("Hi.\t \n", "line 1: empty Spanish sentence"),
    ("¿Dónde está el gato?\tWhere is the cat?\nEl perro come.\tThe dog eats.\n",
     "the first column looks Spanish (100% of sentences) and the second does not (0%)"),
    ("", "is empty"),
])
def test_malformed_pair_files_name_the_line(tmp_path, content, message):
    path = tmp_path / "bad.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=re.escape(message)) as error:
        data.read_pairs(path)
    assert str(path) in str(error.value)


def linked_pairs():
    """50 groups of 6 pairs chained by shared sentences (pairs 2k and 2k+1 share an English sentence,
    written in two cases, pairs 3k..3k+2 a Spanish one), then 60 pairs that share nothing."""
    english = [f"E{i // 2}." if i % 2 else f"e{i // 2}." for i in range(300)] + [f"x{i}" for i in range(60)]
    spanish = [f"s{i // 3}" for i in range(300)] + [f"y{i}" for i in range(60)]
    return data.Pairs(english, spanish)


def test_splits_are_seeded_and_share_no_english_and_no_spanish_sentence():
    pairs = linked_pairs()
    parts = data.split(pairs, 0.1, 0.2, seed=4)
    train_part, val, test = parts
    assert len(train_part) + len(val) + len(test) == 360
    assert 72 <= len(test) < 72 + 6 and 36 <= len(val) < 36 + 6  # shares of pairs, overshot by under a group
    for side in ("english", "spanish"):
        seen = [set(map(data.normalize, getattr(part, side))) for part in parts]
        assert not seen[0] & seen[1] and not seen[0] & seen[2] and not seen[1] & seen[2], side
    assert data.overlap(train_part, test) == 0 and data.overlap(train_part, val) == 0
    assert data.split(pairs, 0.1, 0.2, seed=4)[2].english == test.english
    assert data.split(pairs, 0.1, 0.2, seed=5)[2].english != test.english


def test_overlap_counts_pairs_sharing_either_sentence_with_training():
    pairs = linked_pairs()
    assert data.overlap(pairs.subset([0]), pairs.subset([1])) == 1  # "e0." and "E0.": one English sentence
    assert data.overlap(pairs.subset([0]), pairs.subset([2])) == 1  # the same Spanish sentence
    assert data.overlap(pairs.subset([0]), pairs.subset([3, 300])) == 0
    # A split by Spanish sentence alone, as before: pairs 2 and 3 share an English sentence across it.
    assert data.overlap(pairs.subset(range(3)), pairs.subset(range(3, 6))) == 1


@pytest.mark.real_data
def test_real_split_shares_no_sentence_with_training_and_keeps_the_fractions(real_data, monkeypatch):
    monkeypatch.setenv("RECIPES_DATA_DIR", str(real_data))
    pairs, _ = data.drop_long(data.load_pairs("")[0], 25)
    train_part, val, test = data.split(pairs, 0.03, 0.05, seed=0)
    assert len(train_part) + len(val) + len(test) == len(pairs) > 100_000
    assert data.overlap(train_part, test) == 0 and data.overlap(train_part, val) == 0
    assert data.overlap(val, test) == 0
    assert len(test) / len(pairs) == pytest.approx(0.05, abs=0.001)
    assert len(val) / len(pairs) == pytest.approx(0.03, abs=0.001)


def test_batches_are_length_grouped_right_padded_and_weighted():
    sources = [[5, 6, 7], [5], [8, 9], [5, 6, 7, 8, 9, 10]]
    targets = [[2, 4, 3], [2, 4, 5, 6, 3], [2, 3], [2, 7, 3]]
    seen = 0
    for (source, previous), target, weight in data.batches(sources, targets, 2, shuffle_seed=0):
        source, previous, target, weight = (np.asarray(x) for x in (source, previous, target, weight))
        assert previous[:, 0].tolist() == [2] * len(previous)  # decoder input starts with [start]
        assert ((target > 0) == (weight > 0)).all() and source.shape[1] == (source > 0).sum(1).max()
        for row_prev, row_target in zip(previous, target):
            real = int((row_target > 0).sum())
            assert (row_prev[1:real] == row_target[: real - 1]).all()  # the target is the input shifted by one
        seen += len(source)
    assert seen == 4


# --- model -------------------------------------------------------------------------------

def tiny_config(**changes):
    return Config(**{"units": 6, "embedding_dim": 5, "max_len": 8, **changes})


def test_padding_gets_no_attention_and_no_loss():
    keras.utils.set_random_seed(0)
    config = tiny_config(dropout=0.0)
    translator = model.build_translator(config, 20, 15)
    probe = keras.Model(translator.inputs, translator.get_layer("attention").output[1])  # (batch, T, S)
    source = np.array([[5, 6, 7, 0, 0], [8, 9, 10, 11, 12]], dtype="int32")
    previous = np.array([[2, 4, 5, 0], [2, 6, 7, 8]], dtype="int32")
    weights = np.asarray(probe([source, previous]))
    assert (weights[0, :, 3:] == 0).all() and (weights[0, :3, :3] > 0).all()
    np.testing.assert_allclose(weights[0, :3].sum(-1), 1.0, rtol=1e-6)

    translator.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    target = np.array([[4, 5, 3, 0], [6, 7, 8, 3]], dtype="int32")
    mask = (target > 0).astype("float32")
    loss = translator.evaluate([source, previous], target, sample_weight=mask, verbose=0)
    logits = np.asarray(translator([source, previous]))
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    per_token = -np.take_along_axis(log_p, target[..., None], -1)[..., 0]
    assert loss == pytest.approx(per_token[mask > 0].mean(), rel=1e-5)  # the mean over real tokens only
    other = target.copy()
    other[0, 3] = 9  # a different word where the target is padding (still weighted 0): same loss
    assert translator.evaluate([source, previous], other, sample_weight=mask, verbose=0) == pytest.approx(loss)


def test_the_default_learning_rate_falls_along_a_cosine_to_zero_over_all_the_epochs():
    # Issue 32 (13): at a flat 2e-3, early stopping ended training before --minutes lowered the rate.
    config = tiny_config()
    translator = model.build_translator(config, 20, 15)
    compile_from_config(translator, config, loss=model.translation_loss(), steps_per_epoch=5)
    rates = []
    for step in (0, config.epochs * 5 // 2, config.epochs * 5):
        translator.optimizer.iterations.assign(step)
        rates.append(float(translator.optimizer.learning_rate))
    assert rates == pytest.approx([config.lr, config.lr / 2, 0.0], abs=1e-9)


@pytest.mark.parametrize("attention", ["additive", "none"])
def test_reported_loss_is_the_mean_cross_entropy_per_target_token(attention):
    # Lengths differ within and between batches: shorter rows read [end] where their target is padding.
    english = ["Go.", "The cat eats bread.", "Tom sees the dog and the cat.", "Water?", "The dog eats.",
               "Mary wants a big red book today.", "Hi."]
    spanish = ["Ve.", "El gato come pan.", "Tomás ve al perro y al gato.", "¿Agua?", "El perro come.",
               "María quiere un libro grande y rojo hoy.", "Hola."]
    pairs = data.Pairs(english, spanish)
    source_vocab, target_vocab = data.Vocabulary.fit(spanish, 100), data.Vocabulary.fit(english, 100)
    keras.utils.set_random_seed(2)
    config = tiny_config(attention=attention, max_len=12, lr_schedule="constant")  # a flat rate moves furthest
    translator = model.build_translator(config, len(source_vocab), len(target_vocab))
    compile_from_config(translator, config, loss=model.translation_loss())
    batches = data.batches(*data.encode_pairs(pairs, source_vocab, target_vocab), 3)
    translator.fit(batches, epochs=10, shuffle=False, verbose=0)  # away from uniform predictions, so batches differ
    total, tokens, per_batch, rows = 0.0, 0, [], []
    for (source, previous), target, _ in batches:
        logits = np.asarray(translator([source, previous]), dtype="float64")  # (batch, T, vocab)
        log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        target = np.asarray(target)
        cross_entropy = -np.take_along_axis(log_p, target[..., None], -1)[..., 0]  # (batch, T)
        real = target > 0  # the real English words and [end]
        total, tokens = total + cross_entropy[real].sum(), tokens + real.sum()
        per_batch.append(cross_entropy[real].mean())
        rows.append(len(target))
    by_sentences = np.average(per_batch, weights=rows)  # Keras's own average of batch means
    assert len(per_batch) == 3 and abs(by_sentences / (total / tokens) - 1) > 1e-3
    reported_loss = evaluate(translator, batches)["loss"]
    assert reported_loss == pytest.approx(total / tokens, rel=1e-4)


@pytest.mark.parametrize("attention", ["none", "additive", "dot"])
@pytest.mark.parametrize("cell,layers", [("gru", 1), ("lstm", 2), ("rnn", 1)])
def test_step_by_step_decoding_equals_the_teacher_forced_model(attention, cell, layers):
    keras.utils.set_random_seed(1)
    config = tiny_config(attention=attention, cell=cell, layers=layers)
    translator = model.build_translator(config, 20, 15)
    source = np.array([[5, 6, 7, 0], [8, 9, 10, 11]], dtype="int32")
    previous = np.array([[2, 4, 5], [2, 6, 7]], dtype="int32")
    full = np.asarray(translator([source, previous]))
    memory, *initial = model.encoder_model(translator, config)(source)
    step = model.decoder_step_model(translator, config)
    states, steps = initial * layers, []
    for t in range(3):
        logits, _, *states = step([keras.ops.convert_to_tensor(previous[:, t:t + 1]), memory,
                                   keras.ops.convert_to_tensor(source), *states])
        steps.append(np.asarray(logits)[:, 0])
    np.testing.assert_allclose(np.stack(steps, 1), full, atol=1e-5)


VOCABULARIES = {"spanish": [*data.SPECIALS, "el", "gato", "perro", "come", "ve", "agua", "pan", ".", "¿", "?"],
                "english": [*data.SPECIALS, "the", "cat", "dog", "eats", "sees", "water", "bread", ".", "?"],
                "truecase": {}}


def tiny_translator(seed=3, **changes):
    keras.utils.set_random_seed(seed)
    config = tiny_config(**changes)
    trained = model.build_translator(config, len(VOCABULARIES["spanish"]), len(VOCABULARIES["english"]))
    return trained, config, inference.Translator(trained, config, VOCABULARIES)


def test_greedy_equals_beam_search_of_width_one():
    _, _, translator = tiny_translator()
    sources, _ = translator.prepare(["el gato come pan.", "¿el perro ve agua?", "agua", "el gato ve el perro."])
    greedy = translator.translate_ids(sources)
    assert greedy == translator.translate_ids(sources, beam_size=1)
    assert greedy == [translator.beam([s], 1)[0] for s in sources]
    assert any(greedy)  # not all empty
    wide = translator.translate_ids(sources, beam_size=3)
    assert len(wide) == 4 and all(0 not in ids and 1 not in ids for ids in wide)


def test_saved_model_translates_raw_strings_identically_after_reload(tmp_path):
    trained, config, translator = tiny_translator(seed=5)
    sentences = ["El gato come pan.", "¿El perro ve agua?", "el perro ve xyz"]
    before = translator.translate(sentences), translator.translate(sentences, beam_size=3)
    publish(tmp_path, {"config.json": to_json(config, RECIPE),
                       "vocab.json": json.dumps(VOCABULARIES)}, model=inference_copy(trained))
    reloaded = inference.load(tmp_path)
    assert (reloaded.translate(sentences), reloaded.translate(sentences, beam_size=3)) == before


def test_bad_sentences_are_refused_naming_them():
    _, _, translator = tiny_translator()
    with pytest.raises(UserError, match="sentence 2 is empty"):
        translator.prepare(["el gato", "   "])
    with pytest.raises(UserError, match=r"sentence 1: every word is unknown to the model \(xyzzy, plugh\)"):
        translator.prepare(["¿Xyzzy plugh?"])
    with pytest.raises(UserError, match="sentence 1 has 9 tokens, more than the model's --max-len 8"):
        translator.prepare(["el gato come pan el perro ve agua ."])
    ids, unknown = translator.prepare(["el lobo come pan"])
    assert unknown == [["lobo"]] and ids[0][1] == 1


def test_unknown_words_are_named_with_control_characters_escaped_never_echoed():
    note = inference.unknown_note("sentence 1", ["lobo", "\x00", "\x1b", "\u202e"])
    assert note == "note: sentence 1: unknown words read as [UNK]: lobo, \\x00, \\x1b, \\u202e"
    _, _, translator = tiny_translator()
    sentence = "el lobo\x00 \x1b[31m"  # a NUL and an escape sequence that would turn the terminal red
    (_,), (missing,) = translator.prepare([sentence])
    assert "\x1b" in missing and "\x00" in missing  # read as [UNK], and named...
    shown = inference.unknown_note("sentence 1", missing)
    assert "\\x1b" in shown and "\\x00" in shown and all(char.isprintable() for char in shown)  # ...escaped
    with pytest.raises(UserError) as refused:
        translator.prepare(["\x1b[31m\x00 xyzzy"])
    assert "\\x1b, [, 31, m, \\x00, xyzzy" in str(refused.value) and str(refused.value).isprintable()


# --- BLEU --------------------------------------------------------------------------------

def test_bleu_of_a_hand_made_case_is_sacrebleus_figure():
    hypotheses = ["the cat is on the mat", "there is a big dog here"]
    references = ["the cat sat on the mat", "there is a big dog"]
    # By hand: n-gram matches / totals over the corpus, n = 1..4, and the brevity penalty.
    matches, totals = [0] * 4, [0] * 4
    for hyp, ref in zip(hypotheses, references):
        h, r = hyp.split(), ref.split()
        for n in range(1, 5):
            hyp_grams = Counter(tuple(h[i:i + n]) for i in range(len(h) - n + 1))
            ref_grams = Counter(tuple(r[i:i + n]) for i in range(len(r) - n + 1))
            matches[n - 1] += sum((hyp_grams & ref_grams).values())
            totals[n - 1] += max(0, len(h) - n + 1)
    assert matches == [10, 7, 4, 2] and totals == [12, 10, 8, 6]
    # 12 hypothesis words against 11 reference words: no brevity penalty.
    expected = 100 * math.exp(sum(math.log(m / t) for m, t in zip(matches, totals)) / 4)
    assert scoring.bleu(hypotheses, references) == pytest.approx(expected, abs=1e-9)
    assert scoring.bleu(hypotheses, references) == sacrebleu.corpus_bleu(hypotheses, [references]).score
    # 13a tokenization splits the full stop; lowercase=True ignores case.
    assert scoring.bleu(["The cat sat on the mat."], ["the cat sat on the mat ."], lowercase=True) == pytest.approx(100.0)
    assert scoring.bleu(["The cat sat on the mat."], ["the cat sat on the mat ."]) < 100.0


def test_length_buckets_count_spanish_words_not_punctuation():
    pairs = data.Pairs(["a", "b", "c"], ["¿Uno dos tres cuatro cinco?", "1 2 3 4 5 6", " ".join(["x"] * 11)])
    buckets = scoring.by_length(["a", "b", "c"], pairs)
    assert {name: row["sentences"] for name, row in buckets.items()} == {"1-5": 1, "6-10": 1, "11+": 1}


def test_chrf_is_sacrebleus_and_credits_a_near_miss_that_bleu_does_not():
    hypotheses, references = ["He walks home today."], ["He walked home today."]
    assert scoring.chrf(hypotheses, references) == sacrebleu.corpus_chrf(hypotheses, [references]).score
    assert scoring.chrf(references, references) == pytest.approx(100.0)
    assert scoring.chrf(["The house is red."], ["The house is red ."]) > scoring.chrf(["A dog."], references)
    assert 60 < scoring.chrf(hypotheses, references) and scoring.bleu(hypotheses, references) < 60


def test_scoring_reports_chrf_for_greedy_beam_and_the_baseline(capsys):
    _, _, translator = tiny_translator()
    test = data.Pairs(["The cat eats bread.", "Does the dog see water?"], ["El gato come pan.", "¿El perro ve agua?"])
    report = scoring.score_test_split(translator, test, beam_size=2, speed_sentences=2)
    greedy = [sample["greedy"] for sample in report["samples"]]
    beam = [sample["beam"] for sample in report["samples"]]
    assert report["test"]["chrf"] == scoring.chrf(greedy, test.english)
    assert report["beam"]["chrf"] == scoring.chrf(beam, test.english)
    assert report["baseline"]["chrf"] == scoring.chrf(test.spanish, test.english) > 0
    # Every output is kept, one line a pair beside its reference and source, for later paired comparisons.
    assert report["translations"] == {"greedy": greedy, "beam": beam}
    assert scoring.translations_tsv(test, report["translations"]).splitlines() == [
        "\t".join(row) for row in zip(test.english, test.spanish, greedy, beam)]
    scoring.print_report(report)
    printed = capsys.readouterr().out
    assert f"chrF {report['test']['chrf']:6.2f}" in printed and f"chrF {report['baseline']['chrf']:6.2f}" in printed


# --- the command line --------------------------------------------------------------------

# The tests that use trained_run: one `make test` process trains it and runs them all (pytest-xdist).
SHARES_TRAINED_RUN = pytest.mark.xdist_group(f"{RECIPE}_trained_run")


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One --smoke training run through the command line on synthetic pairs, shared by the tests below."""
    folder = tmp_path_factory.mktemp(RECIPE)
    pairs = folder / "pairs.tsv"
    pairs.write_text("\n".join(synthetic_pairs()) + "\n", encoding="utf-8")
    out = folder / "run"
    finished = subprocess_cli("--smoke", "--data", pairs, "--out", out, *TINY, timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    return out, finished


@SHARES_TRAINED_RUN
@pytest.mark.slow
def test_smoke_run_trains_evaluates_saves_then_translates(trained_run):
    out, _ = trained_run
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["smoke"] and json.loads((out / "config.json").read_text())["recipe"] == RECIPE
    for name in ("model.keras", "vocab.json", "test.tsv", "curves.png", "training_log.csv"):
        assert (out / name).is_file(), name
    test_lines = (out / "test.tsv").read_text(encoding="utf-8").splitlines()
    assert len(test_lines) == metrics["sizes"]["test"] > 0
    outputs = [line.split("\t") for line in (out / "test_translations.tsv").read_text(encoding="utf-8").splitlines()]
    assert ["\t".join(row[:2]) for row in outputs] == test_lines and {len(row) for row in outputs} == {4}
    assert "translations" not in metrics  # the outputs live in their own file, not in metrics.json
    assert all(key in metrics for key in ("test", "beam", "baseline", "retrieval_baseline", "speed", "samples"))
    assert 0 <= metrics["test"]["chrf"] <= 100 and 0 <= metrics["beam"]["chrf"] <= 100
    assert metrics["overlap_with_train"] == {"test": 0, "validation": 0}
    assert set(metrics["test"]["by_source_length"]) == {"1-5", "6-10", "11+"}
    with (out / "training_log.csv").open(newline="") as handle:
        losses = [float(row["loss"]) for row in csv.DictReader(handle)]
    assert losses[-1] < losses[0]

    translated = subprocess_cli(COMMAND, "--model", out, "¿El gato come pan?", "María ve xyz.",
                                "--beam-size", "2", "--show-attention", out / "attention.png")
    assert translated.returncode == 0, translated.stderr
    assert len(translated.stdout.splitlines()) == 2
    assert "unknown words read as [UNK]: xyz" in translated.stderr
    assert (out / "attention.png").read_bytes()[:4] == b"\x89PNG"


@SHARES_TRAINED_RUN
@pytest.mark.slow
def test_the_saved_run_translates_as_it_did_before_saving(trained_run):
    out, _ = trained_run
    metrics = json.loads((out / "metrics.json").read_text())
    reloaded = inference.load(out)
    spanish = [sample["spanish"] for sample in metrics["samples"]]
    assert reloaded.translate(spanish, strict=False) == [sample["greedy"] for sample in metrics["samples"]]
    assert reloaded.translate(spanish, 2, strict=False) == [sample["beam"] for sample in metrics["samples"]]


@pytest.fixture
def float32_afterwards():
    """--mixed-precision sets Keras's global policy in this process: put it back for the tests that follow."""
    yield
    keras.config.set_dtype_policy("float32")


@pytest.mark.slow
def test_mixed_precision_run_saves_the_model_and_it_translates_as_before(pairs_file, tmp_path, capsys,
                                                                          float32_afterwards):
    out = tmp_path / "run"
    metrics = train.main(["--smoke", "--mixed-precision", "--data", str(pairs_file), "--out", str(out), *TINY])
    assert json.loads((out / "metrics.json").read_text()) == json.loads(json.dumps(metrics, default=float))
    assert metrics["overlap_with_train"] == {"test": 0, "validation": 0}
    assert math.isfinite(metrics["test"]["loss"]) and 0 <= metrics["beam"]["chrf"] <= 100
    keras.config.set_dtype_policy("float32")  # as in a new process: the saved layers keep their own policy
    assert load_model(out).get_layer("decoder_1").dtype_policy.name == "mixed_bfloat16"
    # The whole test split, so the command decodes the same batches as the run did.
    sentences = tmp_path / "spanish.txt"
    spanish = [line.split("\t")[1] for line in (out / "test.tsv").read_text(encoding="utf-8").splitlines()]
    sentences.write_text("\n".join(spanish) + "\n", encoding="utf-8")
    samples = metrics["samples"]
    greedy = cli.main([COMMAND, "--model", str(out), "--file", str(sentences)])
    beam = cli.main([COMMAND, "--model", str(out), "--file", str(sentences), "--beam-size", "2"])
    assert all(isinstance(text, str) for text in greedy + beam) and len(greedy) == len(beam) == len(spanish)
    assert greedy[: len(samples)] == [sample["greedy"] for sample in samples]
    assert beam[: len(samples)] == [sample["beam"] for sample in samples]
    assert capsys.readouterr().out.splitlines()[-len(beam):] == beam


@pytest.mark.slow
def test_a_failure_while_scoring_keeps_the_trained_model(pairs_file, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("scoring failed")

    monkeypatch.setattr(scoring, "score_test_split", broken)
    out = tmp_path / "run"
    with pytest.raises(RuntimeError, match="scoring failed"):
        train.main(["--smoke", "--data", str(pairs_file), "--out", str(out), *TINY, "--epochs", "1"])
    for name in ("model.keras", "vocab.json", "config.json", "test.tsv"):
        assert (out / name).is_file(), name
    assert not (out / "metrics.json").exists()
    assert inference.load(out).translate(["El gato come pan."])[0] is not None


@pytest.mark.slow
@pytest.mark.parametrize("args,message", [
    ([COMMAND, "--model", "{run}", "el gato", ""], "sentence 2 is empty"),
    ([COMMAND, "--model", "{run}", "xyzzy plugh"], "sentence 1: every word is unknown to the model"),
    ([COMMAND, "--model", "{run}", " ".join(["agua"] * 13)], "13 tokens, more than the model's --max-len 12"),
    ([COMMAND, "--model", "{run}"], "no sentences"),
    ([COMMAND, "--model", "{run}", "--beam-size", "0", "agua"], "--beam-size must be 1 or more"),
    ([COMMAND, "--model", "{tmp}/nowhere", "agua"], "no such model directory"),
])
@SHARES_TRAINED_RUN
def test_bad_translate_input_is_one_line_and_exit_2(trained_run, tmp_path, capsys, args, message):
    out, _ = trained_run
    code, err = run_cli([a.format(run=out, tmp=tmp_path) for a in args], capsys)
    assert code == 2 and message in err and err.count("\n") == 1, err


def test_bad_training_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.tsv"
    bad.write_text("Hi.\tHola.\nNo tab here\n", encoding="utf-8")
    code, err = run_cli(["--data", str(bad), "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and err.count("\n") == 1
    assert f"{bad}: line 2: expected 2 tab-separated fields" in err
    code, err = run_cli(["--data", str(tmp_path / "none.tsv"), "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and "no such file" in err
    code, err = run_cli(["--attention", "bahdanau"], capsys)
    assert code == 2 and "invalid choice" in err
    assert not (tmp_path / "out").exists()


def test_a_model_of_another_recipe_is_refused(tmp_path, capsys):
    (tmp_path / "config.json").write_text(json.dumps({"recipe": "sentiment", "config": {}}))
    (tmp_path / "model.keras").write_bytes(b"")
    code, err = run_cli([COMMAND, "--model", str(tmp_path), "hola", "--show-attention",
                         str(tmp_path / "a.png")], capsys)
    assert code == 2 and f"model of recipe 'sentiment', not '{RECIPE}'" in err
    assert not (tmp_path / "a.png").exists()


@SHARES_TRAINED_RUN
@pytest.mark.slow
def test_from_a_shell_bad_input_prints_one_line_and_exits_2(trained_run, tmp_path):
    out, _ = trained_run
    refused = subprocess_cli(COMMAND, "--model", out, "qwerty asdf")
    assert refused.returncode == 2
    assert refused.stderr == (f"python -m {PACKAGE} {COMMAND}: error: sentence 1: every word is unknown "
                              "to the model (qwerty, asdf); nothing to translate\n")
    bad = tmp_path / "bad.tsv"
    bad.write_text("Hi.\tHola.\nGo.\tVe.\textra\n", encoding="utf-8")
    refused = subprocess_cli("--data", bad, "--out", tmp_path / "out")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "line 2: expected 2 tab-separated fields" in refused.stderr and not (tmp_path / "out").exists()


# --- real data ---------------------------------------------------------------------------

@pytest.mark.real_data
@pytest.mark.slow
def test_teacher_forced_loss_falls_on_a_real_slice(real_data, monkeypatch):
    monkeypatch.setenv("RECIPES_DATA_DIR", str(real_data))
    pairs, _ = data.load_pairs("")
    assert len(pairs) > 100_000
    pairs, _ = data.drop_long(pairs.subset(range(0, len(pairs), 200)), 12)  # ~580 pairs across all lengths
    source_vocab = data.Vocabulary.fit(pairs.spanish, 2000)
    target_vocab = data.Vocabulary.fit(pairs.english, 2000)
    keras.utils.set_random_seed(0)
    config = tiny_config(units=32, embedding_dim=16, max_len=12)
    translator = model.build_translator(config, len(source_vocab), len(target_vocab))
    translator.compile(optimizer=keras.optimizers.Adam(0.01),
                       loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    batches = data.batches(*data.encode_pairs(pairs, source_vocab, target_vocab), 64, shuffle_seed=0)
    before = translator.evaluate(batches, verbose=0)
    translator.fit(batches, epochs=3, verbose=0)
    after = translator.evaluate(batches, verbose=0)
    assert after < before - 1.0, (before, after)


@pytest.mark.slow
def test_recipe_contract(pairs_file, tmp_path):
    from shared.testing import check_recipe

    check_recipe(train.main, tmp_path / "run", ["--data", str(pairs_file), *TINY], files=("vocab.json", "test.tsv"),
                 infer=lambda out: cli.main([COMMAND, "--model", str(out), "El gato come pan.", "¿Agua?"]))


def test_the_retrieval_baseline_returns_the_nearest_training_english_and_chooses_on_validation():
    from .. import baseline

    train_pairs = data.Pairs(["The cat eats bread.", "The dog sees water.", "I want a big red book."],
                             ["El gato come pan.", "El perro ve agua.", "Quiero un libro grande y rojo."])
    val = data.Pairs(["The cat eats bread."], ["El gato come pan."])
    retriever, tried = baseline.nearest_sentence(train_pairs, val)
    assert set(tried) == set(baseline.ANALYZERS) and max(tried.values()) == pytest.approx(100.0)
    assert retriever(["el perro ve agua", "Quiero un libro rojo."]) == ["The dog sees water.", "I want a big red book."]
    test = data.Pairs(["The dog sees water."], ["El perro ve agua."])
    scored = scoring.baseline_scores("nearest", retriever(test.spanish), test)
    assert scored["bleu"] == pytest.approx(100.0) and scored["chrf"] == pytest.approx(100.0)


@SHARES_TRAINED_RUN
@pytest.mark.slow
def test_a_file_job_writes_one_line_per_input_line_and_names_the_lines_it_could_not_translate(trained_run, tmp_path,
                                                                                              capsys):
    out, _ = trained_run
    lines = ["El gato come pan.", "", "xyzzy plugh", " ".join(["gato"] * 40), "¿El perro ve agua?"]
    job = tmp_path / "job.txt"
    job.write_text("\n".join(lines) + "\n", encoding="utf-8")
    capsys.readouterr()
    outputs = cli.main([COMMAND, "--model", str(out), "--file", str(job)])
    captured = capsys.readouterr()
    assert len(outputs) == len(lines) and captured.out.split("\n")[: len(lines)] == outputs
    # The two good lines get their translations (what a smoke-trained model says, maybe nothing), the others "".
    assert [outputs[0], outputs[4]] == inference.load(out).translate([lines[0], lines[4]])
    assert outputs[1] == outputs[2] == outputs[3] == ""
    for number, reason in ((2, "is empty"), (3, "every word is unknown"), (4, "more than the model's --max-len")):
        assert f"line {number} not translated" in captured.err and reason in captured.err
    hopeless = tmp_path / "hopeless.txt"
    hopeless.write_text("xyzzy plugh\n\n", encoding="utf-8")
    code, err = run_cli([COMMAND, "--model", str(out), "--file", str(hopeless)], capsys)
    assert code == 2 and "no line could be translated (line 1: every word is unknown" in err


@SHARES_TRAINED_RUN
@pytest.mark.slow
def test_show_attention_to_a_folder_is_one_line_before_any_work_and_leaves_no_stray_file(trained_run, tmp_path,
                                                                                         capsys):
    out, _ = trained_run
    folder = tmp_path / "pictures"
    folder.mkdir()
    code, err = run_cli([COMMAND, "--model", str(out), "El gato come pan.", "--show-attention", str(folder)], capsys)
    assert code == 2 and "is a folder; give a file name" in err and err.count("\n") == 1
    assert not list(tmp_path.glob(".*partial*")) and not list(folder.iterdir())


class HeatmapTranslator:
    """Stands in for a trained Translator in save_attention: two English words for three Spanish tokens."""

    target_vocab = type("Vocab", (), {"decode": staticmethod(lambda ids: ["the", "cat"])})

    def prepare(self, sentences):
        return [[4, 5, 6]], [[]]

    def greedy(self, sources, return_attention=False):
        return [[7, 8]], [np.full((3, 3), 1 / 3)]

    def text(self, ids):
        return "The cat"


@pytest.mark.parametrize("name, magic", [("attention.jpg", b"\xff\xd8\xff"), ("attention.JPEG", b"\xff\xd8\xff"),
                                         ("attention.pdf", b"%PDF"), ("attention.svg", b"<?xml"),
                                         ("attention.png", b"\x89PNG")])
def test_the_attention_heatmap_is_saved_in_the_format_its_name_says(tmp_path, name, magic):
    inference.check_image_path(tmp_path / name)
    inference.save_attention(HeatmapTranslator(), "el gato come", tmp_path / name)
    assert (tmp_path / name).read_bytes()[:len(magic)] == magic
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no partial file left


@pytest.mark.parametrize("name, says", [("att.gif", ".gif is not an image format written here; end the name in "
                                                    ".png, .jpg, .jpeg, .pdf, .svg"),
                                        ("att", "no suffix; end the name in .png, .jpg, .jpeg, .pdf, .svg")])
def test_an_attention_file_of_another_format_is_one_line_before_the_model_loads(tmp_path, capsys, name, says):
    code, err = run_cli([COMMAND, "--model", str(tmp_path / "no-model"), "hola", "--show-attention",
                         str(tmp_path / name)], capsys)
    assert code == 2 and err == f"python -m recipes.{RECIPE} translate: error: --show-attention {tmp_path / name}: {says}\n"
    assert not list(tmp_path.iterdir())
