"""BLEU and chrF on the test split: the model (greedy and beam), a copy-the-source baseline, BLEU by source length.

Corpus BLEU is sacrebleu's, on detokenized, truecased output against the raw reference
sentences (its default 13a tokenizer, case-sensitive); the case-insensitive figure is
reported beside it. chrF is sacrebleu's corpus chrF (character 6-grams, case-sensitive), which
gives partial credit for a word with the wrong ending. Source length counts the Spanish words
(punctuation not counted).

Tatoeba gives some Spanish sentences several English translations (10.4% of the default test
pairs share their source with another pair). The headline figures score each distinct source
(by its normalised text) once, against all of its references; the single-reference figures
(`*_single_reference`: every pair once, against its own English only, as in runs before this
change) stay beside them for comparison.
"""
import time

import numpy as np
from sacrebleu.metrics import BLEU, CHRF

from . import data

BUCKETS = ((1, 5), (6, 10), (11, None))  # source words


def bleu(hypotheses, references, lowercase=False):
    """sacrebleu corpus BLEU (0-100), one reference per hypothesis."""
    return BLEU(lowercase=lowercase).corpus_score(list(hypotheses), [list(references)]).score


def chrf(hypotheses, references):
    """sacrebleu corpus chrF (0-100), one reference per hypothesis."""
    return CHRF().corpus_score(list(hypotheses), [list(references)]).score


def grouped(sources, hypotheses, references):
    """(one hypothesis per distinct source, reference streams) for sacrebleu's several-reference scoring.

    Sources are compared by their normalised text; each keeps the hypothesis of its first pair and
    all of its references. Stream i holds every source's i-th reference, or None where a source has
    fewer (sacrebleu skips None; an empty string would count as an empty reference)."""
    first, hyps, refs = {}, [], []
    for source, hypothesis, reference in zip(sources, hypotheses, references):
        key = data.normalize(source)
        if key not in first:
            first[key] = len(hyps)
            hyps.append(hypothesis)
            refs.append([])
        refs[first[key]].append(reference)
    streams = [[r[i] if i < len(r) else None for r in refs] for i in range(max(map(len, refs), default=1))]
    return hyps, streams


METRICS = {"bleu": BLEU, "bleu_lowercase": lambda: BLEU(lowercase=True), "chrf": CHRF}  # name -> new metric


def corpus_scores(hypotheses, pairs):
    """{bleu, bleu_lowercase, chrf: each distinct source once against all its references; sources; and the
    same three as `*_single_reference`: each pair once against its own reference} for pairs.spanish's hypotheses."""
    hyps, streams = grouped(pairs.spanish, hypotheses, pairs.english)
    result = {"sources": len(hyps)}
    for name, metric in METRICS.items():
        result[name] = metric().corpus_score(hyps, streams).score
        result[name + "_single_reference"] = metric().corpus_score(list(hypotheses), [list(pairs.english)]).score
    return result


def paired_bootstrap(hypotheses_a, hypotheses_b, pairs, metric="bleu", samples=1000, seed=0):
    """How much better A scores than B on the same pairs: {"difference": A - B, "interval": 95% paired bootstrap
    interval of it, "a_better": share of resamples where A scores higher, "sources", "samples"}.

    Each resample draws distinct sources with replacement, the same draw for both systems, and re-scores the corpus
    from sacrebleu's per-sentence statistics (as its own paired test does), all references of a source kept."""
    hyps_a, streams = grouped(pairs.spanish, hypotheses_a, pairs.english)
    hyps_b, _ = grouped(pairs.spanish, hypotheses_b, pairs.english)
    scorer = METRICS[metric]()
    # (sources, statistics): n-gram matches and totals, lengths; summed over any resample they give its score.
    stats_a = np.array(scorer._extract_corpus_statistics(hyps_a, streams), dtype=np.float64)
    stats_b = np.array(scorer._extract_corpus_statistics(hyps_b, streams), dtype=np.float64)

    def score(stats):
        return scorer._compute_score_from_stats(list(stats)).score

    draws = np.random.default_rng(seed).integers(0, len(hyps_a), size=(samples, len(hyps_a)))
    differences = np.array([score(stats_a[d].sum(0)) - score(stats_b[d].sum(0)) for d in draws])
    low, high = np.percentile(differences, [2.5, 97.5])
    return {"metric": metric, "difference": score(stats_a.sum(0)) - score(stats_b.sum(0)),
            "interval": [float(low), float(high)], "a_better": float(np.mean(differences > 0)),
            "sources": len(hyps_a), "samples": samples}


def references(pairs):
    """How the test split's references group by source, and sacrebleu's signature of each reported figure."""
    hyps, streams = grouped(pairs.spanish, pairs.english, pairs.english)
    counts = [sum(stream[i] is not None for stream in streams) for i in range(len(hyps))]
    result = {"pairs": len(pairs), "sources": len(hyps), "pairs_sharing_a_source": sum(n for n in counts if n > 1),
              "most_references": max(counts, default=0), "signatures": {}}
    for name, metric in METRICS.items():  # a signature needs a scored corpus (it names the reference count)
        several, one = metric(), metric()
        several.corpus_score(hyps, streams)
        one.corpus_score(list(pairs.english), [list(pairs.english)])
        result["signatures"][name] = str(several.get_signature())
        result["signatures"][name + "_single_reference"] = str(one.get_signature())
    return result


