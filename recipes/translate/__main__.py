"""`python -m recipes.translate [options]` trains; `... translate --model DIR "¿Todavía está en casa?"` translates."""
from shared.entry import Command, dispatch

COMMANDS = [  # the first is the default
    Command("train", "train:main", "train on the Spanish-English pairs, score the test split once, save "
                                   "(the default)"),
    Command("translate", "translator:main", 'translate: translate --model runs/translate "¿Todavía está en casa?"'),
]


def main(argv=None):
    return dispatch(__package__, COMMANDS, argv)


if __name__ == "__main__":
    main()
