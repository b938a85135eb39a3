"""Classify raw texts with a saved model: the most likely class and its probability for each.

Each output line, tab-separated: the class, its probability, how many of the words the model reads it
knows (KNOWN/READ), and the text (cut at 70 characters; control characters escaped). A text of which
the model knows no word (another script, emoji only) is named on stderr: its class says nothing about it."""
import sys

import numpy as np

from shared.config import command_parser
from shared.data import read_text
from shared.errors import UserError, reported
from shared.inference import known_words, load_run, printable, unknown_note

RECIPE = __name__.split(".")[-2]


def main(argv=None):
    prog = f"python -m recipes.{RECIPE} predict"
    with reported(prog):
        parser = command_parser(prog, __doc__)
        parser.add_argument("--model", required=True, help="output folder of a training run")
        parser.add_argument("--file", help="a text file with one text a line (blank lines skipped)")
        parser.add_argument("texts", nargs="*", help="texts to classify")
        args = parser.parse_args(argv)
        lines = read_text(args.file, what="text file").splitlines() if args.file else []
        numbered = [(f"{args.file}: line {number}", line) for number, line in enumerate(lines, 1) if line.strip()]
        texts = list(args.texts) + [line for _, line in numbered]
        names = [f"text {number}" for number in range(1, len(args.texts) + 1)] + [name for name, _ in numbered]
        if not texts:
            raise UserError("no texts: give them as arguments or with --file")
        from . import model  # loads Keras, once the command line is known to be right
        from .config import Config

        text_classifier, _, saved = load_run(args.model, RECIPE, "classes.json", config_class=Config)
        classes = saved["classes.json"]
        probabilities = model.predict(text_classifier, texts)  # (texts, classes)
        known, read = known_words(text_classifier.get_layer("vectorizer"), texts)  # (texts,) each
        for name, words, seen in zip(names, known, read):
            if not words:
                print(unknown_note(name, words, seen), file=sys.stderr)
        for text, row, words, seen in zip(texts, probabilities, known, read):
            best = int(np.argmax(row))
            print(f"{printable(classes[best])}\t{row[best]:.3f}\t{words}/{seen}\t{printable(text, 70)}")
        return probabilities
