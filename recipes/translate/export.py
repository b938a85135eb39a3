"""Export a trained translator as a TensorFlow SavedModel: Spanish strings in, English strings out (greedy).

    python -m recipes.NAME export --model runs/NAME --to exported/NAME    # NAME: this folder's name

    served = tf.saved_model.load("exported/NAME")
    served.serve(tf.constant(["¿Todavía está en casa?"]))["english"]   # (batch,) strings

The graph does what `translate --file` does with greedy decoding: the same tokens (data.TOKEN in
RE2 syntax), the vocabularies, the decoding loop with the same banned words, the truecasing and
the punctuation re-attached; a sentence the command refuses (empty, longer than the model's
--max-len, every word unknown) comes back as an empty string, as its output line does.
Not in the graph: beam search (use the command), and Unicode NFKC normalisation, which core
TensorFlow has no op for: input that NFKC changes (full-width letters, ligatures, accents typed
as combining marks) can tokenise differently than in the command.
"""
from types import SimpleNamespace

from shared.export import ENDPOINT, export_main, string_table
from shared.inference import load_run, state_count

from . import data
from .config import Config

RECIPE = __name__.split(".")[-2]
# Python's Unicode classes, spelled for RE2 (whose \w, \d, \s are ASCII only).
WORD, DIGIT = r"\p{L}\p{N}_", r"\p{Nd}"
SPACE = r"\t-\r\x{1c}-\x{20}\x{85}\p{Z}"  # what str.isspace() accepts
TOKEN = rf"{DIGIT}+(?:[.,:]{DIGIT}+)*|[{WORD}]+(?:'[{WORD}]+)*|[^{WORD}{SPACE}]"  # data.TOKEN
assert data.TOKEN.pattern == r"\d+(?:[.,:]\d+)*|\w+(?:'\w+)*|[^\w\s]", "data.TOKEN changed: update TOKEN here"


def tokenize(tf, sentences):
    """(batch,) strings -> (batch, None) ragged tokens, as data.tokenize (NFKC aside)."""
    text = tf.strings.lower(sentences, encoding="utf-8")
    for char, folded in data.FOLD.items():  # curly quotes, guillemets and zero-width spaces
        text = tf.strings.regex_replace(text, chr(char), folded)
    spaced = tf.strings.regex_replace(text, TOKEN, r" \0 ")  # tokens never hold a space: split between them
    spaced = tf.strings.strip(tf.strings.regex_replace(spaced, f"[{SPACE}]+", " "))
    tokens = tf.strings.split(spaced, sep=" ")
    return tf.ragged.boolean_mask(tokens, tf.not_equal(tokens, ""))  # an empty sentence: no token


def is_word(tf, tokens):
    return tf.strings.regex_full_match(tokens, r"[\p{L}\p{N}].*")  # data.is_word: starts alphanumeric


