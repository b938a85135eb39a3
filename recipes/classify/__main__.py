"""`python -m recipes.classify [options]` trains; `... predict --model DIR TEXT...` classifies texts."""
from shared.entry import Command, dispatch

COMMANDS = [  # the first is the default
    Command("train", "train:main", "train on a labelled CSV (default: IMDB), score the test split once, save"),
    Command("predict", "predict:main", 'classify texts: predict --model runs/classify "A joy to watch."'),
    Command("export", "export:main", "a TensorFlow SavedModel for serving: export --model runs/classify --to DIR"),
    Command("speakers", "speakers:main", "write a 5-class example CSV: which character of tiny Shakespeare speaks"),
]


def main(argv=None):
    return dispatch(__package__, COMMANDS, argv)


if __name__ == "__main__":
    main()
