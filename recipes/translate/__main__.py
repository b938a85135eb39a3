"""`python -m recipes.NAME [options]` (NAME: this folder) trains; `... translate --model DIR "¿Todavía está en casa?"` translates."""
from shared.entry import Command, dispatch

COMMANDS = [  # the first is the default
    Command("train", "train:main", "train on the Spanish-English pairs, score the test split once, save "
                                   "(the default)"),
    Command("translate", "translator:main", 'translate: translate --model runs/translate "¿Todavía está en casa?"'),
    Command("export", "export:main", "a TensorFlow SavedModel for serving (greedy): export --model runs/translate "
                                     "--to DIR"),
]


def main(argv=None):
    return dispatch(__package__, COMMANDS, argv)


if __name__ == "__main__":
    main()
