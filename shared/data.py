"""Where datasets come from: RECIPES_DATA_DIR, else a download cached in the user's home.

RECIPES_DATA_DIR names a folder laid out like the project's data README shows
(imdb/train.csv, spa-eng/spa.txt, stocks/GOOG.csv, text/tinyshakespeare.txt).
When it is set, recipes read from it and never touch the network. Otherwise
they download once into RECIPES_CACHE_DIR (default ~/.cache/rnn-recipes),
verify a pinned SHA-256 where the source publishes a stable file, and extract
archives without letting a member escape the destination folder.
"""
import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from shared.errors import UserError


def data_root():
    """The RECIPES_DATA_DIR folder, or None when unset."""
    value = os.environ.get("RECIPES_DATA_DIR")
    return Path(value).expanduser() if value else None


def cache_root():
    return Path(os.environ.get("RECIPES_CACHE_DIR", "~/.cache/rnn-recipes")).expanduser()


def locate(relative, fetch):
    """Path of a dataset file: RECIPES_DATA_DIR/relative if set, else the cached download.

    `fetch(cache_dir)` downloads and unpacks into cache_dir and returns the path; it
    runs only when the cache does not hold the file yet.
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


def download(url, destination, expected_sha256=None):
    """Download url to destination atomically; a wrong hash leaves nothing behind."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    print(f"downloading {url} -> {destination}")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as handle:
            shutil.copyfileobj(response, handle)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise UserError(f"could not download {url} ({getattr(error, 'reason', error)}); "
                        "set RECIPES_DATA_DIR to a local copy, or pass your own file") from None
    if expected_sha256 and (found := sha256(partial)) != expected_sha256:
        partial.unlink()
        raise UserError(f"{url}: SHA-256 {found} does not match the pinned {expected_sha256}")
    os.replace(partial, destination)
    return destination


def _inside(root, member_name):
    target = (root / member_name).resolve()
    return target == root or root in target.parents


def extract(archive, destination):
    """Unpack a .tar.gz or .zip into destination, refusing members that would land outside it."""
    archive, destination = Path(archive), Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    root = destination.resolve()
    staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=destination))
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as bundle:
                for name in bundle.namelist():
                    if not _inside(root, name):
                        raise UserError(f"{archive}: member {name!r} would be written outside {destination}")
                bundle.extractall(staging)
        else:
            with tarfile.open(archive) as bundle:
                for member in bundle.getmembers():
                    if not _inside(root, member.name):
                        raise UserError(f"{archive}: member {member.name!r} would be written outside {destination}")
                # The "data" filter also refuses links out of the tree, device files and odd permissions.
                try:
                    bundle.extractall(staging, filter="data")
                except tarfile.FilterError as error:
                    raise UserError(f"{archive}: member {error.tarinfo.name!r} would be written outside "
                                    f"{destination} or is not a plain file ({error})") from None
        for item in staging.iterdir():
            os.replace(item, destination / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return destination


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
