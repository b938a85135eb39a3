"""`python -m recipes.textgen [options]` trains; `... generate --model DIR` writes text;
`... speed --model DIR` times generation against re-running the whole window."""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter, before it loads

from . import generate, speed, train  # noqa: E402


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["generate"]:
        return generate.main(argv[1:])
    if argv[:1] == ["speed"]:
        return speed.main(argv[1:])
    if argv[:1] == ["train"]:
        argv = argv[1:]
    return train.main(argv)


if __name__ == "__main__":
    main()
