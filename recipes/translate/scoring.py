"""BLEU and chrF on the test split: the model (greedy and beam), a copy-the-source baseline, BLEU by source length.

Corpus BLEU is sacrebleu's, on detokenized, truecased output against the raw reference
sentences (its default 13a tokenizer, case-sensitive); the case-insensitive figure is
reported beside it. chrF is sacrebleu's corpus chrF (character 6-grams, case-sensitive), which
gives partial credit for a word with the wrong ending. Source length counts the Spanish words
(punctuation not counted).
"""
import time

import sacrebleu

from . import data

BUCKETS = ((1, 5), (6, 10), (11, None))  # source words


def bleu(hypotheses, references, lowercase=False):
    """sacrebleu corpus BLEU (0-100), one reference per hypothesis."""
    return sacrebleu.corpus_bleu(list(hypotheses), [list(references)], lowercase=lowercase).score


def chrf(hypotheses, references):
    """sacrebleu corpus chrF (0-100), one reference per hypothesis."""
    return sacrebleu.corpus_chrf(list(hypotheses), [list(references)]).score


def source_words(sentence):
    return sum(data.is_word(token) for token in data.tokenize(sentence))


def by_length(hypotheses, pairs):
    """{bucket name: {"sentences": n, "bleu": corpus BLEU of that bucket}}."""
    result = {}
    for low, high in BUCKETS:
        chosen = [i for i, s in enumerate(pairs.spanish) if low <= source_words(s) and (high is None or
                                                                                        source_words(s) <= high)]
        name = f"{low}-{high}" if high else f"{low}+"
        result[name] = {"sentences": len(chosen),
                        "bleu": bleu([hypotheses[i] for i in chosen], [pairs.english[i] for i in chosen])
                        if chosen else None}
    return result


def baseline_scores(name, hypotheses, test, **facts):
    """A baseline's corpus BLEU (case-sensitive and lowercased) and chrF on the test split."""
    return {"name": name, "bleu": bleu(hypotheses, test.english),
            "bleu_lowercase": bleu(hypotheses, test.english, True), "chrf": chrf(hypotheses, test.english), **facts}


def score_test_split(translator, test, beam_size, speed_sentences=1000, samples=10):
    """The test-split figures of metrics.json; greedy and beam search both over the whole test split."""
    sources, _ = translator.prepare(test.spanish, strict=False)
    started = time.perf_counter()
    greedy = [translator.text(ids) for ids in translator.translate_ids(sources)]
    greedy_seconds = time.perf_counter() - started
    report = {"test": {"bleu": bleu(greedy, test.english), "bleu_lowercase": bleu(greedy, test.english, True),
                       "chrf": chrf(greedy, test.english), "decoding": "greedy", "sentences": len(test),
                       "decode_seconds": greedy_seconds,
                       "by_source_length": by_length(greedy, test)},
              "baseline": baseline_scores("copy the Spanish source", test.spanish, test)}
    if beam_size > 1:
        started = time.perf_counter()
        beam = [translator.text(ids) for ids in translator.translate_ids(sources, beam_size)]
        report["beam"] = {"beam_size": beam_size, "bleu": bleu(beam, test.english),
                          "bleu_lowercase": bleu(beam, test.english, True), "chrf": chrf(beam, test.english),
                          "decode_seconds": time.perf_counter() - started, "by_source_length": by_length(beam, test)}
    # Speed: batched greedy translation of the first `speed_sentences` test sentences, raw strings to strings.
    chosen = test.spanish[:speed_sentences]
    started = time.perf_counter()
    translator.translate(chosen, strict=False)
    report["speed"] = {"sentences": len(chosen), "sentences_per_second": len(chosen) / (time.perf_counter() - started),
                       "decoding": "greedy, batches of 256"}
    report["samples"] = [{"spanish": test.spanish[i], "reference": test.english[i], "greedy": greedy[i],
                          **({"beam": beam[i]} if beam_size > 1 else {})} for i in range(min(samples, len(test)))]
    return report


def print_report(report):
    test, base = report["test"], report["baseline"]
    print(f"\ntest split ({test['sentences']:,} pairs), sacrebleu corpus BLEU (case-sensitive / lowercased) "
          "and chrF:")
    print(f"  greedy            {test['bleu']:6.2f} / {test['bleu_lowercase']:6.2f}   chrF {test['chrf']:6.2f}")
    if "beam" in report:
        beam = report["beam"]
        print(f"  beam {beam['beam_size']:<12} {beam['bleu']:6.2f} / {beam['bleu_lowercase']:6.2f}   "
              f"chrF {beam['chrf']:6.2f}")
    print(f"  copy the source   {base['bleu']:6.2f} / {base['bleu_lowercase']:6.2f}   chrF {base['chrf']:6.2f}")
    if "retrieval_baseline" in report:
        near = report["retrieval_baseline"]
        print(f"  nearest training  {near['bleu']:6.2f} / {near['bleu_lowercase']:6.2f}   chrF {near['chrf']:6.2f}"
              f"   (English of the most similar training sentence, {near['analyzer']})")
    print("  greedy BLEU by source length: " + ", ".join(
        f"{name} words {row['bleu']:.2f} ({row['sentences']})" for name, row in test["by_source_length"].items()
        if row["bleu"] is not None))
    speed = report["speed"]
    print(f"  batched greedy: {speed['sentences_per_second']:.0f} sentences/s over {speed['sentences']} sentences")
    for sample in report["samples"][:5]:
        print(f"    {sample['spanish']}  ->  {sample['greedy']}   (reference: {sample['reference']})")
