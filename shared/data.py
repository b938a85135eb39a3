"""Where datasets come from: RECIPES_DATA_DIR, else the ecosystem's loaders, cached in the user's home.

RECIPES_DATA_DIR names a folder laid out like the project's data README shows
(imdb/train.csv, spa-eng/spa.txt, stocks/GOOG.csv, text/tinyshakespeare.txt).
When it is set, recipes read from it and never touch the network. Otherwise
they fetch once into RECIPES_CACHE_DIR (default ~/.cache/rnn-recipes):
datasets in the TensorFlow Datasets catalog with `tfds.load` (`catalog`), which
verifies the checksums it registers for its sources; other files with
`keras.utils.get_file` (`fetch_file`), which checks a pinned SHA-256 where the
source publishes a stable file and extracts archives, skipping members that
would land outside the folder (refused here, in one line). A recipe writes
what it fetched into the same layout inside the cache, so its readers see the
same files whichever way they came.
"""
import contextlib
import csv
import hashlib
import io
import itertools
import math
import os
import shutil
import socket
import threading
import urllib.parse
import warnings
from pathlib import Path

from shared.errors import UserError, is_full_disk

OFFLINE_ADVICE = ("without a network, set RECIPES_DATA_DIR to a folder laid out like the data README "
                  "(imdb/train.csv, spa-eng/spa.txt, stocks/TICKER.csv, text/tinyshakespeare.txt), "
                  "or pass your own file")


def data_root():
    """The RECIPES_DATA_DIR folder, or None when unset."""
    value = os.environ.get("RECIPES_DATA_DIR")
    return Path(value).expanduser() if value else None


def cache_root():
    """RECIPES_CACHE_DIR (default ~/.cache/rnn-recipes), created; a one-line UserError if it cannot be."""
    value = os.environ.get("RECIPES_CACHE_DIR", "~/.cache/rnn-recipes")
    path = Path(value).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"RECIPES_CACHE_DIR={value}: cannot create the folder {path} "
                        f"({error.strerror or error}); set RECIPES_CACHE_DIR to a folder you can write") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f"RECIPES_CACHE_DIR={value}: the folder {path} is not writable; "
                        "set RECIPES_CACHE_DIR to a folder you can write")
    return path


PROBE_SECONDS = 8  # a reachable host answers a TCP connect in well under a second


