"""Classify raw texts with a saved model: the most likely class and its probability for each."""
import numpy as np

from shared.config import command_parser
from shared.data import read_text
from shared.errors import UserError, reported
from shared.inference import load_run

RECIPE = __name__.split(".")[-2]


def main(argv=None):
    prog = f"python -m recipes.{RECIPE} predict"
    with reported(prog):
        parser = command_parser(prog, __doc__)
        parser.add_argument("--model", required=True, help="output folder of a training run")
        parser.add_argument("--file", help="a text file with one text a line (blank lines skipped)")
        parser.add_argument("texts", nargs="*", help="texts to classify")
        args = parser.parse_args(argv)
        texts = list(args.texts) + ([line for line in read_text(args.file, what="text file").splitlines()
                                     if line.strip()] if args.file else [])
        if not texts:
            raise UserError("no texts: give them as arguments or with --file")
        from . import model  # loads Keras, once the command line is known to be right
        from .config import Config

        text_classifier, _, saved = load_run(args.model, RECIPE, "classes.json", config_class=Config)
        classes = saved["classes.json"]
        probabilities = model.predict(text_classifier, texts)  # (texts, classes)
        for text, row in zip(texts, probabilities):
            best = int(np.argmax(row))
            print(f"{classes[best]}\t{row[best]:.3f}\t{text if len(text) <= 70 else text[:67] + '...'}")
        return probabilities
