"""Writing a run's results so that an interrupted or failed run never replaces a good one.

Everything is first written under a temporary name in the same folder, then
renamed into place (a rename is atomic within one file system). model.keras
is renamed last: a folder holds a usable model only once its config is in place.
With the model goes SHA256SUMS (the `sha256sum` format: `sha256sum -c SHA256SUMS`
checks it), the fingerprints of the model and the files published with it, so a file
edited or damaged afterwards is named instead of silently changing what the model does.
"""
import os
import zipfile
from pathlib import Path

from shared.data import sha256
from shared.errors import UserError, writing


def publish(out_dir, files, model=None, stale=()):
    """Write {name: text or bytes} files, then the Keras model as out_dir/model.keras, each atomically.

    A failure (a full disk: OSError ENOSPC naming the file) removes every temporary file and
    leaves the folder's earlier files as they were.

    `stale`: names of an earlier run's files that describe the model being replaced (its metrics),
    removed once the new files are in place, so a folder never pairs a new model with old figures.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    staged = []
    try:
        for name, text in files.items():
            temporary = out_dir / f".{name}.partial"
            staged.append((temporary, out_dir / name))
            with writing(out_dir / name):
                if isinstance(text, bytes):
                    temporary.write_bytes(text)
                else:
                    temporary.write_text(text, encoding="utf-8")
        if model is not None:
            model_file = out_dir / ".model.partial.keras"  # Keras insists on the .keras suffix
            staged.append((model_file, out_dir / "model.keras"))
            with writing(out_dir / "model.keras"):
                model.save(model_file)
            sums = out_dir / f".{CHECKSUMS}.partial"
            staged.insert(-1, (sums, out_dir / CHECKSUMS))  # in place before the model, like the rest
            with writing(out_dir / CHECKSUMS):
                sums.write_text("".join(f"{sha256(partial)}  {final.name}\n" for partial, final in staged
                                        if partial != sums), encoding="utf-8")
    except BaseException:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
        raise
    for temporary, final in staged:
        os.replace(temporary, final)
    for name in stale:
        if name not in files:
            (out_dir / name).unlink(missing_ok=True)


CHECKSUMS = "SHA256SUMS"  # written with the model by publish(), read by check_unchanged()


def check_unchanged(model_dir, names):
    """A one-line UserError if a file among `names` differs from its fingerprint in SHA256SUMS.

    An edited config.json (a changed window or units), vocabulary or scaler no longer matches
    the model trained with it: the fix is to restore the file or train again. A folder
    without SHA256SUMS (written by hand, or by an older version) is not checked.
    """
    sums = Path(model_dir) / CHECKSUMS
    if not sums.is_file():
        return
    expected = {}
    for line in sums.read_text(encoding="utf-8", errors="replace").splitlines():
        digest, _, name = line.partition("  ")
        expected[name] = digest
    for name in names:
        path = Path(model_dir) / name
        if name in expected and path.is_file() and sha256(path) != expected[name]:
            raise UserError(f"{path}: changed since the model was saved (its SHA-256 differs from the one in "
                            f"{sums.name}); settings for using a model are the command's options: restore "
                            "the file or train again")


def load_model(model_dir):
    """The model saved by publish(); a UserError (not a traceback) if it cannot be read."""
    import keras

    path = Path(model_dir) / "model.keras"
    if path.is_file() and not zipfile.is_zipfile(path):  # a .keras file is a zip archive
        raise UserError(f"{path}: not a complete .keras file (truncated or damaged, {path.stat().st_size:,} "
                        "bytes); train again to write it")
    try:
        # compile=False: predicting needs no optimizer, and a model saved compiled names the shared
        # Adam subclass, which an inference command (it never imports shared.optimizer) cannot rebuild.
        return keras.saving.load_model(path, compile=False)
    except Exception as error:  # a corrupt or foreign file: say which and why, in one line
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"{path}: cannot load the model ({first_line})") from None


def check_writable(out_dir):
    """A one-line UserError unless out_dir is, or could be created as, a folder this process can write.

    Creates nothing: a run that stops on bad data later leaves no empty folder behind.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir}: exists and is not a folder")
    existing = out_dir
    while not existing.exists():  # the nearest folder that exists: it must let us create the rest
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"--out {out_dir}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"--out {out_dir}: {existing} is not writable; choose another --out")
