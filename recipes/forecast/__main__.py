"""`python -m recipes.forecast [options]` trains; `... predict --model DIR --csv PATH` forecasts the next days."""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter, before it loads

from . import predict, train  # noqa: E402


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["predict"]:
        return predict.main(argv[1:])
    if argv[:1] == ["train"]:
        argv = argv[1:]
    return train.main(argv)


if __name__ == "__main__":
    main()