def source_words(sentence):
    return sum(data.is_word(token) for token in data.tokenize(sentence))


def by_length(hypotheses, pairs):
    """{bucket name: {"sentences": pairs, "sources", "bleu" (all references), "bleu_single_reference"}}."""
    result = {}
    for low, high in BUCKETS:
        chosen = [i for i, s in enumerate(pairs.spanish) if low <= source_words(s) and (high is None or
                                                                                        source_words(s) <= high)]
        name = f"{low}-{high}" if high else f"{low}+"
        scores = corpus_scores([hypotheses[i] for i in chosen], pairs.subset(chosen)) if chosen else {}
        result[name] = {"sentences": len(chosen), "sources": scores.get("sources", 0), "bleu": scores.get("bleu"),
                        "bleu_single_reference": scores.get("bleu_single_reference")}
    return result


def baseline_scores(name, hypotheses, test, **facts):
    """A baseline's corpus BLEU (case-sensitive and lowercased) and chrF on the test split (corpus_scores)."""
    return {"name": name, **corpus_scores(hypotheses, test), **facts}


def score_test_split(translator, test, beam_size, speed_sentences=1000, samples=10):
    """The test-split figures of metrics.json; greedy and beam search both over the whole test split."""
    sources, _ = translator.prepare(test.spanish, strict=False)
    started = time.perf_counter()
    greedy = [translator.text(ids) for ids in translator.translate_ids(sources)]
    greedy_seconds = time.perf_counter() - started
    report = {"scoring": references(test),
              "test": {**corpus_scores(greedy, test), "decoding": "greedy", "sentences": len(test),
                       "decode_seconds": greedy_seconds, "by_source_length": by_length(greedy, test)},
              "baseline": baseline_scores("copy the Spanish source", test.spanish, test)}
    if beam_size > 1:
        started = time.perf_counter()
        beam = [translator.text(ids) for ids in translator.translate_ids(sources, beam_size)]
        report["beam"] = {"beam_size": beam_size, **corpus_scores(beam, test),
                          "decode_seconds": time.perf_counter() - started, "by_source_length": by_length(beam, test)}
    # Speed: batched greedy translation of the first `speed_sentences` test sentences, raw strings to strings.
    chosen = test.spanish[:speed_sentences]
    started = time.perf_counter()
    translator.translate(chosen, strict=False)
    report["speed"] = {"sentences": len(chosen), "sentences_per_second": len(chosen) / (time.perf_counter() - started),
                       "decoding": "greedy, batches of 256"}
    report["samples"] = [{"spanish": test.spanish[i], "reference": test.english[i], "greedy": greedy[i],
                          **({"beam": beam[i]} if beam_size > 1 else {})} for i in range(min(samples, len(test)))]
    # Every output, for test_translations.tsv (train pops it): another run's outputs on the same split can then be
    # compared with these by paired_bootstrap without decoding the test split again.
    report["translations"] = {"greedy": greedy, **({"beam": beam} if beam_size > 1 else {})}
    return report


def translations_tsv(test, translations):
    """test_translations.tsv: one line a test pair, as test.tsv (English reference, Spanish source), then the greedy
    output and, with a beam, the beam output, tab-separated."""
    columns = [test.english, test.spanish, translations["greedy"], *([translations["beam"]] if "beam" in translations
                                                                    else [])]
    return "".join("\t".join(row) + "\n" for row in zip(*columns))


def print_report(report):
    test, base, refs = report["test"], report["baseline"], report["scoring"]
    print(f"\ntest split ({refs['pairs']:,} pairs, {refs['sources']:,} distinct Spanish sources, up to "
          f"{refs['most_references']} English references each), sacrebleu corpus BLEU (case-sensitive / lowercased) "
          "and chrF, each source once against all its references; in brackets BLEU against each pair's own "
          "reference alone:")

    def line(label, row):
        print(f"  {label:<17} {row['bleu']:6.2f} / {row['bleu_lowercase']:6.2f}   chrF {row['chrf']:6.2f}   "
              f"({row['bleu_single_reference']:6.2f})")

    line("greedy", test)
    if "beam" in report:
        line(f"beam {report['beam']['beam_size']}", report["beam"])
    line("copy the source", base)
    if "retrieval_baseline" in report:
        line("nearest training", report["retrieval_baseline"])
        print(f"    (nearest training: the English of the most similar training sentence, "
              f"{report['retrieval_baseline']['analyzer']})")
    print(f"  signature: {refs['signatures']['bleu']}")
    print("  greedy BLEU by source length: " + ", ".join(
        f"{name} words {row['bleu']:.2f} ({row['sentences']})" for name, row in test["by_source_length"].items()
        if row["bleu"] is not None))
    speed = report["speed"]
    print(f"  batched greedy: {speed['sentences_per_second']:.0f} sentences/s over {speed['sentences']} sentences")
    for sample in report["samples"][:5]:
        print(f"    {sample['spanish']}  ->  {sample['greedy']}   (reference: {sample['reference']})")
