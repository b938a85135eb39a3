"""Sentence pairs in, token ids out: reading, normalising, splitting, vocabularies, length-bucketed batches.

Sources: `--data PATH` (a UTF-8 file, one `English<TAB>Spanish` pair a line), else
RECIPES_DATA_DIR/spa-eng/spa.txt, else TensorFlow's spa-eng.zip, fetched once
with keras.utils.get_file and extracted in the cache.

Text handling (the same for both languages): Unicode NFKC normalisation (composed
accents; ligatures and full-width forms folded), curly quotes made straight, lower
case. Accents are KEPT: "está" (is) and "esta" (this) are different words. The
inverted marks ¿ and ¡ are kept as tokens of their own, like every punctuation mark,
which is split from the words; a decimal number ("3.5") and an apostrophe inside a
word ("don't") stay in one token. Ids: 0 padding, 1 [UNK] (a word outside the
vocabulary, never dropped), 2 [start], 3 [end], then words by training frequency.
"""
import collections
import dataclasses
import re
import unicodedata
from pathlib import Path

import numpy as np

from shared.data import fetch_file, locate, prefetched, read_text, shuffle_epoch
from shared.errors import UserError

SPA_ENG_URL = "http://storage.googleapis.com/download.tensorflow.org/data/spa-eng.zip"
PAD, UNK, START, END = "", "[UNK]", "[start]", "[end]"
SPECIALS = [PAD, UNK, START, END]
TOKEN = re.compile(r"\d+(?:[.,:]\d+)*|\w+(?:'\w+)*|[^\w\s]")
FOLD = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00ab": '"', "\u00bb": '"',
                      "\u200b": " "})
NO_SPACE_BEFORE = re.compile(r" ([.,!?;:%)\]}])")
NO_SPACE_AFTER = re.compile(r"([¿¡(\[{$]) ")


@dataclasses.dataclass
class Pairs:
    english: list  # raw strings as read (the BLEU references)
    spanish: list

    def __len__(self):
        return len(self.english)

    def subset(self, indices):
        return Pairs([self.english[i] for i in indices], [self.spanish[i] for i in indices])


def normalize(text):
    return unicodedata.normalize("NFKC", text).translate(FOLD).lower().strip()


def tokenize(text):
    """Normalised word and punctuation tokens: "¿Todavía está?" -> ['¿', 'todavía', 'está', '?']."""
    return TOKEN.findall(normalize(text))


def is_word(token):
    return token[0].isalnum()


def detokenize(tokens, truecase=None):
    """Tokens back to text: punctuation re-attached, and with `truecase` (lower -> usual form) the
    sentence-initial capital and words like "I" and "Tom" restored, so output compares to raw text."""
    words = list(tokens)
    if truecase:
        words = [truecase.get(word, word) for word in words]
        for index, word in enumerate(words):
            if is_word(word):
                words[index] = word[0].upper() + word[1:]
                break
    text = " ".join(words)
    return NO_SPACE_AFTER.sub(r"\1", NO_SPACE_BEFORE.sub(r"\1", text))


def read_pairs(path):
    """Pairs from a file of `English<TAB>Spanish` lines; blank lines are skipped, anything else is an error."""
    text = read_text(path, what="sentence-pair file")
    english, spanish = [], []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2:
            raise UserError(f"{path}: line {number}: expected 2 tab-separated fields (English<TAB>Spanish), "
                            f"found {len(fields)}")
        if not fields[0].strip() or not fields[1].strip():
            raise UserError(f"{path}: line {number}: empty {'English' if not fields[0].strip() else 'Spanish'} "
                            "sentence")
        english.append(fields[0].strip())
        spanish.append(fields[1].strip())
    if not english:
        raise UserError(f"{path}: no sentence pairs")
    check_languages(english, spanish, path)
    return Pairs(english, spanish)


SPANISH_MARKS = set("¿¡ñáéíóúü")
SPANISH_WORDS = {"el", "la", "los", "las", "de", "que", "y", "en", "es", "un", "una", "no", "por", "con", "se"}
ENGLISH_WORDS = {"the", "of", "and", "to", "is", "a", "in", "it", "you", "that", "i", "he", "she", "was"}


