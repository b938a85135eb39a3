import json

import numpy as np
import pytest

from shared.artifacts import load_model, publish

from .. import __main__ as cli
from .. import data, model, predict, train

PACKAGE = __package__.rsplit(".", 1)[0]  # "recipes.sentiment", or a copy's own package
RECIPE = PACKAGE.split(".")[-1]

FAST = ["--smoke", "--units", "8", "--layers", "1", "--embedding-dim", "8", "--lr", "0.02", "--epochs", "2"]


def run_cli(argv, capsys):
    """Exit code and stderr of the command line, as a user would see them."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    return exit_info.value.code, capsys.readouterr().err


# --- loading and splitting ---------------------------------------------------------------

def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


@pytest.mark.parametrize("content,message", [
    ("text,label\nnice,positive\n", "line 1: expected columns review,sentiment"),
    ("review,sentiment\nnice,positive\nbad,meh\n", "line 3: sentiment 'meh' is not positive/negative"),
    ("review,sentiment\nnice,positive\n   ,negative\n", "line 3: empty review"),
    ("review,sentiment\nnice,positive,extra\n", "line 2: expected 2 fields, found 3"),
    (b"review,sentiment\nnice,positive\ncaf\xe9,negative\n", "line 3: bytes that are not valid utf-8"),
    ("", "the CSV file is empty"),
    ("review,sentiment\n", "no reviews after the header"),
])
def test_bad_csv_gets_an_error_naming_file_and_line(tmp_path, content, message):
    path = write(tmp_path / "r.csv", content)
    with pytest.raises(data.UserError, match=message):
        data.read_csv(path)


def test_labels_may_be_words_or_digits_and_quoted_text_spans_lines(tmp_path):
    path = write(tmp_path / "r.csv", 'review,sentiment\n"Good,<br />very ""good""\nindeed",1\nbad,Negative\n')
    reviews = data.read_csv(path)
    assert reviews.texts[0] == 'Good,<br />very "good"\nindeed'
    assert list(reviews.labels) == [1, 0]


def test_aclimdb_folders_load_and_other_shapes_are_refused(tmp_path):
    for split in ("train", "test"):
        for label in ("pos", "neg"):
            (tmp_path / "aclImdb" / split / label).mkdir(parents=True)
            write(tmp_path / "aclImdb" / split / label / "0_7.txt", f"a {label} review")
    train_part, test_part, _ = data.load_splits(str(tmp_path), seed=0)
    assert sorted(train_part.texts) == ["a neg review", "a pos review"] and len(test_part) == 2
    (tmp_path / "other").mkdir()
    with pytest.raises(data.UserError, match="expected a CSV file, a folder with train.csv"):
        data.load_splits(str(tmp_path / "other"), seed=0)
    with pytest.raises(data.UserError, match="no such file or folder"):
        data.load_splits(str(tmp_path / "nowhere"), seed=0)


def test_splits_are_stratified_disjoint_and_shuffled(reviews_csv):
    reviews = data.read_csv(reviews_csv)
    ordered = data.Reviews(sorted(reviews.texts, key=lambda t: t in reviews.texts[1::2]),
                           np.sort(reviews.labels))  # negatives first, like the IMDB files
    rest, held = data.stratified_split(ordered, 0.25, seed=3)
    assert len(held) == 100 and held.labels.mean() == 0.5 and rest.labels.mean() == 0.5
    assert not set(rest.texts) & set(held.texts)
    assert 0 < rest.labels[:50].mean() < 1  # the label order of the file is gone
    again = data.stratified_split(ordered, 0.25, seed=3)[1]
    assert again.texts == held.texts


def test_nearby_reviews_sharing_a_rare_name_form_one_group():
    common = [f"Smith was in it. Review {i}." for i in range(data.MOST_REVIEWS + 1)]  # a name in 31 reviews
    texts = ["Zorblax is superb.", "I liked it.", "Zorblax again, and Quuxton.",  # 0 and 2 share a rare name
             "quuxton in lower case is no name.",  # lower-case: no link to 2
             "Quuxton was dull.",  # links to 2, so joins 0's group
             *["filler"] * data.GROUP_WINDOW, "Zorblax, far from the others."] + common  # beyond the window
    groups = data.name_groups(texts)
    assert groups[0] == groups[2] == groups[4]
    assert len({groups[0], groups[1], groups[3], groups[10]}) == 4
    assert len(set(groups[11:])) == len(common)  # a name in more than MOST_REVIEWS reviews links nothing
    assert sorted(set(groups)) == list(range(groups.max() + 1))


def test_a_grouped_split_holds_out_whole_groups_and_stays_stratified():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 200)  # negatives first, like the IMDB files
    groups = np.repeat(np.arange(100), 4)  # runs of four reviews of one class
    reviews = data.Reviews([f"review {i}" for i in range(400)], labels, groups)
    for seed in range(5):
        rest, held = data.stratified_split(reviews, 0.1, seed)
        assert len(held) == 40 and held.labels.mean() == 0.5
        assert not set(held.groups) & set(rest.groups)  # 20 reviews a class: five whole groups each
        assert 0 < rest.labels[:50].mean() < 1 and len(set(rest.groups[:20])) > 5  # shuffled, not in runs
    groups = np.concatenate([rng.permutation(groups[:200]), rng.permutation(groups[200:])])  # scattered runs
    rest, held = data.stratified_split(data.Reviews(reviews.texts, labels, groups), 0.1, 0)
    assert len(set(held.groups) & set(rest.groups)) <= 2  # a group is cut only where a class's quota ends


def test_cross_fitting_keeps_a_groups_reviews_in_one_fold():
    from .. import ngrams

    rng = np.random.default_rng(0)
    tokens = rng.integers(1, 400, size=(300, 30))
    labels = np.repeat([0, 1], 150)
    groups = np.repeat(np.arange(100), 3)
    fold_of, _ = ngrams.cross_fit(ngrams.gram_matrix(tokens, 2, 4096, 400), labels, 16.0, seed=0, groups=groups)
    assert all(len(set(fold_of[groups == g])) == 1 for g in range(100))
    assert sorted(np.bincount(fold_of).tolist()) == [60] * 5


def test_vocabulary_comes_from_training_text_only_and_html_breaks_vanish():
    vectorizer = data.make_vectorizer(["a fine film<br />truly fine", "a dull film"], max_tokens=100, max_words=6)
    vocabulary = vectorizer.get_vocabulary()
    assert "br" not in vocabulary and "fine" in vocabulary
    ids = vectorizer(np.array(["fine unseenword film"], dtype=object)).numpy()[0]
    assert ids[1] == 1  # a word never seen in training is [UNK], not a new entry
    assert list(ids[3:]) == [0, 0, 0]  # padding on the right


def test_batches_are_right_padded_and_no_longer_than_needed(reviews_csv):
    reviews = data.read_csv(reviews_csv)
    vectorizer = data.make_vectorizer(reviews.texts, 100, max_words=40)
    batches = data.token_batches(vectorizer, reviews, 32, 40, shuffle_seed=0)
    assert batches.options().autotune.enabled is False  # see shared.data.prefetched
    for tokens, labels in batches:
        tokens = tokens.numpy()
        lengths = (tokens > 0).sum(axis=1)
        assert lengths.min() > 0 and tokens.shape[1] == lengths.max() <= 40
        for row, length in zip(tokens, lengths):
            assert (row[:length] > 0).all() and (row[length:] == 0).all()
        assert labels.shape == (tokens.shape[0],)


# --- model -------------------------------------------------------------------------------

def test_saved_model_takes_raw_strings_and_reloads_identically(tmp_path, reviews_csv):
    config = train.Config(units=4, layers=2, embedding_dim=4)
    reviews = data.read_csv(reviews_csv)
    vectorizer = data.make_vectorizer(reviews.texts, 50, 20)
    classifier = model.build_classifier(config, vectorizer.vocabulary_size())
    classifier.compile(optimizer="adam", loss="binary_crossentropy")
    classifier.fit(np.array([[2, 3, 4]]), np.array([1.0]), verbose=0)  # gives Adam state to leave behind
    end_to_end = model.with_vectorizer(vectorizer, classifier)
    texts = ["A great<br />film", "boring, dull!", "zzz unknown words"]
    before = predict.predict(end_to_end, texts)
    np.testing.assert_array_equal(before, predict.predict(model.with_vectorizer(vectorizer, classifier), texts))
    publish(tmp_path, {"config.json": "{}"}, model=end_to_end)
    reloaded = load_model(tmp_path)
    assert getattr(reloaded.get_layer("classifier"), "optimizer", None) is None  # inference only
    after = predict.predict(reloaded, texts)
    np.testing.assert_array_equal(before, after)
    assert before.shape == (3,) and ((before > 0) & (before < 1)).all()


# --- end to end --------------------------------------------------------------------------

@pytest.mark.slow
def test_train_then_predict_on_raw_strings(tmp_path, reviews_csv, capsys):
    out = tmp_path / "run"
    metrics = train.main(["--data", str(reviews_csv), "--out", str(out), *FAST])
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["test"]["accuracy"] == metrics["test"]["accuracy"]
    log = (out / "training_log.csv").read_text().splitlines()
    losses = [float(line.split(",")[log[0].split(",").index("loss")]) for line in log[1:]]
    assert losses[-1] < losses[0]
    assert saved["test"]["accuracy"] > saved["baselines"]["majority"]["accuracy"] + 0.2  # the cue words are learnable
    ngrams = saved["baselines"]["bag_of_ngrams"]
    assert ngrams["accuracy"] > 0.9 and ngrams["C"] in (1.0, 4.0, 16.0, 64.0)  # cue words: easy for n-grams too
    branch = saved["baselines"]["ngram_branch"]  # the model's own n-gram branch alone, on the same test reviews
    assert branch["C"] in train.NGRAM_C_GRID and branch["accuracy"] > 0.9
    assert 0.0 <= saved["baselines"]["recurrent_branch"]["accuracy"] <= 1.0  # the network alone, reported too
    assert len(saved["blend"]["weights"]) == 2 and "validation_accuracy_cv" in saved["blend"]
    assert branch["cross_fit"]["folds"] == 5  # the n-gram weights the network read in training were held out
    reader = load_model(out).get_layer("classifier").get_layer("ngram_weights")  # their mean, saved for new reviews
    assert max(float(np.abs(keras_numpy(weights)).max()) for weights in reader.weights) > 0
    assert saved["sizes"] == {"train": 288, "validation": 32, "test": 80}
    for name in ("config.json", "model.keras", "curves.png"):
        assert (out / name).is_file()
    assert json.loads((out / "config.json").read_text())["recipe"] == RECIPE

    capsys.readouterr()
    probabilities = cli.main(["predict", "--model", str(out), "a great superb film", "awful and boring"])
    assert probabilities[0] > 0.5 > probabilities[1]
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split()[1] == "positive" and printed[1].split()[1] == "negative"
    reviews_file = write(tmp_path / "mine.txt", "a great superb film\n\nawful and boring\n")
    np.testing.assert_array_equal(cli.main(["predict", "--model", str(out), "--file", str(reviews_file)]),
                                  probabilities)
    captured = capsys.readouterr()  # one output line per input line, the blank one empty and named
    assert captured.out.split("\n")[:3] == [printed[0], "", printed[1]] and "line 2 is blank" in captured.err


@pytest.mark.slow
@pytest.mark.parametrize("flag,ngram_layers", [
    ("--no-ngram-inputs", {"bag_of_ngrams"}),  # the n-gram branch, a network of word vectors only
    ("--no-ngrams", set()),  # the network alone, no blend
])
def test_without_the_ngram_weights_or_the_branch_the_recipe_still_trains_and_predicts(tmp_path, reviews_csv, flag,
                                                                                      ngram_layers):
    out = tmp_path / "run"
    metrics = train.main(["--data", str(reviews_csv), "--out", str(out), *FAST, flag])
    classifier = load_model(out).get_layer("classifier")
    assert {layer.name for layer in classifier.layers} & {"bag_of_ngrams", "ngram_weights"} == ngram_layers
    assert ("ngram_branch" in metrics["baselines"]) == bool(ngram_layers)
    assert "cross_fit" not in metrics["baselines"].get("ngram_branch", {})  # nothing read, nothing cross-fitted
    assert metrics["test"]["accuracy"] > metrics["baselines"]["majority"]["accuracy"] + 0.1
    probabilities = predict.predict(load_model(out), ["a great superb film", "awful and boring"])
    assert probabilities[0] > 0.5 > probabilities[1]


@pytest.mark.slow
def test_a_failed_run_never_replaces_a_good_model(tmp_path, reviews_csv, capsys, monkeypatch):
    out = tmp_path / "run"
    train.main(["--data", str(reviews_csv), "--out", str(out), *FAST])
    good = {name: (out / name).read_bytes() for name in ("model.keras", "config.json", "metrics.json",
                                                         "training_log.csv", "checkpoints/best.weights.h5")}

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    from .. import model

    monkeypatch.setattr(model, "with_vectorizer", killed)  # dies after training, before saving
    code, err = run_cli(["--data", str(reviews_csv), "--out", str(out), *FAST, "--units", "5"], capsys)
    assert code == 130 and "interrupted" in err
    assert {name: (out / name).read_bytes() for name in good} == good
    assert not list(out.glob(".*partial*"))


@pytest.mark.parametrize("argv,message", [
    (["--epochs", "0"], "--epochs must be in [1, inf), got 0"),
    (["--batch-size", "-3"], "--batch-size must be in [1, inf)"),
    (["--cell", "lstmx"], "invalid choice"),
    (["--data", "{tmp}/nowhere.csv", "--out", "{tmp}/out"], "no such file or folder"),
    (["--data", "{tmp}", "--out", "{tmp}/out"], "expected a CSV file"),
    (["predict", "--model", "{tmp}", "nice"], "not a model directory"),
    (["predict", "--model", "{tmp}/nowhere", "nice"], "no such model directory"),
    (["predict", "--model", "{tmp}"], "no reviews"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    code, err = run_cli([a.format(tmp=tmp_path) for a in argv], capsys)
    assert code == 2 and message in err
    assert err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()  # a refused run writes nothing


def test_predict_refuses_a_model_of_another_recipe(tmp_path, capsys):
    write(tmp_path / "config.json", json.dumps({"recipe": "forecast", "config": {}}))
    write(tmp_path / "model.keras", b"")
    code, err = run_cli(["predict", "--model", str(tmp_path), "nice"], capsys)
    assert code == 2 and f"model of recipe 'forecast', not '{RECIPE}'" in err


def test_predict_refuses_empty_reviews(tmp_path, capsys):
    code, err = run_cli(["predict", "--model", str(tmp_path), "fine", "  "], capsys)
    assert code == 2 and "review 2 is empty" in err


@pytest.mark.real_data
@pytest.mark.slow
def test_smoke_run_on_real_reviews_beats_the_majority_baseline(real_data, tmp_path, monkeypatch):
    monkeypatch.setenv("RECIPES_DATA_DIR", str(real_data))
    metrics = train.main(["--out", str(tmp_path), "--smoke", "--units", "16", "--layers", "1", "--lr", "0.01"])
    assert metrics["sizes"]["train"] + metrics["sizes"]["validation"] == 1000
    assert metrics["baselines"]["majority"]["accuracy"] == 0.5
    assert metrics["test"]["accuracy"] > metrics["baselines"]["majority"]["accuracy"] + 0.05
    assert metrics["baselines"]["bag_of_ngrams"]["accuracy"] > 0.7  # 900 reviews: the n-grams already learn
    assert metrics["test"]["auc"] > 0.6


@pytest.mark.slow
def test_validate_scores_validation_only_with_the_model_users_would_get(tmp_path, reviews_csv, monkeypatch):
    import warnings

    from .. import baseline
    from shared import training

    def never(*args, **kwargs):
        pytest.fail("validate scored the test split")

    monkeypatch.setattr(training, "evaluate", never)
    monkeypatch.setattr(baseline, "scores", never)
    out = tmp_path / "v"
    with warnings.catch_warnings(record=True) as caught:  # what the command would print on stderr
        warnings.simplefilter("always")
        result = cli.main(["validate", "--data", str(reviews_csv), "--out", str(out), *FAST, "--ngram-c", "0"])
    assert not [str(w.message) for w in caught if "ran out of data" in str(w.message)]
    # It publishes no model: no checkpoint, no logs waiting for one (unfinished/), no backup.
    assert sorted(path.name for path in out.iterdir()) == ["validation.json"]
    saved = json.loads((out / "validation.json").read_text())
    assert [row["epoch"] for row in saved["epochs"]] == list(range(saved["epochs_run"]))  # the training log's rows
    assert saved["accuracy"] == result["accuracy"]
    assert set(saved["accuracy"]) == {"probability", "ngram_branch", "recurrent_branch"}
    # The network trained is the classifier's recurrent branch, with the best epoch's weights.
    assert saved["accuracy"]["recurrent_branch"] == pytest.approx(saved["validation"]["accuracy"], abs=1e-6)
    assert 0.0 <= saved["blend"]["validation_accuracy_cv"] <= 1.0 and len(saved["blend"]["weights"]) == 2
    by_c = saved["ngram_branch"]["validation_accuracy_by_C"]  # --ngram-c 0: C chosen on validation
    assert len(by_c) == len(train.NGRAM_C_GRID) and by_c[str(saved["ngram_branch"]["C"])] == max(by_c.values())
    assert not (out / "model.keras").exists() and not (out / "metrics.json").exists()


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_classifier_builds_for_every_cell_direction_and_pooling(cell, bidirectional, pooling):
    config = train.Config(cell=cell, bidirectional=bidirectional, pooling=pooling, units=3, layers=2,
                          embedding_dim=4)
    classifier = model.build_classifier(config, vocab_size=20)
    probabilities = classifier.predict(np.array([[3, 4, 5, 0], [6, 0, 0, 0]]), verbose=0)
    assert probabilities.shape == (2, 1) and ((probabilities > 0) & (probabilities < 1)).all()


def test_the_bag_of_ngrams_chooses_c_on_validation_from_training_text_only(reviews_csv):
    from .. import baseline

    reviews = data.read_csv(reviews_csv)
    train_part, val_part = data.stratified_split(reviews, 0.2, 0)
    vectorizer, classifier, facts = baseline.bag_of_ngrams(train_part, val_part)
    by_c = facts["validation_accuracy_by_C"]
    assert by_c[str(facts["C"])] == max(by_c.values()) and len(by_c) == len(baseline.C_GRID)
    analyse = vectorizer.build_analyzer()
    assert set(vectorizer.vocabulary_) <= {gram for text in train_part.texts for gram in analyse(text)}
    scored = baseline.scores(vectorizer, classifier, val_part)
    assert scored["accuracy"] == pytest.approx(by_c[str(facts["C"])]) and 0.5 < scored["auc"] <= 1.0


@pytest.mark.slow
def test_mixed_precision_trains_saves_reloads_and_predicts(tmp_path, reviews_csv):
    out = tmp_path / "run"
    try:
        train.main(["--data", str(reviews_csv), "--out", str(out), *FAST, "--mixed-precision"])
        texts = ["a great superb film", "awful and boring"]
        probabilities = cli.main(["predict", "--model", str(out), *texts])
        assert probabilities.dtype == np.float32 and probabilities[0] > 0.5 > probabilities[1]
        np.testing.assert_array_equal(predict.predict(load_model(out), texts), probabilities)
    finally:
        import keras
        keras.config.set_dtype_policy("float32")


@pytest.mark.slow
def test_recipe_contract(tmp_path, reviews_csv):
    from shared.testing import check_recipe

    check_recipe(train.main, tmp_path / "run", ["--data", str(reviews_csv), *FAST[1:]],
                 infer=lambda out: cli.main(["predict", "--model", str(out), "a great superb film", "awful"]))


def test_a_review_with_no_word_left_gets_a_probability_not_nan(tmp_path, reviews_csv):
    config = train.Config(units=4, layers=1, embedding_dim=4)
    reviews = data.read_csv(reviews_csv)
    vectorizer = data.make_vectorizer(reviews.texts, 50, 20)
    classifier = model.build_classifier(config, vectorizer.vocabulary_size())
    end_to_end = model.with_vectorizer(vectorizer, classifier)
    publish(tmp_path, {"config.json": "{}"}, model=end_to_end)
    texts = ["!!!", "\u200b", "\U0001F600\U0001F600", ""]  # nothing survives standardising
    for scored in (predict.predict(end_to_end, texts), predict.predict(load_model(tmp_path), texts)):
        assert np.isfinite(scored).all() and len(set(scored.tolist())) == 1  # all scored as the empty review


@pytest.mark.parametrize("rows,found", [
    ([("nice film", "positive"), ("great", "positive"), ("lovely", "positive")] * 10, "0 negative"),  # one class
    ([("nice film", "positive"), ("awful", "negative"), ("great", "positive")], "split has 0 positive and 0"),
])
def test_a_csv_without_both_classes_in_every_split_is_one_line_and_leaves_nothing(tmp_path, capsys, rows, found):
    path = tmp_path / "few.csv"
    path.write_text("review,sentiment\n" + "".join(f"{text},{label}\n" for text, label in rows), encoding="utf-8")
    for extra in (["--smoke"], []):
        code, err = run_cli(["--data", str(path), "--out", str(tmp_path / "out"), *extra], capsys)
        assert code == 2 and found in err and "both classes" in err and err.count("\n") == 1
        assert not (tmp_path / "out").exists()


def test_the_bag_hashes_n_grams_as_the_naive_bayes_counts_do():
    from keras import ops

    tokens = np.array([[5, 9, 5, 9, 0, 0], [70000, 3, 3, 2, 7, 0]], "int32")  # (batch, time), 0 = padding
    in_layer = model.gram_ids(ops.convert_to_tensor(tokens), 3, 2 ** 20, ops)
    in_numpy = model.gram_ids(tokens, 3, 2 ** 20, np)
    for (ids, real), (np_ids, np_real) in zip(in_layer, in_numpy):
        np.testing.assert_array_equal(ops.convert_to_numpy(ids), np_ids)
        np.testing.assert_array_equal(ops.convert_to_numpy(real), np_real)
    (words, _), (pairs, pairs_real), (_, triples_real) = in_numpy
    np.testing.assert_array_equal(words, tokens)
    assert pairs[0, 1] == pairs[0, 3] != pairs[0, 2]  # "5 9" twice, "9 5" between
    assert pairs_real[0].tolist() == [False, True, True, True, False, False]  # none at the start or on padding
    assert triples_real[0].tolist() == [False, False, True, True, False, False]
    assert (pairs >= 0).all() and (pairs < 2 ** 20).all()


def test_naive_bayes_ratios_favour_the_class_an_n_gram_comes_with():
    from .. import ngrams

    tokens = np.array([[4, 5, 4], [4, 6, 0]])  # word 5 only in the positive review, 6 only in the negative
    matrix = ngrams.gram_matrix(tokens, 2, 64, 8)
    ratios = ngrams.naive_bayes_ratios(matrix, np.array([1, 0]))
    words, pairs = ratios[:8], ratios[8:]
    assert words[5] > 0 > words[6]
    assert abs(words[4]) < min(words[5], -words[6])  # in both reviews: a weak cue
    assert pairs.shape == (64,)
    positive_pair = model.gram_ids(tokens[:1].astype("int32"), 2, 64, np)[1][0][0, 1]  # "4 5"
    assert pairs[positive_pair] > 0


def test_the_gram_matrix_counts_each_n_gram_over_the_square_root_of_the_length():
    from .. import ngrams

    tokens = np.array([[5, 9, 5, 9, 0], [7, 0, 0, 0, 0]])
    matrix = ngrams.gram_matrix(tokens, 2, 16, 10).toarray()  # (2, 10 words + 16 pair buckets)
    assert matrix[0, 5] == pytest.approx(2 / 2) and matrix[0, 9] == pytest.approx(2 / 2)  # twice, length 4
    assert matrix[1, 7] == pytest.approx(1.0) and matrix[1].sum() == pytest.approx(1.0)  # no pair in one word
    pair_59 = model.gram_ids(tokens[:1].astype("int32"), 2, 16, np)[1][0][0, 1]
    assert matrix[0, 10 + pair_59] == pytest.approx(2 / 2)  # "5 9" twice
    assert matrix[0, 10:].sum() == pytest.approx(3 / 2)  # three pairs in all


def test_the_bag_layer_gives_the_fitted_regressions_logit():
    from .. import ngrams

    rng = np.random.default_rng(0)
    tokens = rng.integers(1, 40, size=(60, 12))
    tokens[:, 8:] *= rng.random((60, 4)) < 0.5  # some padding ...
    tokens = np.array([np.concatenate([row[row > 0], row[row == 0]]) for row in tokens])  # ... on the right
    labels = (np.isin(tokens, [3, 4, 5]).sum(axis=1) > 1).astype(int)
    matrix = ngrams.gram_matrix(tokens, 3, 256, 40)
    weights, bias = ngrams.fit(matrix, labels, c=4.0)
    bag = model.BagOfNgrams(40, 256, order=3)
    bag.build((None, None))
    bag.set_regression(weights, bias)
    in_layer = keras_numpy(bag(tokens))[:, 0]
    np.testing.assert_allclose(in_layer, ngrams.logits(matrix, weights, bias), rtol=1e-5, atol=1e-5)
    assert np.mean((in_layer > 0) == labels) > 0.9  # the regression learned the cue words


def test_the_ngram_weights_layer_gives_each_step_what_the_pipeline_computes():
    from .. import ngrams

    rng = np.random.default_rng(0)
    tokens = np.zeros((5, 9), dtype="int64")
    for row, length in enumerate((9, 4, 1, 6, 0)):  # right-padded, one review with no word at all
        tokens[row, :length] = rng.integers(1, 40, size=length)
    weights = rng.normal(size=40 + 2 * 256).astype("float32")  # words, then 2- and 3-grams
    layer = model.NgramWeights(40, 256, order=3)
    layer.build((None, None))
    layer.set_ngram_weights(weights)
    steps = keras_numpy(layer(tokens))  # (reviews, time, order)
    np.testing.assert_allclose(steps, ngrams.step_weights(tokens, weights, 3, 256, 40), rtol=1e-6)
    assert steps.shape == (5, 9, 3)
    np.testing.assert_array_equal(steps[:, :, 0] != 0, tokens > 0)  # a word's weight wherever a word is
    assert not steps[1, 4:].any() and not steps[1, :1, 1:].any()  # nothing from padding, no pair before the first word
    np.testing.assert_allclose(steps[0, 3, 0], weights[tokens[0, 3]])
    # A matrix row of the regression's features sums to the same logit as the steps (the bag pools them).
    matrix = ngrams.gram_matrix(tokens, 3, 256, 40)
    length = np.sqrt(np.maximum((tokens > 0).sum(axis=1), 1))
    np.testing.assert_allclose(steps.sum(axis=(1, 2)) / length, ngrams.logits(matrix, weights, 0.0), rtol=1e-5,
                               atol=1e-6)


def test_in_training_each_review_reads_weights_fitted_without_it():
    from .. import ngrams

    # Labels the words cannot predict: a regression fitted on all reviews still gets its own reviews right
    # (it memorises them), the cross-fitted weights a review reads in training are at chance on it.
    rng = np.random.default_rng(0)
    tokens = rng.integers(1, 400, size=(300, 30))
    labels = rng.integers(0, 2, size=300)
    matrix = ngrams.gram_matrix(tokens, 2, 4096, 400)
    full, bias = ngrams.fit(matrix, labels, c=16.0)
    fold_of, fold_weights = ngrams.cross_fit(matrix, labels, 16.0, seed=0)
    assert fold_weights.shape == (ngrams.CROSS_FOLDS, matrix.shape[1])
    assert np.bincount(fold_of).tolist() == [60] * 5  # every review held out once, the folds even
    in_sample = np.mean((ngrams.logits(matrix, full, bias) > 0) == labels)
    steps = ngrams.step_weights(tokens, fold_weights, 2, 4096, 400, fold_of=fold_of)
    held_out = np.mean((steps.sum(axis=(1, 2)) > 0) == labels)
    assert in_sample > 0.95 and abs(held_out - 0.5) < 0.1, (in_sample, held_out)
    for k in range(5):  # row r reads regression fold_of[r]'s weights
        rows = fold_of == k
        np.testing.assert_allclose(steps[rows], ngrams.step_weights(tokens[rows], fold_weights[k], 2, 4096, 400))
    # One review of a class (a small CSV): no folds, one regression, no crash.
    few_fold_of, few_weights = ngrams.cross_fit(matrix[:4], np.array([1, 0, 0, 0]), 16.0, seed=0)
    assert len(few_weights) == 1 and not few_fold_of.any()


def test_a_reviews_probability_does_not_depend_on_its_batchs_padding():
    # The network reads word vectors and n-gram weights side by side; the padding after a review must stay
    # masked (keras's Concatenate in WordsAndWeights's place let the network read it as words).
    config = train.Config(units=3, layers=1, embedding_dim=4, ngram_order=2, ngram_buckets=64)
    classifier = model.build_classifier(config, 30)
    rng = np.random.default_rng(2)
    classifier.get_layer("ngram_weights").set_ngram_weights(rng.normal(size=30 + 64).astype("float32") * 3)
    tokens = rng.integers(1, 30, size=(4, 7))
    alone = classifier.predict(tokens, verbose=0)
    padded = classifier.predict(np.pad(tokens, [[0, 0], [0, 25]]), verbose=0)
    np.testing.assert_allclose(alone, padded, rtol=1e-5, atol=1e-6)
    # ... and the n-gram weights it reads change what it says.
    classifier.get_layer("ngram_weights").set_ngram_weights(np.zeros(30 + 64, "float32"))
    assert np.abs(classifier.predict(tokens, verbose=0) - alone).max() > 1e-3


def test_with_ngram_weights_batches_carry_each_reviews_steps_beside_its_tokens(reviews_csv):
    reviews = data.read_csv(reviews_csv)
    vectorizer = data.make_vectorizer(reviews.texts, 200, 40)
    ids = data.token_ids(vectorizer, list(reviews.texts))
    padded = ids.to_tensor().numpy()
    steps = np.stack([padded * 10.0, -padded], axis=-1).astype("float32")  # (reviews, time, 2): readable per step
    batches = data.token_batches(vectorizer, reviews, 8, 40, shuffle_seed=0, ids=ids, ngram_weights=steps)
    seen = 0
    for (tokens, weights), labels in batches:
        tokens, weights = tokens.numpy(), weights.numpy()
        assert weights.shape == tokens.shape + (2,) and len(labels) == len(tokens)
        np.testing.assert_array_equal(weights[..., 0], tokens * 10.0)  # each review's own steps, padding 0
        np.testing.assert_array_equal(weights[..., 1], -tokens)
        seen += len(tokens)
    assert seen == len(reviews)


def test_the_blend_weighs_the_branch_that_knows_and_reports_cross_validated_accuracy():
    rng = np.random.default_rng(0)
    labels = np.arange(400) % 2
    knows = (2 * labels - 1) * 2.0 + rng.normal(size=400)  # a logit that is right 98% of the time
    noise = rng.normal(size=400) * 3.0  # a logit that knows nothing
    blend = train.fit_blend(np.stack([noise, knows], axis=1), labels, seed=0)
    assert blend["weights"][1] > 0.5 and abs(blend["weights"][0]) < 0.1 * blend["weights"][1]
    assert blend["validation_accuracy_cv"] > 0.95
    # On logits that know nothing, the in-sample fit finds chance patterns; the cross-validated figure does not.
    chance = train.fit_blend(rng.normal(size=(60, 2)), labels[:60], seed=0)
    assert chance["validation_accuracy_cv"] < 0.65
    few = train.fit_blend(np.array([[1.0, 2.0], [-1.0, -2.0], [0.5, 1.0]]), np.array([1, 0, 1]), seed=0)
    assert set(few) == {"weights", "bias", "validation_accuracy_cv"}  # one review of a class: no folds, no crash


def test_the_classifier_blends_the_branch_logits_by_the_fitted_weights():
    from keras import ops

    from .. import ngrams

    config = train.Config(units=3, layers=1, embedding_dim=4, ngram_order=2, ngram_buckets=64)
    rng = np.random.default_rng(1)
    tokens = rng.integers(1, 30, size=(40, 7))
    labels = np.isin(tokens, (3, 4, 5)).any(axis=1).astype(int)
    classifier = model.build_classifier(config, 30)
    weights, bias = ngrams.fit(ngrams.gram_matrix(tokens, 2, 64, 30), labels, 1.0)
    classifier.get_layer("bag_of_ngrams").set_regression(weights, bias)
    classifier.get_layer("ngram_weights").set_ngram_weights(weights)  # what the recurrent branch reads
    model.set_blend(classifier, [0.7, 1.3], -0.2)
    recurrent = keras_numpy(model.recurrent_branch(classifier, ops.convert_to_tensor(tokens)))[:, 0]  # and its n-gram weights
    bag = keras_numpy(classifier.get_layer("bag_of_ngrams")(ops.convert_to_tensor(tokens)))[:, 0]
    probability = classifier.predict(tokens, verbose=0)[:, 0]
    expected = keras_numpy(ops.sigmoid(0.7 * recurrent + 1.3 * bag - 0.2))
    np.testing.assert_allclose(probability, expected, rtol=1e-5, atol=1e-6)
    assert not classifier.get_layer("blend").trainable_weights  # fitted, not trained


def keras_numpy(tensor):
    from keras import ops

    return ops.convert_to_numpy(tensor)


@pytest.mark.slow
def test_under_jax_the_recipe_trains_saves_and_predicts_raw_strings(tmp_path, reviews_csv):
    import os
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("jax", reason="JAX is not installed (pip install -e '.[dev]' installs it)")
    root = Path(__file__).resolve().parents[len(PACKAGE.split(".")) + 1]  # the repository: above recipes/
    out, texts = tmp_path / "run", ["a great superb film", "awful and boring", "zzz"]
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(root)}
    script = ("import sys, json\n"
              f"from {PACKAGE} import __main__ as cli\n"
              "metrics = cli.main(sys.argv[1:])\n"
              f"first = cli.main(['predict', '--model', {str(out)!r}, *{texts!r}])\n"
              f"again = cli.main(['predict', '--model', {str(out)!r}, *{texts!r}])\n"
              "import keras\n"
              "print(json.dumps({'backend': keras.config.backend(), 'accuracy': metrics['test']['accuracy'],\n"
              "                  'first': first.tolist(), 'again': again.tolist()}))\n")
    process = subprocess.run([sys.executable, "-c", script, "--data", str(reviews_csv), "--out", str(out), *FAST],
                             env=env, capture_output=True, text=True, timeout=600, check=False)
    assert process.returncode == 0, (process.stdout + process.stderr)[-3000:]
    result = json.loads(process.stdout.strip().splitlines()[-1])
    assert result["backend"] == "jax" and result["accuracy"] > 0.7
    assert result["first"] == result["again"]  # reloaded: identical
    # The same saved model under TensorFlow, strings inside the model: the same probabilities.
    np.testing.assert_allclose(predict.predict(load_model(out), texts), result["first"], atol=1e-5)


# A review of which the model knows no word: another script (the standardising keeps ASCII words only), made-up
# words, emoji only, NUL bytes, punctuation only.
UNKNOWN_LINES = "a great superb film\n素晴らしい映画でした\nxyzzy plugh\n\U0001F600 \U0001F600\n\x00\x00\n!!!\n\nboring dull film\n"


def test_a_review_of_no_known_word_is_named_and_control_characters_are_never_echoed(tmp_path, reviews_csv, capsys):
    from shared.config import to_json

    config = train.Config(units=4, layers=1, embedding_dim=4, ngram_buckets=64)
    vectorizer = data.make_vectorizer(data.read_csv(reviews_csv).texts, 50, 20)
    classifier = model.build_classifier(config, vectorizer.vocabulary_size())
    publish(tmp_path / "run", {"config.json": to_json(config, RECIPE)}, model=model.with_vectorizer(vectorizer, classifier))
    reviews = write(tmp_path / "mine.txt", UNKNOWN_LINES)
    cli.main(["predict", "--model", str(tmp_path / "run"), "--file", str(reviews), "awful\tand\x1b[31m boring"])
    captured = capsys.readouterr()
    assert "\x00" not in captured.out and "\x1b" not in captured.out  # escaped, never echoed
    rows = captured.out.split("\n")
    assert len(rows) == 1 + 8 + 1 and rows[-1] == "" and rows[7] == ""  # one line per argument and per line in
    columns = [row.split(None, 3) for row in rows[:-1] if row]
    assert [known for _, _, known, _ in columns] == ["3/4", "4/4", "0/0", "0/2", "0/0", "0/0", "0/0", "3/3"]
    assert columns[0][3] == "awful\\tand\\x1b[31m boring" and columns[5][3] == "\\x00\\x00"
    left = ("no word of it is left after the model's text standardising (another script, emoji, symbols or control "
            "characters only): its score is the model's score of an empty text, not a reading of it")
    assert captured.err.strip().split("\n") == [
        f"note: {reviews}: line 2: {left}",
        f"note: {reviews}: line 3: no word of it is in the model's vocabulary (2 read; another language or "
        "script?): its score is the model's answer to unknown words, not a reading of the text",
        *[f"note: {reviews}: line {number}: {left}" for number in (4, 5, 6)],
        f"note: {reviews}: line 7 is blank; its output line is empty"]
