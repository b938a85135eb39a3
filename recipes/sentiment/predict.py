"""Score raw reviews with a saved model: a probability and a label for each."""

import numpy as np

from shared.config import command_parser
from shared.data import read_text
from shared.errors import UserError, reported
from shared.inference import load_run

from . import data  # noqa: F401  registers the text standardizer the saved model refers to

RECIPE = __name__.split(".")[-2]


def predict(sentiment_model, texts):
    """P(positive) for each raw string, shape (len(texts),)."""
    # An object array: a NumPy unicode array reaches Keras as an unsupported dtype (str288).
    batch = np.array(texts, dtype=object)
    return sentiment_model.predict(batch, batch_size=256, verbose=0)[:, 0]


def main(argv=None):
    prog = f"python -m recipes.{RECIPE} predict"
    with reported(prog):
        parser = command_parser(prog, __doc__)
        parser.add_argument("--model", required=True, help="output folder of a training run")
        parser.add_argument("--file", help="text file with one review a line")
        parser.add_argument("texts", nargs="*", help="reviews to score")
        args = parser.parse_args(argv)
        texts = list(args.texts)
        if args.file:
            texts += [line for line in read_text(args.file, what="review file").splitlines() if line.strip()]
        if not texts:
            raise UserError("no reviews: give them as arguments or with --file")
        for number, text in enumerate(texts, 1):
            if not text.strip():
                raise UserError(f"review {number} is empty")
        sentiment_model, _, _ = load_run(args.model, RECIPE)
        probabilities = predict(sentiment_model, texts)
        for probability, text in zip(probabilities, texts):
            label = "positive" if probability >= 0.5 else "negative"
            shown = text if len(text) <= 70 else text[:67] + "..."
            print(f"{probability:.3f}  {label:<8}  {shown}")
        return probabilities
