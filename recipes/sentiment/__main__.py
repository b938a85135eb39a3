"""The command line: `python -m recipes.NAME [options]` trains; `... predict --model DIR TEXT...` scores reviews."""
from shared.entry import Command, dispatch

COMMANDS = [  # the first is the default
    Command("train", "train:main", "train on IMDB (or --data), score the test split once, save (the default)"),
    Command("validate", "train:validate_main", "train as `train` does, report validation figures only "
                                               "(for choosing settings; the test split is not scored)"),
    Command("predict", "predict:main", 'score reviews: predict --model runs/sentiment "An absolute joy to watch."'),
    Command("export", "export:main", "a TensorFlow SavedModel for serving: export --model runs/sentiment --to DIR"),
]


def main(argv=None):
    return dispatch(__package__, COMMANDS, argv)


if __name__ == "__main__":
    main()
