"""Exploding gradients: a SimpleRNN whose recurrent matrix has spectral radius well above 1, trained
from the same start on the same batches with no clipping, per-variable clipnorm and global_clipnorm.

The recurrent matrix starts as an orthogonal matrix times `radius` (Keras's Orthogonal initializer
with gain=radius): every eigenvalue then has modulus `radius`, so its spectral radius is `radius`
(printed as measured). The runs use plain SGD, where a step is the learning rate times the gradient:
an exploding gradient is an exploding step. Adam divides each step by the running size of the
gradient, so one huge gradient moves each weight by about the learning rate; it runs unclipped too,
for comparison.
"""
import time

import keras
import numpy as np

from . import data, loop
from .model import build_classifier


def spectral_radius(model):
    """max |eigenvalue| of the recurrent kernel of the model's layer "recurrent"."""
    _, recurrent_kernel, _ = model.get_layer("recurrent").get_weights()  # kernel, recurrent kernel, bias
    return float(np.abs(np.linalg.eigvals(recurrent_kernel)).max())


def variants(sgd_lr, adam_lr, clipnorm):
    """{name: (optimizer factory, learning rate)}: each run gets a fresh optimizer."""
    found = {"no clipping": (lambda: keras.optimizers.SGD(sgd_lr), sgd_lr)}
    if clipnorm > 0:
        found[f"clipnorm {clipnorm:g}"] = (lambda: keras.optimizers.SGD(sgd_lr, clipnorm=clipnorm), sgd_lr)
        found[f"global_clipnorm {clipnorm:g}"] = (
            lambda: keras.optimizers.SGD(sgd_lr, global_clipnorm=clipnorm), sgd_lr)
    found["Adam, no clipping"] = (lambda: keras.optimizers.Adam(adam_lr), adam_lr)
    return found


def train_logged(model, optimizer, lr, *, length, steps, batch_size, seed):
    """Train on the seed's batches; log per step the loss, the global gradient norm before clipping and
    the update's norm. Stops at a non-finite loss (the weights are NaN from there on)."""
    step = loop.training_step(model, optimizer)
    batches = data.generator(seed, length, data.TRAIN)
    log = {"loss": [], "grad_norm": [], "update_norm": [], "largest_variable_step_over_lr": 0.0}
    names = [v.path for v in model.trainable_variables]
    for taken in range(1, steps + 1):
        loss, _, grad_norms, update_norms = step(*data.first_symbol(batches, batch_size, length))
        if not np.isfinite(loss) or not np.all(np.isfinite(update_norms)):
            log["nan_at_step"] = taken
            break
        log["loss"].append(float(loss))
        log["grad_norm"].append(float(np.sqrt(np.sum(grad_norms.astype("float64") ** 2))))
        log["update_norm"].append(float(np.sqrt(np.sum(update_norms.astype("float64") ** 2))))
        # SGD's step of each variable is lr x its (clipped) gradient: step / lr is the gradient applied.
        log["largest_variable_step_over_lr"] = max(log["largest_variable_step_over_lr"],
                                                   float(update_norms.max()) / lr)
    log["variables"] = names
    return log


def run(*, length, units, radius, sgd_lr, adam_lr, clipnorm, steps, batch_size, val_size, seed):
    """{"runs": {variant: log and results}, ...} for metrics.json, printing a line per variant."""
    keras.utils.set_random_seed(seed)
    initializer = keras.initializers.Orthogonal(gain=radius, seed=seed)
    model = build_classifier("rnn", length, units, recurrent_initializer=initializer)
    start, measured = model.get_weights(), spectral_radius(model)
    x_val, y_val = data.first_symbol(data.generator(seed, length, data.VALIDATION), val_size, length)
    print(f"\n3. exploding gradients: SimpleRNN({units}), recurrent matrix = orthogonal x {radius:g} "
          f"(spectral radius measured: {measured:.3f}), the first-symbol task at T={length}, {steps} steps "
          f"of {batch_size}, SGD lr {sgd_lr:g} (Adam lr {adam_lr:g}); chance {1 / data.CLASSES:.3f}")
    runs = {}
    for name, (make, lr) in variants(sgd_lr, adam_lr, clipnorm).items():
        started = time.perf_counter()
        model.set_weights(start)  # every variant from the same weights, on the same batches
        log = train_logged(model, make(), lr, length=length, steps=steps, batch_size=batch_size, seed=seed)
        finite = "nan_at_step" not in log
        log.update(val_accuracy=loop.accuracy(model, x_val, y_val) if finite else None,
                   radius_after=spectral_radius(model) if finite else None, lr=lr,
                   seconds=time.perf_counter() - started)
        runs[name] = log
        norms = log["grad_norm"]
        ending = (f"validation accuracy {log['val_accuracy']:.3f}, spectral radius now {log['radius_after']:.3g}"
                  if finite else f"the loss became NaN at step {log['nan_at_step']}")
        print(f"   {name:<22} gradient norm: step 1 {norms[0]:.3g}, largest {max(norms):.3g}, median "
              f"{np.median(norms):.3g}; largest step {max(log['update_norm']):.3g}, loss max "
              f"{max(log['loss']):.3g}, last {log['loss'][-1]:.3f}; {ending}", flush=True)
    return {"task": "first_symbol", "length": length, "units": units, "radius": radius,
            "radius_measured": measured, "how": "recurrent_initializer=keras.initializers.Orthogonal(gain=radius)",
            "clipnorm": clipnorm, "sgd_lr": sgd_lr, "adam_lr": adam_lr, "steps": steps, "batch_size": batch_size,
            "chance": 1 / data.CLASSES, "runs": runs}
