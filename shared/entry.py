"""What every recipe's `python -m recipes.NAME` does first: start TensorFlow quietly, pick the command."""
import contextlib
import os
import sys


@contextlib.contextmanager
def _native_stderr_silenced():
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def quiet_start():
    """Load TensorFlow and probe its devices with the C++ start-up lines silenced.

    Those lines (CUDA probing, written before absl logging is initialised) ignore
    TF_CPP_MIN_LOG_LEVEL and would precede every one-line error message.
    """
    # 3: TensorFlow's C++ log lines up to ERROR stay quiet too. The one seen on every run here is an
    # ERROR that is not one ("oneDNN supports DT_BOOL only on platforms with AVX-512"); real failures
    # still raise Python exceptions. Set TF_CPP_MIN_LOG_LEVEL yourself to see them all.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _native_stderr_silenced():
        import tensorflow as tf

        tf.config.list_physical_devices()


def dispatch(argv, commands, train):
    """Run commands[argv[0]] on the rest when argv starts with a command name, else train(argv)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] and argv[0] in commands:
        return commands[argv[0]](argv[1:])
    if argv[:1] == ["train"]:
        argv = argv[1:]
    return train(argv)