def check_reachable(url, what):
    """A one-line UserError within PROBE_SECONDS when the host of `url` takes no TCP connection.

    The loaders (tfds, keras.utils.get_file) retry an unreachable host for minutes; this answers
    first. The connect runs in a daemon thread so that a hanging name lookup is bounded too,
    and Ctrl-C in the wait ends it at once. file:// and other local URLs are not probed.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https", "ftp") or not parts.hostname:
        return
    port = parts.port or {"http": 80, "https": 443, "ftp": 21}[parts.scheme]
    outcome = []

    def connect():
        try:
            socket.create_connection((parts.hostname, port), timeout=PROBE_SECONDS).close()
            outcome.append(None)
        except OSError as error:
            outcome.append(error)

    probe = threading.Thread(target=connect, name="reachability probe", daemon=True)
    probe.start()
    probe.join(PROBE_SECONDS)
    if outcome == [None]:
        return
    reason = (getattr(outcome[0], "strerror", None) or str(outcome[0])) if outcome else "no answer"
    raise UserError(f"cannot reach {parts.hostname}:{port} to download {what} ({reason}, within "
                    f"{PROBE_SECONDS} s); {OFFLINE_ADVICE}")


def locate(relative, fetch):
    """Path of a dataset file: RECIPES_DATA_DIR/relative if set, else the cached download.

    `fetch(cache_dir)` downloads into cache_dir (`catalog`, `fetch_file`) and returns the
    path; it runs only when RECIPES_DATA_DIR is unset, and should return at once when the
    cache already holds the file.
    """
    root = data_root()
    if root is not None:
        path = root / relative
        if not path.exists():
            raise UserError(f"RECIPES_DATA_DIR={root} has no {relative}; unset it to download, "
                            "or point it at a folder laid out like the data README")
        return path
    return fetch(cache_root())


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_file(origin, name, folder, expected_sha256=None, extract=False):
    """`keras.utils.get_file(name, origin)` into folder: downloaded once, its SHA-256 checked when
    pinned, an archive extracted into folder/<name up to its first dot>_extracted.

    Returns the file (or the extraction folder). Failures are one-line UserErrors: an
    unreachable origin, a wrong hash (the file is removed), an archive member that would
    land outside the folder (get_file skips it with a warning; here the whole archive is
    refused and nothing of it stays).
    """
    import keras  # here: only a download needs it

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)  # get_file falls back to /tmp/.keras for a missing folder
    target = folder / name
    if not target.exists():  # else get_file finds it in the cache and stays offline
        check_reachable(origin, name)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            found = Path(keras.utils.get_file(name, origin, file_hash=expected_sha256, hash_algorithm="sha256",
                                              cache_dir=str(folder), cache_subdir="", extract=extract))
    except ValueError as error:  # get_file's hash mismatch, the file left in place
        if "hash" not in str(error):
            raise
        target.unlink(missing_ok=True)
        raise UserError(f"{origin}: the SHA-256 does not match the pinned {expected_sha256}") from None
    except Exception as error:  # get_file re-raises fetch failures as a bare Exception
        target.unlink(missing_ok=True)
        raise UserError(f"could not download {origin} ({_reason(error)}); {OFFLINE_ADVICE}") from None
    except BaseException:  # Ctrl-C, SIGTERM: get_file removes its own partial file; this is in case it did not
        target.unlink(missing_ok=True)
        raise
    skipped = [str(w.message) for w in caught if "Skipping invalid path" in str(w.message)]
    failed = [str(w.message) for w in caught if "Could not extract" in str(w.message)]
    if skipped or failed:
        if extract and found.is_dir():
            shutil.rmtree(found)
        target.unlink(missing_ok=True)
        what = skipped[0].split(": ", 1)[-1].rstrip(".") if skipped else "its content"
        raise UserError(f"{origin}: archive member {what} would be written outside {folder} "
                        "or is not a plain file: archive refused" if skipped
                        else f"{origin}: not an archive that can be extracted")
    return found


def _reason(error):
    # get_file's message: "URL fetch failure on URL: CODE -- REASON"
    return str(error).rsplit(" -- ", 1)[-1] if " -- " in str(error) else str(error)


def catalog(name, split, cache):
    """The examples of a TensorFlow Datasets catalog split, as numpy dicts in the catalog's order.

    `tfds.load` downloads the source once into cache/tensorflow_datasets, checks it
    against the checksums tfds registers for it, and prepares the split. Text features
    come out as bytes. Before a download, the source's host is probed (check_reachable):
    tfds retries an unreachable one for minutes. tfds waits for its download threads, so it
    runs in a thread of its own here and Ctrl-C ends the wait at once; a failed or interrupted
    fetch removes the partial files it began (tfds's `*.tmp.*` and `*.incomplete*`).
    """
    import tensorflow_datasets as tfds  # here: TensorFlow loads only when a dataset is fetched

    folder = Path(cache) / "tensorflow_datasets"
    if not _prepared(folder, name):
        for url in sorted(getattr(tfds.builder_cls(name), "url_infos", None) or {}):
            check_reachable(url, f"the {name} dataset")
    before = set(_partial_files(folder))
    try:
        dataset = _in_thread(lambda: tfds.load(name, split=split, data_dir=str(folder), shuffle_files=False))
        return list(tfds.as_numpy(dataset))
    except BaseException as error:
        for partial in set(_partial_files(folder)) - before:
            if partial.is_dir():
                shutil.rmtree(partial, ignore_errors=True)
            else:
                partial.unlink(missing_ok=True)
        if isinstance(error, (OSError, ConnectionError)) and not is_full_disk(error):
            raise UserError(f"could not download the {name} dataset ({error}); {OFFLINE_ADVICE}") from None
        raise


def _prepared(folder, name):
    """Whether tfds has prepared `name` in folder: its dataset_info.json, outside any unfinished build."""
    return any("incomplete" not in str(info) for info in (folder / name).glob("**/dataset_info.json"))


def _partial_files(folder):
    """What tfds writes while a download or build is under way (renamed when it completes)."""
    if not folder.is_dir():
        return []
    return [path for path in folder.rglob("*") if ".tmp." in path.name or "incomplete" in path.name]


def _in_thread(function):
    """function() in a daemon thread, its result or exception passed on; Ctrl-C in the wait raises at once."""
    outcome = {}

    def body():
        try:
            outcome["value"] = function()
        except BaseException as error:  # noqa: BLE001  (passed on to the caller's thread)
            outcome["error"] = error

    worker = threading.Thread(target=body, name="download", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.2)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@contextlib.contextmanager
def written(path):
    """A file written under a temporary name and renamed into place: a killed fetch leaves no half file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    try:
        with open(partial, "w", encoding="utf-8", newline="") as handle:
            yield handle
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def read_text(path, encoding="utf-8", what="file"):
    """A whole text file; missing, empty or undecodable files get a one-line UserError with the line."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such {what}")
    raw = path.read_bytes()
    if not raw.strip():
        raise UserError(f"{path}: the {what} is empty")
    try:
        # A byte-order mark (Excel's "CSV UTF-8" writes one) is not content: "\ufeffreview" is "review".
        return raw.decode(encoding).removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise UserError(f"{path}: line {line}: bytes that are not valid {encoding} "
                        f"(byte {error.start}); save the file as {encoding}") from None
    except LookupError:
        raise UserError(f"unknown text encoding {encoding!r}") from None


def check_held_out(labels, fraction, flag, noun, name=lambda label: f"of class {label!r}", held="validation",
                   kept="training"):
    """A UserError naming `flag` when holding out `fraction` of each class (rounded, as a stratified split
    takes it) would leave a class with no example on one side, though some other share would not.

    labels: (examples,) class of each; name(label): the words after "200 reviews" that say which. When no share can
    work (a class with a single example), the data is to blame and the caller's split check says so.
    """
    import numpy as np

    classes, counts = np.unique(np.asarray(labels), return_counts=True)
    if len(classes) < 2 or counts.min() < 2:
        return
    fewest = int(counts.min())
    # round(count * f) is in [1, count - 1] for every class when 0.5 / fewest < f < 1 - 0.5 / fewest.
    low, high = math.ceil(0.5 / fewest * 1e4) / 1e4, math.floor((1 - 0.5 / fewest) * 1e4) / 1e4
    for label, count in zip(classes, counts):
        taken = round(int(count) * fraction)
        if 0 < taken < count:
            continue
        what = (f"holds out all {count} {noun} {name(label)}, leaving none for {kept}" if taken == count
                else f"holds out none of the {count} {noun} {name(label)} for {held} "
                     f"({count} x {fraction:g} rounds to 0)")
        raise UserError(f"{flag} {fraction:g} {what}: expected a share above {low:g} and below {high:g} "
                        f"for these {len(labels)} {noun}" + ("" if taken else f", or more {noun}"))


def csv_rows(path, text):
    """(line, row) for each row of CSV `text` read from `path`: `line` is where the row starts (a quoted
    field can span lines), fields of any size. One-line UserErrors name the line: a quote never closed,
    which would otherwise swallow the rest of the file into one field (Python's csv reader takes it
    silently), names the line where it opened."""
    csv.field_size_limit(2 ** 31 - 1)  # a long review is a text, not an error (the default limit is 128 KB)
    reader = csv.reader(io.StringIO(text, newline=""))
    start, pending = 1, None
    try:
        for row in reader:
            if pending is not None:
                yield pending
            pending, start = (start, row), reader.line_num + 1
    except csv.Error as error:
        raise UserError(f"{path}: line {start}: {error}") from None
    if pending is not None:
        opened = _unclosed_quote(text, pending[0])  # only the last row can have run to the end of the file
        if opened is not None:
            raise UserError(f'{path}: line {opened}: unclosed quote: the field opened with " here never closes '
                            '(it would swallow the rest of the file); close it with " (a quote inside a quoted '
                            'field is written "")')
        yield pending


def _unclosed_quote(text, first_line):
    """The line where a quoted field opens and never closes, reading `text` from line `first_line` as the
    csv module's default dialect does (a quote opens a field only at its start; "" inside is one quote); None."""
    quoted, opened = False, None
    lines = itertools.islice(io.StringIO(text, newline=""), first_line - 1, None)  # csv's lines, numbered alike
    for number, line in enumerate(lines, first_line):
        at_start = True  # a field starts each line (outside quotes)
        index = 0
        while index < len(line):
            char = line[index]
            if quoted:
                if char == '"' and line[index + 1: index + 2] == '"':
                    index += 1  # an escaped quote
                elif char == '"':
                    quoted = False
                at_start = False
            elif char == '"' and at_start:
                quoted, opened, at_start = True, number, False
            else:
                at_start = char in ",\r\n"
            index += 1
    return opened if quoted else None


def prefetched(dataset, batches=2):
    """`dataset` (tf.data) preparing `batches` elements ahead, with tf.data's autotuning off.

    Autotuning gives every iterator a thread that sleeps up to a minute between
    rounds, and deleting the iterator waits for that sleep to end (TensorFlow 2.21).
    Keras deletes the training and validation iterators at every epoch boundary, so
    with autotuning on, training stood still, CPU idle, for up to a minute per epoch
    (30-55 s measured in the sentiment recipe). These pipelines do little work per
    batch: a fixed buffer of two keeps the model fed.
    """
    import tensorflow as tf  # here, not at the top: JAX and torch runs never import TensorFlow

    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.prefetch(batches).with_options(options)


# The epoch whose order slices() pipelines draw: a TensorFlow variable, read each time an epoch's
# iterator starts, set by shared.training.fit at every epoch's beginning.
_shuffle_epoch = None


def _epoch_variable():
    global _shuffle_epoch
    import tensorflow as tf

    if _shuffle_epoch is None:
        with tf.init_scope():  # outside any function or strategy: one plain variable per process
            _shuffle_epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="shuffle_epoch")
    return _shuffle_epoch


