"""Translate Spanish sentences with a saved model: batched greedy decoding, or beam search.

Input rules (the same for every sentence, checked before anything is translated):
an empty sentence, a sentence with more tokens than the model's --max-len, and a
sentence whose every word is unknown to the model are refused (one line, exit 2):
the model never saw longer sentences, and truncating would silently drop meaning.
A sentence with some unknown words is translated (they are read as [UNK]) and the
unknown words are listed on stderr.
Keras is imported inside the functions that use it: the command's --help and option errors
answer before TensorFlow loads.
"""
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from shared.config import command_parser
from shared.data import read_text
from shared.errors import UserError, reported
from shared.inference import compiled, load_run, printable, state_count
from shared.progress import Progress

from . import data, search
from .config import Config

RECIPE = __name__.split(".")[-2]
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".pdf", ".svg")  # --show-attention: saved in the format the suffix names


class Translator:
    """A trained translator model plus its vocabularies: raw Spanish strings in, English strings out."""

    def __init__(self, trained, config, vocabularies):
        from . import model

        config = SimpleNamespace(**config) if isinstance(config, dict) else config
        self.config = config
        self.source_vocab = data.Vocabulary(vocabularies["spanish"])
        self.target_vocab = data.Vocabulary(vocabularies["english"])
        self.truecase = vocabularies.get("truecase", {})
        self.max_len = config.max_len
        self.states = state_count(config.cell) * config.layers
        memory_dim = config.units if config.attention != "none" else 2 * config.units
        self.encode_call = compiled(model.encoder_model(trained, config), [((None, None), "int32")])
        self.step_call = compiled(model.decoder_step_model(trained, config),
                                   [((None, 1), "int32"), ((None, None, memory_dim), "float32"),
                                    ((None, None), "int32")] + [((None, config.units), "float32")] * self.states)
        # Never emitted: padding, [UNK] (a word the model cannot spell out) and [start].
        self.banned = [0, 1, self.target_vocab.index[data.START]]
        self.end = self.target_vocab.index[data.END]

    # --- input ------------------------------------------------------------------------------

    def prepare(self, sentences, strict=True):
        """(source id lists, unknown words per sentence); bad sentences are UserErrors naming them.

        Not `strict` (scoring a test split): a sentence of unknown words is translated all the same.
        """
        ids, unknown = [], []
        for number, sentence in enumerate(sentences, 1):
            tokens = data.tokenize(sentence)
            if not tokens:
                raise UserError(f"sentence {number} is empty")
            if len(tokens) > self.max_len:
                raise UserError(f"sentence {number} has {len(tokens)} tokens, more than the model's --max-len "
                                f"{self.max_len}; split it into shorter sentences")
            encoded = self.source_vocab.encode(tokens)
            missing = [t for t, i in zip(tokens, encoded) if i == 1]
            if strict and all(i == 1 for t, i in zip(tokens, encoded) if data.is_word(t)):
                raise UserError(f"sentence {number}: every word is unknown to the model "
                                f"({shown_words(missing)}); nothing to translate")
            ids.append(encoded)
            unknown.append(missing)
        return ids, unknown

    # --- decoding ---------------------------------------------------------------------------

    def _encode(self, sources):
        from keras import ops

        source = data.pad(sources)  # (batch, S)
        memory, *initial = self.encode_call(ops.convert_to_tensor(source))
        layers = self.states // len(initial)
        return source, memory, initial * layers  # each decoder layer starts from the bridged state

    def _step(self, previous, memory, source, states):
        """previous (batch,) ids -> (logits (batch, vocab) numpy, attention (batch, S) numpy, new states)."""
        from keras import ops

        logits, scores, *states = self.step_call(ops.convert_to_tensor(previous[:, None].astype("int32")),
                                                 memory, ops.convert_to_tensor(source), *states)
        return ops.convert_to_numpy(logits)[:, 0], ops.convert_to_numpy(scores)[:, 0], states

    def greedy(self, sources, return_attention=False):
        """Most likely word at each step, for a batch of source id lists; (id lists, attention per sentence)."""
        source, memory, states = self._encode(sources)
        batch = len(sources)
        previous = np.full(batch, self.target_vocab.index[data.START], dtype="int32")
        outputs, attention = [[] for _ in range(batch)], [[] for _ in range(batch)]
        done = np.zeros(batch, dtype=bool)
        for _ in range(self.max_len + 1):  # at most max_len words and [end]
            logits, scores, states = self._step(previous, memory, source, states)
            logits[:, self.banned] = -np.inf
            previous = logits.argmax(axis=1).astype("int32")
            for row in np.flatnonzero(~done):
                outputs[row].append(int(previous[row]))
                attention[row].append(scores[row, : len(sources[row])])
            done |= previous == self.end
            if done.all():
                break
        return [_until_end(row, self.end) for row in outputs], attention if return_attention else None

    def beam(self, sources, beam_size):
        """Beam search of width `beam_size` for a batch of source id lists (search.beam_search: finished
        translations kept apart, the best by length-penalised score returned); width 1 is greedy decoding."""
        if beam_size == 1:
            return self.greedy(sources)[0]
        from keras import ops

        source, memory, states = self._encode(sources)
        batch, k = len(sources), beam_size
        take = np.repeat(np.arange(batch), k)  # row b * k + j is beam j of sentence b
        source, memory = source[take], ops.take(memory, take, axis=0)

        def step(previous, states):
            logits, _, states = self._step(previous, memory, source, states)
            logits[:, self.banned] = -np.inf
            return search.log_softmax(logits), states  # (batch * k, vocab)

        def reorder(states, rows):
            return [ops.take(state, rows, axis=0) for state in states]

        best, _ = search.beam_search(step, reorder(states, take), reorder, batch, k,
                                     self.target_vocab.index[data.START], self.end, self.max_len)
        return best

    def translate_ids(self, sources, beam_size=1, batch_size=256, progress=None):
        """Target id lists for source id lists, batched by length; beam search when beam_size > 1.

        progress: a shared.progress.Progress counting sentences, or None."""
        order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
        results = [None] * len(sources)
        step = batch_size if beam_size == 1 else max(1, batch_size // beam_size)
        for begin in range(0, len(order), step):
            chosen = order[begin: begin + step]
            group = [sources[i] for i in chosen]
            outputs = self.greedy(group)[0] if beam_size == 1 else self.beam(group, beam_size)
            for index, output in zip(chosen, outputs):
                results[index] = output
            if progress:
                progress.update(len(chosen))
        if progress:
            progress.done()
        return results

    def text(self, ids):
        """Target ids -> an English sentence with punctuation attached and usual capitals."""
        return data.detokenize(self.target_vocab.decode(ids), self.truecase)

    def translate(self, sentences, beam_size=1, batch_size=256, strict=True):
        """Raw Spanish strings -> English strings (bad input raises UserError before any work)."""
        sources, _ = self.prepare(sentences, strict)
        return [self.text(ids) for ids in self.translate_ids(sources, beam_size, batch_size)]


def _until_end(ids, end):
    ids = [int(i) for i in ids]
    return ids[: ids.index(end)] if end in ids else ids


def load(model_dir):
    """A Translator for a training run's output folder; refuses other recipes' models."""
    trained, config, files = load_run(model_dir, RECIPE, "vocab.json", config_class=Config)
    return Translator(trained, config, files["vocab.json"])


def save_attention(translator, sentence, path):
    """The greedy translation of one sentence and its attention heatmap (English rows, Spanish columns), in the
    format `path`'s suffix names (one of IMAGE_SUFFIXES: check_image_path refuses the others)."""
    from shared.report import pyplot

    plt = pyplot()

    sources, _ = translator.prepare([sentence])
    outputs, attention = translator.greedy(sources, return_attention=True)
    tokens = data.tokenize(sentence)
    words = translator.target_vocab.decode(outputs[0]) + [data.END]
    weights = np.array(attention[0])[: len(words)]  # (target words, source tokens)
    fig, axis = plt.subplots(figsize=(1 + 0.5 * len(tokens), 1 + 0.4 * len(words)))
    image = axis.imshow(weights, cmap="viridis", vmin=0, vmax=1)
    axis.set_xticks(range(len(tokens)), tokens, rotation=60)
    axis.set_yticks(range(len(words)), words)
    axis.set_title(translator.text(outputs[0]) + "  (greedy)", fontsize=9)
    fig.colorbar(image, ax=axis, label="attention weight")
    fig.tight_layout()
    suffix = Path(path).suffix.lower()
    partial = Path(path).with_name(f".{Path(path).name}.partial{suffix}")
    fig.savefig(partial, dpi=100, format=suffix.lstrip("."))  # by the name's suffix: a .jpg holds JPEG
    plt.close(fig)
    partial.replace(path)
    return weights


def main(argv=None):
    prog = f"python -m recipes.{RECIPE} translate"
    with reported(prog):
        parser = command_parser(prog, __doc__)
        parser.add_argument("--model", required=True, help="output folder of a training run")
        parser.add_argument("--file", help="text file with one Spanish sentence a line: one English line out per "
                                           "line in (empty where a line cannot be translated, named on stderr)")
        parser.add_argument("--beam-size", type=int, default=1, help="1: greedy; N > 1: beam search of width N")
        parser.add_argument("--show-attention", metavar="FILE",
                            help="save the attention heatmap of the first sentence in the format its suffix names: "
                                 + ", ".join(IMAGE_SUFFIXES))
        parser.add_argument("sentences", nargs="*", help="Spanish sentences to translate")
        args = parser.parse_args(argv)
        if args.beam_size < 1:
            raise UserError(f"--beam-size must be 1 or more, got {args.beam_size}")
        lines = read_text(args.file, what="sentence file").splitlines() if args.file else []
        if not (args.sentences or lines):
            raise UserError("no sentences: give them as arguments or with --file")
        if args.show_attention:
            check_image_path(args.show_attention)
        translator = load(args.model)
        sources, unknown = translator.prepare(args.sentences)  # every argument checked before any output
        # A file is a batch job: every line it can, one output line per input line, the others named.
        kept, skipped = [], []
        for number, line in enumerate(lines, 1):
            try:
                (ids,), (missing,) = translator.prepare([line])
            except UserError as error:
                skipped.append((number, str(error).removeprefix("sentence 1").lstrip(": ")))
                continue
            kept.append(number)
            sources.append(ids)
            unknown.append(missing)
        file = printable(args.file or "")  # a file name is user text too
        if lines and not kept:
            raise UserError(f"{file}: no line could be translated (line {skipped[0][0]}: {skipped[0][1]})")
        names = [f"sentence {n}" for n in range(1, len(args.sentences) + 1)] + [f"{file}: line {n}" for n in kept]
        for name, missing in zip(names, unknown):
            if missing:
                print(unknown_note(name, missing), file=sys.stderr)
        for number, reason in skipped:  # reason: a UserError's message, its words already escaped
            print(f"note: {file}: line {number} not translated ({reason}); its output line is empty",
                  file=sys.stderr)
        progress = Progress(len(sources), "sentences", prog)  # on stderr, past a few seconds
        translated = [translator.text(ids) for ids in translator.translate_ids(sources, args.beam_size,
                                                                               progress=progress)]
        by_line = dict(zip(kept, translated[len(args.sentences):]))
        outputs = translated[: len(args.sentences)] + [by_line.get(n, "") for n in range(1, len(lines) + 1)]
        for english in outputs:
            print(english)
        if args.show_attention:
            first = args.sentences[0] if args.sentences else lines[kept[0] - 1]
            save_attention(translator, first, args.show_attention)
            print(f"attention heatmap of the first sentence's greedy translation saved in "
                  f"{printable(args.show_attention)}",
                  file=sys.stderr)
        return outputs


def shown_words(words):
    """Words of a user's sentence, comma-separated, as a terminal can show them: control characters (a NUL, an
    ESC that would start an escape sequence), line breaks and bidi marks escaped (shared.inference.printable)."""
    return ", ".join(printable(word) for word in words)


def unknown_note(name, missing):
    """The stderr line naming a sentence's words the model does not know (read as [UNK])."""
    return f"note: {name}: unknown words read as [UNK]: {shown_words(missing)}"


def check_image_path(path):
    """A UserError unless `path` can be written as a new image of a format its suffix names (an existing folder,
    an unwritable place or a suffix matplotlib does not write as an image here cannot)."""
    target = Path(path)
    path = printable(str(target))  # messages quote the escaped name, never its control characters
    if target.is_dir():
        raise UserError(f"--show-attention {path}: is a folder; give a file name such as "
                        f"{printable(str(target / 'attention.png'))}")
    if target.suffix.lower() not in IMAGE_SUFFIXES:
        what = f"{printable(target.suffix)} is not an image format written here" if target.suffix else "no suffix"
        raise UserError(f"--show-attention {path}: {what}; end the name in {', '.join(IMAGE_SUFFIXES)}")
    if not target.parent.is_dir():
        raise UserError(f"--show-attention {path}: no folder {printable(str(target.parent))}")
    if not os.access(target.parent, os.W_OK):
        raise UserError(f"--show-attention {path}: {printable(str(target.parent))} is not writable")
