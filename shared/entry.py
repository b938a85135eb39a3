"""What every recipe's `python -m recipes.NAME` does: pick the command, load it, keep TensorFlow quiet.

    COMMANDS = [Command("train", "train:main", "train, evaluate on the test split, save (the default)"),
                Command("predict", "predict:main", 'score reviews: predict --model OUT "A joy."')]

    def main(argv=None):
        return dispatch(__package__, COMMANDS, argv)

A command's module is imported only when it runs, and the modules that load Keras only after
its command line is parsed, so `--help` and option errors answer in well under a second.
The default command's `--help` ends with the list of commands.
"""
import contextlib
import dataclasses
import importlib
import importlib.abc
import importlib.util
import os
import sys

from shared import errors


@dataclasses.dataclass(frozen=True)
class Command:
    name: str     # the word after `python -m recipes.NAME`
    target: str   # "module:function" in the recipe's package; the function takes argv
    summary: str  # one line for the list of commands


def dispatch(package, commands, argv=None):
    """Run the command argv[0] names with the rest of argv; else the first (default) command with all of it.

    argv None: this is the process's command line (`python -m`), and a command that ends on Ctrl-C,
    SIGTERM or a full disk leaves the process at once (see shared.errors.leave_at_once). A reader that
    closes the pipe early (`--help | head -1`) ends the command quietly, exit status 141 like SIGPIPE.
    """
    whole_process = argv is None
    errors.leave_at_once = False
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        check_backend(f"python -m {package}")
        quiet_start()
        try:
            return _run(package, commands, argv)
        finally:
            sys.stdout.flush()  # here, where a closed pipe can still be caught, not at interpreter exit
    except BrokenPipeError:
        _stdout_to_devnull()
        raise SystemExit(141) from None
    except SystemExit:
        if whole_process and errors.leave_at_once:
            _leave_now()
        raise


def _run(package, commands, argv):
    chosen = next((command for command in commands if argv[:1] == [command.name]), None)
    if chosen is not None:
        argv = argv[1:]
    command = chosen or commands[0]
    module_name, _, function_name = command.target.partition(":")
    function = getattr(importlib.import_module(f"{package}.{module_name}"), function_name)
    if command is not commands[0] or not {"-h", "--help"} & set(argv):
        return function(argv)
    try:
        return function(argv)
    except SystemExit as done:
        if done.code in (0, None):  # the help was printed: the other commands follow it
            print(f"\ncommands (python -m {package} COMMAND --help for each one's options):")
            for each in commands:
                print(f"  {each.name:<10} {each.summary}")
        raise


def _stdout_to_devnull():
    # What is still buffered for the closed pipe would raise again when Python flushes it at exit.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _leave_now():
    """Exit with the status already reported, without joining threads or running finalizers: a download's
    worker threads (tfds retries for minutes) would hold the process, and h5py's finalizer crashed on a
    file half-written to a full disk."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(sys.exc_info()[1].code)


BACKENDS = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch", "numpy": "numpy", "openvino": "openvino"}


def check_backend(prog):
    """KERAS_BACKEND, when set, must name a Keras backend that is installed: else one line, exit 2.

    Checked before Keras is imported (importing it with a bad name is a traceback), without importing
    the backend: importlib.util.find_spec only locates it.
    """
    name = os.environ.get("KERAS_BACKEND")
    if name is None:
        return
    installed = [each for each, module in BACKENDS.items() if importlib.util.find_spec(module) is not None]
    if name not in BACKENDS:
        problem = f"KERAS_BACKEND={name!r} is not a Keras backend (expected one of {', '.join(BACKENDS)})"
    elif name not in installed:
        problem = f"KERAS_BACKEND={name}: the {BACKENDS[name]} package is not installed"
    else:
        return
    print(f"{prog}: error: {problem}; installed here: {', '.join(installed) or 'none'}; unset KERAS_BACKEND "
          "for tensorflow", file=sys.stderr)
    raise SystemExit(2)


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


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports `tensorflow`, the first time anything does, with the C++ start-up lines silenced.

    Those lines (CUDA probing, oneDNN notes, written before absl logging is initialised) ignore
    TF_CPP_MIN_LOG_LEVEL and would precede every one-line error message. Wherever TensorFlow
    first loads (Keras, a data pipeline), this finder wraps that one import, probes the devices
    (which prints more of them) and steps aside.
    """

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once: the real finders locate TensorFlow, this one wraps its loader
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        self.loader, spec.loader = spec.loader, self
        return spec

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = module.__spec__.loader = self.loader  # the real one, for whatever asks later
        with _native_stderr_silenced():
            self.loader.exec_module(module)
            module.config.list_physical_devices()


def quiet_start():
    """TensorFlow, once something imports it, starts without its C++ log lines (see _QuietTensorFlowImport).

    Cheap: it imports nothing itself. Call it before anything imports TensorFlow or Keras.
    """
    # 3: TensorFlow's C++ log lines up to ERROR stay quiet too. The one seen on every run here is an
    # ERROR that is not one ("oneDNN supports DT_BOOL only on platforms with AVX-512"); real failures
    # still raise Python exceptions. Set TF_CPP_MIN_LOG_LEVEL yourself to see them all.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules or any(isinstance(finder, _QuietTensorFlowImport) for finder in sys.meta_path):
        return
    sys.meta_path.insert(0, _QuietTensorFlowImport())
