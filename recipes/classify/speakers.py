"""A real multi-class example: which of tiny Shakespeare's five most frequent speakers says a speech.

    python -m recipes.classify speakers --to runs/speakers.csv
    python -m recipes.classify --data runs/speakers.csv --label-column speaker --out runs/speakers

Reads RECIPES_DATA_DIR/text/tinyshakespeare.txt, else downloads the corpus once into the cache.
Speeches are the corpus's blocks "NAME:\\nlines...", one CSV row each (text,speaker).
"""
import collections
import csv
from pathlib import Path

from shared.config import command_parser
from shared.data import fetch_file, locate, read_text, written
from shared.errors import UserError, reported

RECIPE = __name__.split(".")[-2]
ORIGIN = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"


def speeches(corpus):
    """[(speech, speaker)] of every block of the corpus whose first line is 'NAME:'."""
    found = []
    for block in corpus.split("\n\n"):
        name, _, speech = block.strip().partition("\n")
        if name.endswith(":") and speech.strip():
            found.append((" ".join(speech.split()), name[:-1]))
    return found


def main(argv=None):
    prog = f"python -m recipes.{RECIPE} speakers"
    with reported(prog):
        parser = command_parser(prog, __doc__)
        parser.add_argument("--to", required=True, help="the CSV file to write (text,speaker)")
        parser.add_argument("--speakers", type=int, default=5, help="keep the N most frequent speakers (N >= 2)")
        args = parser.parse_args(argv)
        if args.speakers < 2:
            raise UserError(f"--speakers must be at least 2, got {args.speakers}")
        path = locate("text/tinyshakespeare.txt",
                      lambda cache: fetch_file(ORIGIN, "tinyshakespeare.txt", cache / "text"))
        found = speeches(read_text(path, what="corpus"))
        kept = {name for name, _ in collections.Counter(name for _, name in found).most_common(args.speakers)}
        rows = [row for row in found if row[1] in kept]
        with written(Path(args.to)) as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "speaker"])
            writer.writerows(rows)
        counts = collections.Counter(name for _, name in rows)
        print(f"wrote {len(rows)} speeches to {args.to}: " + ", ".join(f"{n} {c}" for n, c in counts.most_common()))
        return args.to