def archive(model_dir):
    """An ExportArchive whose `serve` takes spanish (batch,) strings and returns english (batch,) strings."""
    import keras
    import tensorflow as tf

    from . import model

    trained, saved, files = load_run(model_dir, RECIPE, "vocab.json", config_class=Config)
    config, vocabularies = SimpleNamespace(**saved), files["vocab.json"]
    encoder, step = model.encoder_model(trained, config), model.decoder_step_model(trained, config)
    source_tokens, target_tokens = vocabularies["spanish"], vocabularies["english"]
    source_ids = string_table(source_tokens, list(range(len(source_tokens))), 1, "spanish")  # unknown: [UNK]
    truecase = vocabularies.get("truecase", {})
    truecased = string_table(list(truecase) or [""], list(truecase.values()) or [""], "", "truecase")
    start, end, states = target_tokens.index(data.START), target_tokens.index(data.END), state_count(config.cell)
    # As Translator.banned: never padding, [UNK] or [start].
    banned = tf.constant([-float("inf") if i in (0, 1, start) else 0.0 for i in range(len(target_tokens))])

    def greedy(source):
        """source (batch, S) int32 -> (batch, T <= max_len + 1) int32 target ids, as Translator.greedy."""
        memory, *initial = encoder(source, training=False)
        memory = tf.identity(memory)  # without the Keras mask it carries, which the step model ignores
        carried = initial * (states * config.layers // len(initial))  # each decoder layer from the bridge
        batch = tf.shape(source)[0]

        def body(t, previous, done, chosen, *carried):
            logits, _, *carried = step([previous[:, None], memory, source, *carried], training=False)
            previous = tf.argmax(logits[:, 0] + banned, axis=1, output_type=tf.int32)  # (batch,)
            return (t + 1, previous, done | tf.equal(previous, end), chosen.write(t, previous), *carried)

        def unfinished(t, previous, done, chosen, *carried):
            return tf.logical_not(tf.reduce_all(done))

        chosen = tf.TensorArray(tf.int32, size=0, dynamic_size=True, element_shape=[None])
        _, _, _, chosen, *_ = tf.while_loop(
            unfinished, body, (0, tf.fill([batch], start), tf.zeros([batch], tf.bool), chosen, *carried),
            maximum_iterations=config.max_len + 1)  # at most max_len words and [end]
        return tf.transpose(chosen.stack())  # (batch, steps run)

    def serve(spanish):
        tokens = tokenize(tf, spanish)  # (batch, None)
        ids = tf.cast(source_ids.lookup(tokens), tf.int32)
        count = tokens.row_lengths()
        known = tf.reduce_any(is_word(tf, tokens) & tf.not_equal(ids, 1), axis=1)
        refused = (count == 0) | (count > config.max_len) | ~known  # Translator.prepare's refusals
        batch = tf.shape(spanish)[0]
        width = tf.maximum(tf.reduce_max(tf.minimum(tf.cast(count, tf.int32), config.max_len)), 1)
        source = ids[:, : config.max_len].to_tensor(0, shape=tf.stack([batch, width]))  # (batch, S), 0 = padding
        # A refused row is decoded from [UNK] alone and dropped: never all padding (cuDNN fails on one).
        source = tf.where(refused[:, None], tf.cast(tf.range(width) == 0, tf.int32)[None, :], source)
        target = greedy(source)  # (batch, T)
        steps = tf.shape(target)[1]
        length = tf.reduce_min(tf.where(tf.equal(target, end), tf.range(steps)[None, :], steps), axis=1)
        real = tf.range(steps)[None, :] < length[:, None]  # (batch, T): the words before [end]
        words = tf.gather(tf.constant(target_tokens), target)  # (batch, T)
        forms = truecased.lookup(words)
        words = tf.where(tf.equal(forms, ""), words, forms)  # data.detokenize: usual forms, ...
        word = is_word(tf, words) & real
        first = word & tf.equal(tf.math.cumsum(tf.cast(word, tf.int32), axis=1), 1)
        safe = tf.where(tf.equal(words, ""), " ", words)  # substr refuses a start past an empty string
        head = tf.strings.upper(tf.strings.substr(safe, 0, 1, unit="UTF8_CHAR"), encoding="utf-8")
        chars = tf.strings.length(safe, unit="UTF8_CHAR")
        tail = tf.strings.substr(safe, tf.ones_like(chars), chars, unit="UTF8_CHAR")
        if truecase:  # data.detokenize capitalises only with a truecase table (a model may have none)
            words = tf.where(first, head + tail, words)  # ... the first word capitalised, ...
        text = tf.strings.reduce_join(tf.RaggedTensor.from_tensor(words, lengths=length), axis=1, separator=" ")
        text = tf.strings.regex_replace(text, data.NO_SPACE_BEFORE.pattern, r"\1")  # ... punctuation attached
        text = tf.strings.regex_replace(text, data.NO_SPACE_AFTER.pattern, r"\1")
        return {"english": tf.where(refused, tf.constant(""), text)}

    exported = keras.export.ExportArchive()
    exported.track(trained)
    exported.track(source_ids)
    exported.track(truecased)
    exported.add_endpoint(ENDPOINT, serve, input_signature=[tf.TensorSpec([None], tf.string, name="spanish")])
    return exported


def main(argv=None):
    return export_main(RECIPE, argv, __doc__, archive)
