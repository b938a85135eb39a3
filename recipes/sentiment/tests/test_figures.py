"""The figures a run reports: paired tests beside every comparison, every review scored, the blend held out."""
import json

import numpy as np
import pytest

from shared.artifacts import load_model
from shared.testing import synthetic_texts, write_csv

from .. import data, model, paired, predict, scoring, train
from .test_sentiment import FAST

EMPTY = ["!!!", "\U0001F600\U0001F600", "...", "?!", "\U0001F494 !!", "***"]  # no token after standardising


def agreeing(only_model, only_other, both_right, both_wrong):
    """(model_right, other_right): per-review correctness with the given counts of each kind."""
    kinds = [(True, False)] * only_model + [(False, True)] * only_other + [(True, True)] * both_right \
        + [(False, False)] * both_wrong
    return np.array([k[0] for k in kinds]), np.array([k[1] for k in kinds])


def test_mcnemar_is_the_exact_binomial_test_of_the_discordant_reviews():
    # 8 reviews only the model gets right, 2 only the other: p = 2 * P(X <= 2), X ~ B(10, 1/2) = 2 * 56 / 1024.
    model_right, other_right = agreeing(8, 2, 5, 5)
    assert paired.mcnemar(model_right, other_right) == (8, 2, pytest.approx(112 / 1024))
    assert paired.mcnemar(*agreeing(3, 0, 10, 0)) == (3, 0, pytest.approx(0.25))  # 2 * 1/8
    assert paired.mcnemar(*agreeing(0, 10, 3, 1)) == (0, 10, pytest.approx(2 / 1024))
    assert paired.mcnemar(*agreeing(0, 0, 7, 3)) == (0, 0, 1.0)  # never disagreeing: level
    entry = paired.compare(model_right, other_right, seed=0)
    assert entry["accuracy_difference"] == pytest.approx(13 / 20 - 7 / 20)  # (8 - 2) / 20
    assert (entry["only_model_right"], entry["only_baseline_right"], entry["reviews"]) == (8, 2, 20)
    assert paired.verdict(entry, "the branch") == "level"  # p = 0.109 >= 0.05, though 6 reviews apart
    assert paired.verdict(paired.compare(*agreeing(10, 0, 5, 5)), "the branch") == "the model ahead"
    assert paired.verdict(paired.compare(*agreeing(0, 10, 5, 5)), "the branch") == "the branch ahead"


def test_the_paired_bootstrap_interval_matches_hand_computed_values():
    assert paired.bootstrap_interval(*agreeing(20, 0, 0, 0)) == [1.0, 1.0]  # every review +1: no spread
    assert paired.bootstrap_interval(*agreeing(0, 0, 15, 5)) == [0.0, 0.0]
    # 1,000 reviews, 60 only the model right, 30 only the other: difference 0.03, and a review's difference
    # has variance 0.09 - 0.03 ** 2, so the interval is about 0.03 +- 1.96 * sqrt(0.0891 / 1000) = [0.0115, 0.0485].
    model_right, other_right = agreeing(60, 30, 710, 200)
    low, high = paired.bootstrap_interval(model_right, other_right, seed=0)
    assert low == pytest.approx(0.0115, abs=0.002) and high == pytest.approx(0.0485, abs=0.002)
    assert paired.bootstrap_interval(model_right, other_right, seed=0) == [low, high]  # seeded
    assert paired.compare(model_right, other_right, seed=0)["interval_95"] == [low, high]


