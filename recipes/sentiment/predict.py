"""Score raw reviews with a saved model: a probability and a label for each.

Each output line: P(positive), the label, how many of the words the model reads it knows (KNOWN/READ),
and the review (cut at 70 characters; control characters escaped). A review of which the model knows
no word (another script, emoji only) is named on stderr: its score says nothing about it."""
import sys

import numpy as np

from shared.config import command_parser
from shared.data import read_text
from shared.errors import UserError, reported
from shared.inference import known_words, load_run, printable, unknown_note

RECIPE = __name__.split(".")[-2]


def predict(sentiment_model, texts):
    """P(positive) for each raw string, shape (len(texts),)."""
    import keras

    if keras.config.backend() != "tensorflow":
        # JAX and torch hold no strings: the vectorizer (tf.strings inside, as in tf.data) turns the
        # texts into ids on its own, then the classifier, all backend ops, scores them.
        import tensorflow as tf

        ids = sentiment_model.get_layer("vectorizer")(tf.constant(list(texts), dtype=tf.string))  # (n, max_words)
        return sentiment_model.get_layer("classifier").predict(ids, batch_size=256, verbose=0)[:, 0]
    # An object array: a NumPy unicode array reaches Keras as an unsupported dtype (str288).
    batch = np.array(texts, dtype=object)
    return sentiment_model.predict(batch, batch_size=256, verbose=0)[:, 0]


def main(argv=None):
    prog = f"python -m recipes.{RECIPE} predict"
    with reported(prog):
        parser = command_parser(prog, __doc__)
        parser.add_argument("--model", required=True, help="output folder of a training run")
        parser.add_argument("--file", help="text file with one review a line: one output line per line in "
                                           "(empty for a blank line, named on stderr)")
        parser.add_argument("texts", nargs="*", help="reviews to score")
        args = parser.parse_args(argv)
        lines = read_text(args.file, what="review file").splitlines() if args.file else []
        if not (args.texts or lines):
            raise UserError("no reviews: give them as arguments or with --file")
        for number, text in enumerate(args.texts, 1):
            if not text.strip():
                raise UserError(f"review {number} is empty")
        # A file is a batch job: one output line per input line; a blank line gets an empty one.
        blank = [number for number, line in enumerate(lines, 1) if not line.strip()]
        if lines and len(blank) == len(lines):
            raise UserError(f"{args.file}: every line is blank; no review to score")
        texts = list(args.texts) + [line for line in lines if line.strip()]
        # They register the text standardizer and the layers the saved model refers to (and load Keras).
        from . import data, model  # noqa: F401
        from .config import Config

        sentiment_model, _, _ = load_run(args.model, RECIPE, config_class=Config)
        probabilities = predict(sentiment_model, texts)
        known, read = known_words(sentiment_model.get_layer("vectorizer"), texts)  # (texts,) each
        names = iter([f"review {number}" for number in range(1, len(args.texts) + 1)]
                     + [f"{args.file}: line {number}" for number, line in enumerate(lines, 1) if line.strip()])
        for name, words, seen in zip(names, known, read):
            if not words:
                print(unknown_note(name, words, seen), file=sys.stderr)
        for number in blank:
            print(f"note: {args.file}: line {number} is blank; its output line is empty", file=sys.stderr)
        scored = iter(zip(probabilities, known, read, texts))
        for line in list(args.texts) + lines:
            if not line.strip():
                print()
                continue
            probability, words, seen, text = next(scored)
            label = "positive" if probability >= 0.5 else "negative"
            print(f"{probability:.3f}  {label:<8}  {f'{words}/{seen}':<7}  {printable(text, 70)}")
        return probabilities
