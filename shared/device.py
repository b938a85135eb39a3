"""Which devices are here, how to spread training over them, and mixed precision.

Strategies (`--strategy`, TensorFlow backend):
  auto         one device, or MirroredStrategy when this machine has several GPUs
  mirrored     MirroredStrategy: one replica per local GPU (per logical CPU device when
               there is no GPU and several are configured, which tests use)
  multiworker  MultiWorkerMirroredStrategy across the machines listed in TF_CONFIG;
               every machine runs the same command, the chief writes the results
Other Keras backends (JAX, torch) train on one device: `strategy()` returns a
stand-in with one replica and a scope that does nothing.
"""
import contextlib
import json
import os
import platform

import keras

from shared.config import STRATEGIES
from shared.errors import UserError

TF_CONFIG_EXAMPLE = ('TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                     '"task": {"type": "worker", "index": 0}}\'')


def gpu_count():
    """GPUs visible to the current Keras backend."""
    backend = keras.config.backend()
    if backend == "tensorflow":
        import tensorflow as tf
        return len(tf.config.list_physical_devices("GPU"))
    if backend == "jax":
        import jax
        return sum(d.platform == "gpu" for d in jax.devices())
    if backend == "torch":
        import torch
        return torch.cuda.device_count()
    return 0


def describe():
    """A short human description of where training runs, for metrics.json and READMEs."""
    gpus = gpu_count()
    cpu = f"{os.cpu_count()} CPU cores ({platform.machine()})"
    if not gpus:
        return f"{cpu}, no GPU, {keras.config.backend()} backend"
    names = []
    if keras.config.backend() == "tensorflow":
        import tensorflow as tf
        for gpu in tf.config.list_physical_devices("GPU"):
            names.append(tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name))
    return f"{gpus} GPU ({', '.join(names) or 'GPU'}), {cpu}, {keras.config.backend()} backend"


class SingleDevice:
    """What `strategy()` gives on backends without tf.distribute: one replica, a scope that does nothing."""

    num_replicas_in_sync = 1

    def scope(self):
        return contextlib.nullcontext()


# One strategy of each kind per process, reused by every run in it: TensorFlow allows only one
# multiworker strategy, and two mirrored ones can give their collectives the same keys (a later
# run then fails with "Shape mismatch in the collective instance").
_created = {}


def strategy(name="auto"):
    """The distribution strategy `name` (one of STRATEGIES) asks for; a UserError when it cannot be had."""
    if name not in STRATEGIES:
        raise UserError(f"--strategy must be one of {', '.join(STRATEGIES)}, got {name!r}")
    backend = keras.config.backend()
    if backend != "tensorflow":
        if name != "auto":
            raise UserError(f"--strategy {name} needs the TensorFlow backend (KERAS_BACKEND is {backend}); "
                            "other backends train on one device: use --strategy auto")
        return SingleDevice()
    import tensorflow as tf

    if name == "multiworker":
        cluster_role()  # a readable error for a missing or malformed TF_CONFIG, before TensorFlow's
        if "multiworker" not in _created:
            try:
                _created["multiworker"] = tf.distribute.MultiWorkerMirroredStrategy()
            except RuntimeError as error:  # "Collective ops must be configured at program startup"
                raise RuntimeError(f"{error}: create the multiworker strategy (shared.training.setup) "
                                   "before running any TensorFlow operation") from None
        return _created["multiworker"]
    if name == "mirrored" or (name == "auto" and gpu_count() > 1):
        devices = tuple(_local_devices(tf))
        if devices not in _created:
            _created[devices] = tf.distribute.MirroredStrategy(devices=list(devices))
        return _created[devices]
    return tf.distribute.get_strategy()


def _local_devices(tf):
    """Every local GPU; without GPUs, every logical CPU device (one, unless configured otherwise)."""
    gpus = tf.config.list_logical_devices("GPU")
    cpus = tf.config.list_logical_devices("CPU")
    return [d.name for d in (gpus or cpus)]


def cluster_role(environ=None):
    """(task type, index, is chief) of this machine from TF_CONFIG; a one-line UserError if it is unusable."""
    raw = (os.environ if environ is None else environ).get("TF_CONFIG", "").strip()
    if not raw:
        raise UserError(f"--strategy multiworker needs TF_CONFIG on every machine, e.g. {TF_CONFIG_EXAMPLE} "
                        "(README: Several devices and machines)")
    try:
        spec = json.loads(raw)
        cluster, task = spec["cluster"], spec["task"]
        kind, index = task["type"], task["index"]
        members = cluster[kind]
    except (ValueError, KeyError, TypeError):
        raise UserError(f"TF_CONFIG must be JSON like {TF_CONFIG_EXAMPLE.removeprefix('TF_CONFIG=')}, "
                        f"naming this machine's task in the cluster; got {raw[:80]}") from None
    if kind not in ("chief", "worker"):
        raise UserError(f"TF_CONFIG task type {kind!r}: multiworker training runs 'worker' tasks (and one 'chief')")
    if not isinstance(members, list) or not isinstance(index, int) or not 0 <= index < len(members):
        raise UserError(f"TF_CONFIG task index {index!r} is not in the cluster's {kind} list {members!r}")
    chief = kind == "chief" or ("chief" not in cluster and index == 0)
    return kind, index, chief


def is_chief(strategy):
    """Whether this process writes the run's results: always, except on non-chief multiworker workers."""
    return bool(getattr(getattr(strategy, "extended", None), "should_checkpoint", True))


def worker_name(strategy):
    """'worker-1' for a multiworker task, '' for a single process."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return ""
    return f"{resolver.task_type}-{resolver.task_id}"


def set_mixed_precision(enabled):
    """Set the global dtype policy; returns its name. Layers built afterwards compute in it."""
    if not enabled:
        policy = "float32"
    else:
        # float16 needs tensor cores to pay off; on CPU bfloat16 is the one that is supported at all.
        policy = "mixed_float16" if gpu_count() else "mixed_bfloat16"
    keras.config.set_dtype_policy(policy)
    return policy