_current_epoch = 0  # the same, for pipelines that shuffle in Python (shuffle_epoch())


def set_shuffle_epoch(epoch):
    """Make shuffled pipelines (slices(), shuffle_epoch()) iterate epoch `epoch`'s order from now on."""
    global _current_epoch
    _current_epoch = epoch
    if _shuffle_epoch is not None:
        _shuffle_epoch.assign(epoch)


def shuffle_epoch():
    """The epoch a Python-side shuffle (a generator's) should draw its order for: seed it with (seed, this)."""
    return _current_epoch


def slices(elements, shuffle_seed=None):
    """A tf.data pipeline of `elements` (arrays, tensors or RaggedTensors, or a tuple of them) sliced
    along the first axis: in order, or with a seed in an order that is a function of (seed, epoch).

    tf.data's own `shuffle(seed=...)` draws each epoch's order from a generator that restarts in
    a new process, so a run resumed at epoch 3 would see epoch 0's order again; here the order of
    epoch e is argsort(stateless_uniform(seed=(seed, e))), the same in any process. A RaggedTensor's
    rows come out as plain 1-D tensors.
    """
    import tensorflow as tf

    elements = tf.nest.map_structure(
        lambda part: part if isinstance(part, tf.RaggedTensor) else tf.convert_to_tensor(part), elements)
    count = int(tf.nest.flatten(elements)[0].shape[0])
    if shuffle_seed is None:
        order = tf.data.Dataset.range(count)
    else:
        epoch = _epoch_variable()

        def epoch_order(_):
            seed = tf.stack([tf.constant(shuffle_seed, tf.int64), epoch.read_value()])
            keys = tf.random.stateless_uniform([count], seed=seed)
            return tf.data.Dataset.from_tensor_slices(tf.argsort(keys))  # (count,) a permutation

        order = tf.data.Dataset.from_tensors(0).flat_map(epoch_order)
    return order.map(lambda index: tf.nest.map_structure(lambda tensor: tf.gather(tensor, index), elements))
