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


@dataclasses.dataclass(frozen=True)
class Command:
    name: str     # the word after `python -m recipes.NAME`
    target: str   # "module:function" in the recipe's package; the function takes argv
    summary: str  # one line for the list of commands


def dispatch(package, commands, argv=None):
    """Run the command argv[0] names with the rest of argv; else the first (default) command with all of it."""
    argv = sys.argv[1:] if argv is None else list(argv)
    quiet_start()
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
