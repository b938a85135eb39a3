"""Which devices are here, how to spread training over them, and mixed precision."""
import os
import platform

import keras


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


def strategy(name="auto"):
    """A tf.distribute strategy: the default one for a single device, mirrored across several GPUs."""
    import tensorflow as tf

    if name == "mirrored" or (name == "auto" and gpu_count() > 1):
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def set_mixed_precision(enabled):
    """Set the global dtype policy; returns its name. Layers built afterwards compute in it."""
    if not enabled:
        policy = "float32"
    else:
        # float16 needs tensor cores to pay off; on CPU bfloat16 is the one that is supported at all.
        policy = "mixed_float16" if gpu_count() else "mixed_bfloat16"
    keras.config.set_dtype_policy(policy)
    return policy