def test_the_blends_accuracy_is_held_out_not_in_sample():
    # A positive review (index 9) among the negatives' logits, told apart only by a second logit no other
    # review has. Fitted on all 20, the blend uses that logit and gets it right (in-sample 20/20); held out,
    # its fold's blend never saw the second logit used and calls it negative: cross-validated 19/20.
    recurrent = np.concatenate([np.linspace(2, 3, 9), [-1.0], -np.linspace(2, 3, 10)])
    ngram = np.zeros(20)
    ngram[9] = 10.0
    logits, labels = np.stack([recurrent, ngram], axis=1), np.repeat([1, 0], 10)
    for seed in (0, 1):
        blend = train.fit_blend(logits, labels, seed=seed)
        in_sample = np.mean(((logits @ np.array(blend["weights"]) + blend["bias"]) > 0) == labels)
        assert in_sample == 1.0 and blend["validation_accuracy_cv"] == 19 / 20


def test_scoring_keeps_every_review_in_order_and_scores_an_empty_one_as_predict_does(reviews_csv):
    config = train.Config(units=4, layers=1, embedding_dim=4, ngram_buckets=64)
    reviews = data.read_csv(reviews_csv)
    vectorizer = data.make_vectorizer(reviews.texts, 50, 20)
    classifier = model.build_classifier(config, vectorizer.vocabulary_size())
    rng = np.random.default_rng(0)
    classifier.get_layer("bag_of_ngrams").set_regression(rng.normal(size=50 + 64).astype("float32"), 0.3)
    texts = [*reviews.texts[:9], *EMPTY[:2], *reviews.texts[9:14], EMPTY[2]]  # empty ones among the others
    part = data.Reviews(texts, np.arange(len(texts)) % 2)
    scored = scoring.score_reviews(model.with_branches(classifier), vectorizer, part, batch_size=4)
    assert set(scored) == {"probability", "ngram_branch", "recurrent_branch"}
    assert all(values.shape == (len(texts),) for values in scored.values())
    np.testing.assert_allclose(scored["probability"], predict.predict(model.with_vectorizer(vectorizer, classifier),
                                                                      texts), rtol=1e-5, atol=1e-6)
    figures = scoring.figures(part.labels, scored["probability"])
    assert figures["reviews"] == len(texts)
    assert figures["accuracy"] == np.mean((scored["probability"] >= 0.5) == part.labels)


@pytest.mark.slow
def test_a_run_scores_every_test_review_and_reports_paired_tests(tmp_path, capsys):
    # A test split holding reviews with no token: the model must be scored on all of them, as the baselines are.
    rows = synthetic_texts(400, seed=1)
    empty = [(text, ("negative", "positive")[i % 2]) for i, text in enumerate(EMPTY)]
    write_csv(tmp_path / "train.csv", ["review", "sentiment"], rows[:320] + empty[:2])
    test_rows = rows[320:] + empty
    write_csv(tmp_path / "test.csv", ["review", "sentiment"], test_rows)
    out = tmp_path / "run"
    train.main(["--data", str(tmp_path), "--out", str(out), *FAST])
    saved = json.loads((out / "metrics.json").read_text())
    texts, labels = [text for text, _ in test_rows], np.array([label == "positive" for _, label in test_rows])
    every_review = np.mean((predict.predict(load_model(out), texts) >= 0.5) == labels)  # 86, the empty ones too
    assert saved["test"]["accuracy"] == pytest.approx(every_review, abs=1e-9)
    assert saved["sizes"]["test"] == saved["test"]["reviews"] == len(test_rows) == 86
    printed = capsys.readouterr().out
    assert set(saved["paired"]) == {"ngram_branch", "recurrent_branch", "bag_of_ngrams"}
    for name, entry in saved["paired"].items():
        assert entry["reviews"] == 86 and 0.0 <= entry["p_value"] <= 1.0
        # The paired difference is the difference of the two reported accuracies, on the same reviews.
        assert entry["accuracy_difference"] == pytest.approx(
            saved["test"]["accuracy"] - saved["baselines"][name]["accuracy"], abs=1e-9)
        low, high = entry["interval_95"]
        assert low <= entry["accuracy_difference"] <= high
        assert paired.verdict(entry, name.replace("_", " ")) in printed


def test_the_paired_helpers_import_nothing_of_the_recipe():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(paired))
    assert not [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level > 0]
