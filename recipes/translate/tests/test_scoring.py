"""BLEU and chrF against all the references of each distinct source, with the single-reference figures beside."""
import pytest
import sacrebleu

from .. import data, scoring

# The first source appears twice (differently written, the same normalised text), with two English references.
TEST = data.Pairs(["Where is the cat?", "Where's the cat?", "The dog sleeps."],
                  ["¿Dónde está el gato?", "¿dónde está el gato? ", "El perro duerme."])
OUTPUT = ["Where's the cat?", "Where's the cat?", "The dog is sleeping."]  # one per pair, as the model gives


def test_a_repeated_source_is_scored_once_against_both_its_references():
    hypotheses, streams = scoring.grouped(TEST.spanish, OUTPUT, TEST.english)
    assert hypotheses == ["Where's the cat?", "The dog is sleeping."]
    assert streams == [["Where is the cat?", "The dog sleeps."], ["Where's the cat?", None]]
    scores = scoring.corpus_scores(OUTPUT, TEST)
    assert scores["sources"] == 2
    assert scores["bleu"] == sacrebleu.corpus_bleu(hypotheses, streams).score
    assert scores["chrf"] == sacrebleu.corpus_chrf(hypotheses, streams).score
    # The single-reference figures score every pair once against its own reference, as runs before did.
    assert scores["bleu_single_reference"] == sacrebleu.corpus_bleu(OUTPUT, [TEST.english]).score
    assert scores["chrf_single_reference"] == sacrebleu.corpus_chrf(OUTPUT, [TEST.english]).score
    # Both references count: with the first reference alone the cat sentence is not a match ...
    first_only = sacrebleu.corpus_bleu(hypotheses, streams[:1]).score
    assert scores["bleu"] > first_only and scores["bleu"] > scores["bleu_single_reference"]
    # ... and the source counts once: scoring its output twice against both references gives another figure.
    twice = sacrebleu.corpus_bleu(OUTPUT, [TEST.english, ["Where's the cat?", "Where is the cat?", None]]).score
    assert scores["bleu"] != pytest.approx(twice)


def test_a_perfect_output_for_either_reference_scores_100_and_lowercasing_applies_to_both():
    shouting = ["WHERE IS THE CAT?", "WHERE IS THE CAT?", "THE DOG SLEEPS."]
    assert scoring.corpus_scores(["Where's the cat?"] * 2 + ["The dog sleeps."], TEST)["bleu"] == pytest.approx(100)
    scores = scoring.corpus_scores(shouting, TEST)
    assert scores["bleu_lowercase"] == pytest.approx(100) and scores["bleu"] < 100


def test_the_report_names_the_reference_counts_and_sacrebleus_signatures():
    facts = scoring.references(TEST)
    assert (facts["pairs"], facts["sources"], facts["pairs_sharing_a_source"], facts["most_references"]) == (3, 2, 2, 2)
    signatures = facts["signatures"]
    assert signatures["bleu"].startswith("nrefs:var|case:mixed|") and "|tok:13a|" in signatures["bleu"]
    assert signatures["bleu_single_reference"].startswith("nrefs:1|case:mixed|")
    assert signatures["bleu_lowercase"].startswith("nrefs:var|case:lc|")
    assert signatures["chrf"].startswith("nrefs:var|") and f"version:{sacrebleu.__version__}" in signatures["chrf"]


def test_length_buckets_count_pairs_and_distinct_sources():
    buckets = scoring.by_length(OUTPUT, TEST)
    assert buckets["1-5"] == {"sentences": 3, "sources": 2, "bleu": scoring.corpus_scores(OUTPUT, TEST)["bleu"],
                              "bleu_single_reference": scoring.corpus_scores(OUTPUT, TEST)["bleu_single_reference"]}
    assert buckets["11+"] == {"sentences": 0, "sources": 0, "bleu": None, "bleu_single_reference": None}


def test_the_paired_bootstrap_resamples_sources_together_for_both_systems():
    # 40 distinct sources; A equals B except that A gets one sentence right that B gets wrong, same length.
    english = [f"The number {i} is here." for i in range(40)]
    pairs = data.Pairs(english, [f"El número {i} está aquí." for i in range(40)])
    worse = [f"The number {i} is there." for i in range(40)]
    better = [english[0]] + worse[1:]
    paired = scoring.paired_bootstrap(better, worse, pairs, samples=300)
    assert paired["sources"] == 40
    assert paired["difference"] == pytest.approx(
        scoring.corpus_scores(better, pairs)["bleu"] - scoring.corpus_scores(worse, pairs)["bleu"]) and paired[
        "difference"] > 0
    # Paired: a resample without sentence 0 scores both alike, one with it favours A, none favours B. Resampling
    # each system on its own would put much of the interval below 0.
    low, high = paired["interval"]
    assert low == 0 < high and 0.5 < paired["a_better"] < 1
    swapped = scoring.paired_bootstrap(worse, better, pairs, samples=300)
    assert swapped["difference"] == pytest.approx(-paired["difference"])
    assert swapped["interval"] == pytest.approx([-high, -low]) and swapped["a_better"] == 0
    same = scoring.paired_bootstrap(worse, worse, pairs, metric="chrf", samples=50)
    assert (same["difference"], same["interval"], same["a_better"]) == (0, [0, 0], 0)


def test_the_paired_bootstrap_scores_a_repeated_source_once_against_all_its_references():
    other = ["Where is the cat?", "Where is the cat?", "The dog sleeps."]
    paired = scoring.paired_bootstrap(OUTPUT, other, TEST, samples=20)
    assert paired["sources"] == 2
    assert paired["difference"] == pytest.approx(scoring.corpus_scores(OUTPUT, TEST)["bleu"]
                                                 - scoring.corpus_scores(other, TEST)["bleu"])
