"""The `export` command: a finished run as a TensorFlow SavedModel for serving, written atomically.

A recipe's `export.py` builds a `keras.export.ExportArchive` whose `serve` endpoint takes what a
user has (raw text, prices) and returns what the recipe's inference command prints:

    def main(argv=None):
        return export_main(RECIPE, argv, __doc__, archive)   # archive(model_dir) -> ExportArchive

The SavedModel needs no recipe code, no Keras and no run folder to be served:
`tf.saved_model.load(EXPORT_DIR).serve(...)`, or TensorFlow Serving's `serving_default`.

EXPORT_DIR is written beside itself under a temporary name and renamed into place once complete,
so it never holds a half-written export; what an export killed outright (`kill -9`) left beside it,
a `.NAME.partial-PID` folder whose process is gone, the next export removes, saying so. An existing
EXPORT_DIR is replaced only when it is an earlier export (it holds saved_model.pb) or empty;
anything else there is refused, one line.
Exporting needs the TensorFlow backend (the graph holds TensorFlow string and lookup ops); the
run's model.keras is the same on every backend, so a model trained under JAX exports here too.
"""
import os
import re
import shutil
import sys
from pathlib import Path

from shared.config import command_parser
from shared.errors import NOTHING_WRITTEN, UserError, reported, writing

ENDPOINT = "serve"  # the first endpoint is also the SavedModel's serving_default signature


def export_main(recipe, argv, description, archive):
    """Parse --model and --to, build `archive(model_dir)`, write it to --to atomically; returns the path."""
    prog = f"python -m recipes.{recipe} export"
    with reported(prog, after_interrupt=f"{NOTHING_WRITTEN} (--to is as it was)"):
        parser = command_parser(prog, description)
        parser.add_argument("--model", required=True, help="output folder of a training run")
        parser.add_argument("--to", required=True, metavar="EXPORT_DIR",
                            help="folder for the SavedModel (an earlier export there is replaced)")
        args = parser.parse_args(argv)
        target = check_target(args.to)
        if not Path(args.model).is_dir():  # before Keras loads: the commonest mistake answers at once
            raise UserError(f"{args.model}: no such model directory")
        check_backend()
        written = write(archive(args.model), target)
        print(f"exported {args.model} to {written}/: tf.saved_model.load('{written}').{ENDPOINT}(...), "
              "or TensorFlow Serving's serving_default")
        return written


def check_target(path):
    """EXPORT_DIR as a Path, if it may be (re)placed: absent, empty, or an earlier SavedModel."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise UserError(f"--to {target}: is a file; give a folder for the SavedModel")
    if target.is_dir() and any(target.iterdir()) and not (target / "saved_model.pb").is_file():
        raise UserError(f"--to {target}: holds files and no saved_model.pb (not an earlier export); "
                        "give a new or empty folder")
    if not target.parent.is_dir():
        raise UserError(f"--to {target}: no folder {target.parent}")
    if not os.access(target.parent, os.W_OK):
        raise UserError(f"--to {target}: {target.parent} is not writable")
    return target


def check_backend():
    import keras

    if keras.config.backend() != "tensorflow":
        raise UserError(f"export writes a TensorFlow SavedModel and needs the TensorFlow backend, not "
                        f"{keras.config.backend()}: run it with KERAS_BACKEND=tensorflow (model.keras is the "
                        "same on every backend)")


def write(archive, target):
    """Write `archive` into `target`: first `.NAME.partial-PID` beside it, then renamed into place."""
    target = Path(target)
    remove_stale(target)
    staging = target.with_name(f".{target.name}.partial-{os.getpid()}")
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with writing(target):
            archive.write_out(str(staging), verbose=False)
        # Two renames: an earlier export stays whole under .old until the new one is in place.
        moved = target.exists()
        if moved:
            os.replace(target, old)
        try:
            os.replace(staging, target)
        except BaseException:
            if moved:
                os.replace(old, target)
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return target


def remove_stale(target):
    """Remove what exports to `target` that were killed outright left beside it: `.NAME.partial-PID` (a
    half-written export) and `.NAME.old-PID` (the export it replaced, moved aside for a moment), where
    process PID is gone; one line on stderr each. A live process's folders are left alone: it is
    exporting now. An earlier export caught between its two renames (`.old-PID` there, `target` not)
    is put back in place first.
    """
    stale = re.compile(rf"\.{re.escape(target.name)}\.(partial|old)-(\d+)")
    for path in sorted(target.parent.iterdir()) if target.parent.is_dir() else []:
        found = stale.fullmatch(path.name)
        if not found or not path.is_dir() or _alive(int(found[2])):
            continue
        kind, pid = found[1], found[2]
        if kind == "old" and not target.exists() and (path / "saved_model.pb").is_file():
            os.replace(path, target)
            print(f"note: put back {target}, the earlier export that a killed export (process {pid}, gone) "
                  f"had moved aside to {path.name}", file=sys.stderr)
            continue
        shutil.rmtree(path, ignore_errors=True)
        what = "a half-written export" if kind == "partial" else "the export it was replacing"
        print(f"note: removed {path}, {what} left by an export that was killed (process {pid} is gone)",
              file=sys.stderr)


def _alive(pid):
    """Whether process `pid` exists (another user's process counts: it may be exporting)."""
    if pid == os.getpid():
        return False  # a folder of an earlier process that had this number; this one has written nothing yet
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # gone, or a number no process has
        return False
    except PermissionError:
        return True
    return True


def string_table(keys, values, default, name):
    """A tf.lookup.StaticHashTable (string keys) for an endpoint; track it with archive.track(table)."""
    import tensorflow as tf

    initializer = tf.lookup.KeyValueTensorInitializer(tf.constant(list(keys), tf.string), tf.constant(values))
    return tf.lookup.StaticHashTable(initializer, default_value=default, name=name)