def spanish_score(sentences, sample=2000):
    """How Spanish a column reads: share of sentences with Spanish marks or more Spanish than English stop-words."""
    chosen = sentences[:: max(1, len(sentences) // sample)]  # spread over the file: it may be sorted by length
    hits = 0
    for sentence in chosen:
        words = [w.strip(".,;:!?¿¡\"'") for w in sentence.lower().split()]
        spanish, english = sum(w in SPANISH_WORDS for w in words), sum(w in ENGLISH_WORDS for w in words)
        hits += bool(SPANISH_MARKS & set(sentence.lower())) or spanish > english
    return hits / max(len(chosen), 1)


def check_languages(english, spanish, path):
    """A UserError when the first column reads as Spanish and the second does not: the columns are swapped."""
    first, second = spanish_score(english), spanish_score(spanish)
    if first > 0.5 and first > second + 0.3:
        raise UserError(f"{path}: the first column looks Spanish ({first:.0%} of sentences) and the second "
                        f"does not ({second:.0%}): expected English<TAB>Spanish lines; swap the columns")


def _fetch(cache):
    path = cache / "spa-eng_extracted" / "spa-eng" / "spa.txt"  # where get_file extracts spa-eng.zip
    if not path.is_file():
        fetch_file(SPA_ENG_URL, "spa-eng.zip", cache, extract=True)  # no pinned hash: Google re-serves the file
    return path


def load_pairs(data_path):
    """(pairs, description of the source)."""
    if data_path:
        path = Path(data_path)
        if not path.is_file():
            raise UserError(f"--data {path}: no such file")
    else:
        path = locate("spa-eng/spa.txt", _fetch)
    return read_pairs(path), str(path)


def split(pairs, val_fraction, test_fraction, seed):
    """(train, validation, test) by seed, with no sentence of either language on two sides.

    Tatoeba gives one Spanish sentence several English translations and one English sentence
    several Spanish ones ("I'm fine." has many). Pairs are grouped into connected components:
    two pairs are in one group when they share their normalised Spanish or their normalised
    English sentence, directly or through other pairs. Whole groups are dealt in a seeded order
    to the test split until it holds test_fraction of the pairs, then to validation until it
    holds val_fraction of them, the rest to training (a split can exceed its share by less
    than one group: at most a few dozen pairs on spa-eng).
    """
    groups = collections.defaultdict(list)
    for index, root in enumerate(_components(pairs)):
        groups[root].append(index)
    keys = list(groups)
    order = np.random.default_rng(seed).permutation(len(keys))
    wanted = {"test": round(len(pairs) * test_fraction), "validation": round(len(pairs) * val_fraction)}
    parts = {"train": [], "validation": [], "test": []}
    for k in order:
        name = next((name for name in ("test", "validation") if len(parts[name]) < wanted[name]), "train")
        parts[name] += groups[keys[k]]
    return tuple(pairs.subset(parts[name]) for name in ("train", "validation", "test"))


def _components(pairs):
    """Per pair, the id of its connected component over shared normalised sentences (a union-find)."""
    parent = {}

    def find(node):
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]  # path halving
            node = parent[node]
        return node

    for english, spanish in zip(pairs.english, pairs.spanish):
        a, b = find(("en", normalize(english))), find(("es", normalize(spanish)))
        if a != b:
            parent[a] = b
    return [find(("es", normalize(spanish))) for spanish in pairs.spanish]


def overlap(train, other):
    """Pairs of `other` whose normalised English or normalised Spanish sentence occurs in `train`."""
    english, spanish = set(map(normalize, train.english)), set(map(normalize, train.spanish))
    return sum(normalize(en) in english or normalize(es) in spanish for en, es in zip(other.english, other.spanish))


def drop_long(pairs, max_len):
    """(kept pairs, count dropped): pairs with more than max_len tokens on either side."""
    keep = [i for i, (en, es) in enumerate(zip(pairs.english, pairs.spanish))
            if len(tokenize(en)) <= max_len and len(tokenize(es)) <= max_len]
    return pairs.subset(keep), len(pairs) - len(keep)


class Vocabulary:
    """Tokens <-> ids for one language, fitted on training text only."""

    def __init__(self, tokens):
        self.tokens = list(tokens)
        self.index = {token: i for i, token in enumerate(self.tokens)}

    @classmethod
    def fit(cls, sentences, max_tokens):
        counts = collections.Counter(token for sentence in sentences for token in tokenize(sentence))
        # Most frequent first; ties in alphabetical order so the same text gives the same ids.
        ranked = sorted(counts, key=lambda token: (-counts[token], token))
        return cls(SPECIALS + ranked[: max(0, max_tokens - len(SPECIALS))])

    def __len__(self):
        return len(self.tokens)

    def encode(self, tokens):
        return [self.index.get(token, 1) for token in tokens]

    def decode(self, ids):
        return [self.tokens[i] for i in ids]


def fit_truecase(english_sentences):
    """lower-case word -> its most frequent written form away from the sentence start ("i" -> "I")."""
    forms = collections.defaultdict(collections.Counter)
    for sentence in english_sentences:
        words = TOKEN.findall(unicodedata.normalize("NFKC", sentence).translate(FOLD))
        for word in words[1:]:
            forms[word.lower()][word] += 1
    return {lower: counter.most_common(1)[0][0] for lower, counter in forms.items()
            if counter.most_common(1)[0][0] != lower}


def encode_source(vocab, sentence):
    return vocab.encode(tokenize(sentence))


def encode_target(vocab, sentence):
    """[start] w1 ... wn [end] as ids."""
    return vocab.encode([START, *tokenize(sentence), END])


def encode_pairs(pairs, source_vocab, target_vocab):
    """Ragged id lists: sources, targets with [start] and [end]."""
    return ([encode_source(source_vocab, s) for s in pairs.spanish],
            [encode_target(target_vocab, e) for e in pairs.english])


def batches(sources, targets, batch_size, shuffle_seed=None):
    """((source, decoder input), decoder target, weight) batches, grouped by length.

    Pairs are sorted by length and cut into batches, so each batch is padded only
    to its own longest sentence (right padding, 0). Shape per batch: source (batch, S),
    decoder input and target (batch, T) (the target is the input shifted by one), and
    weights (batch, T): 0 on padding, which therefore costs no loss, and on real tokens
    the constant of `per_token_weights`, so that the loss Keras reports over all the
    batches is the mean over every target token.
    With a seed the order of the batches (not their content) is shuffled each epoch.
    """
    order = sorted(range(len(sources)), key=lambda i: (len(targets[i]), len(sources[i]), i))
    if shuffle_seed is not None:
        # Shuffle within equal lengths first, so batches differ between seeds.
        rng = np.random.default_rng(shuffle_seed)
        keys = rng.random(len(order))
        order = sorted(order, key=lambda i: (len(targets[i]), len(sources[i]), keys[i]))
    chunks = []
    for begin in range(0, len(order), batch_size):
        chosen = order[begin: begin + batch_size]
        source = pad([sources[i] for i in chosen])
        target = pad([targets[i] for i in chosen])
        chunks.append(teacher_forced(source, target))
    chunks = per_token_weights(chunks)

    def generate():  # called as each epoch's iterator starts
        if shuffle_seed is None:
            yield from chunks
            return
        # The epoch's order is a function of (seed, epoch): a resumed run sees the same batches.
        for index in np.random.default_rng([shuffle_seed, shuffle_epoch()]).permutation(len(chunks)):
            yield chunks[index]

    import tensorflow as tf  # here: the model (built under any backend) reads this module's vocabulary constants

    signature = ((tf.TensorSpec((None, None), tf.int32), tf.TensorSpec((None, None), tf.int32)),
                 tf.TensorSpec((None, None), tf.int32), tf.TensorSpec((None, None), tf.float32))
    return prefetched(tf.data.Dataset.from_generator(generate, output_signature=signature))


def teacher_forced(source, target):
    """((source, decoder input), decoder target, weight) from padded (n, S) and (n, T) ids: the
    decoder reads the target shifted by one; weight is 1 on real tokens, 0 on padding."""
    return (source, target[:, :-1]), target[:, 1:], (target[:, 1:] > 0).astype("float32")


def per_token_weights(chunks):
    """Teacher-forced batches with each batch's 0/1 weights scaled so Keras's loss is per target token.

    Keras divides a batch's weighted loss by its count of masked-in positions (the decoder's
    mask is exactly the real target tokens, see model.decoder_mask), giving the mean over the
    batch's tokens, then averages the batches weighted by their number of sentences. Scaling
    batch b's weights by (tokens_b / sentences_b) / (tokens / sentences over all batches)
    turns that average into sum of token losses / number of tokens, for training,
    validation and test alike.
    """
    tokens = [float(weight.sum()) for _, _, weight in chunks]
    sentences = [len(target) for _, target, _ in chunks]
    overall = sum(tokens) / sum(sentences)
    return [(inputs, target, weight * np.float32(count / rows / overall))
            for (inputs, target, weight), count, rows in zip(chunks, tokens, sentences)]


def pad(rows, length=None):
    """(len(rows), longest) int32, right-padded with 0."""
    length = length or max(len(row) for row in rows)
    out = np.zeros((len(rows), length), dtype="int32")
    for index, row in enumerate(rows):
        out[index, : len(row)] = row
    return out


def describe(name, pairs):
    lengths = np.array([len(tokenize(s)) for s in pairs.spanish])
    return f"{name:<10} {len(pairs):>7,} pairs, Spanish median {int(np.median(lengths))} tokens, max {lengths.max()}"
