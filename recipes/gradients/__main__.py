"""`python -m recipes.<this folder> [options]`: the four experiments, figures in --out (default runs/<this folder>)."""
from shared.entry import Command, dispatch

COMMANDS = [  # the first is the default
    Command("train", "train:main", "run the worked example and the three experiments, figures in --out "
                                   "(the default)"),
]


def main(argv=None):
    return dispatch(__package__, COMMANDS, argv)


if __name__ == "__main__":
    main()
