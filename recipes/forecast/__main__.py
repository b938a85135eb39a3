"""`python -m recipes.NAME [options]` (NAME: this folder) trains; `... predict --model DIR --csv PATH`
forecasts the next days."""
from shared.entry import Command, dispatch

COMMANDS = [  # the first is the default
    Command("train", "train:main", "train on daily prices, score the test period once beside naive "
                                   "forecasts, save (the default); --backtest N: N folds, a model each"),
    Command("predict", "predict:main", "forecast the days after a CSV: predict --model runs/forecast --csv PRICES.csv"),
    Command("export", "export:main", "a TensorFlow SavedModel for serving: export --model runs/forecast --to DIR"),
]


def main(argv=None):
    return dispatch(__package__, COMMANDS, argv)


if __name__ == "__main__":
    main()
