"""`python -m recipes.textgen [options]` trains on tiny Shakespeare or --text; `... home` trains the HOME
example; `... generate --model DIR` writes text; `... speed --model DIR` times generation against
re-running the whole window."""
from shared.entry import dispatch, quiet_start


def main(argv=None):
    quiet_start()
    from . import generate, speed, train

    return dispatch(argv, {"home": train.home, "generate": generate.main, "speed": speed.main}, train.main)


if __name__ == "__main__":
    main()
