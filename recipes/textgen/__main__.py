"""`python -m recipes.<this folder> [options]` trains on tiny Shakespeare or --text; `... home` trains the HOME
example; `... generate --model DIR` writes text; `... speed --model DIR` times generation against
re-running the whole window."""
from shared.entry import Command, dispatch

COMMANDS = [  # the first is the default
    Command("train", "train:main", "train on tiny Shakespeare (or --text), score the test tail once, save "
                                   "(the default)"),
    Command("home", "train:home", "the classic teaching example: a SimpleRNN learns to spell HOME, in seconds"),
    Command("generate", "generate:main", 'write text: generate --model runs/textgen --prompt "ROMEO:" --length 500'),
    Command("speed", "speed:main", "time generation with the state carried against re-running the text"),
    Command("export", "export:main", "a TensorFlow SavedModel for serving: export --model runs/textgen --to DIR"),
]


def main(argv=None):
    return dispatch(__package__, COMMANDS, argv)


if __name__ == "__main__":
    main()
