"""The small training loop and the gradient probes: the only backend-specific code of the recipe.

Every experiment trains many small models for a few hundred steps each, on fresh batches, and
needs what Keras's fit does not report: the gradient norms of each step before the optimizer clips
them, the size of the update it applied, and the gradient of the loss with respect to the inputs,
dL/dx_t. Keras 3 has no backend-neutral gradient call, so each backend gets its own few lines
(Keras's documented custom-loop patterns): tf.GradientTape under TensorFlow, jax.value_and_grad
over `model.stateless_call` under JAX, `loss.backward()` under torch. The models and optimizers
are plain Keras 3.
"""
import keras
import numpy as np

from shared.errors import UserError

BACKENDS = ("tensorflow", "jax", "torch")


def _backend():
    backend = keras.config.backend()
    if backend not in BACKENDS:
        raise UserError(f"the gradients recipe runs under KERAS_BACKEND={' or '.join(BACKENDS)}, not {backend}: "
                        "its probes need the backend's own gradient call")
    return backend


def example_losses(y, logits):
    """(batch,) cross-entropy of each example's logits (batch, classes) against its class y (batch,)."""
    return keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)


def training_step(model, optimizer):
    """A compiled step(x, y): one optimizer update on the batch's mean loss.

    Returns (loss, accuracy, gradient norms per variable before clipping, update norm per variable).
    The accuracy is the batch's before the update: a fresh batch the model has not learnt from yet.
    Keras clips inside apply_gradients when the optimizer has clipnorm or global_clipnorm.
    """
    optimizer.build(model.trainable_variables)
    return {"jax": _jax_step, "torch": _torch_step, "tensorflow": _tf_step}[_backend()](model, optimizer)


def _tf_step(model, optimizer):
    import tensorflow as tf

    variables = model.trainable_variables

    @tf.function(reduce_retracing=True)
    def step(x, y):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)  # (batch, classes)
            loss = tf.reduce_mean(example_losses(y, logits))
        grads = tape.gradient(loss, variables)
        before = [tf.identity(v) for v in variables]
        optimizer.apply_gradients(zip(grads, variables))
        grad_norms = tf.stack([tf.norm(g) for g in grads])  # (variables,)
        update_norms = tf.stack([tf.norm(v - old) for v, old in zip(variables, before)])  # (variables,)
        correct = tf.equal(tf.argmax(logits, axis=-1, output_type=y.dtype), y)
        return loss, tf.reduce_mean(tf.cast(correct, tf.float32)), grad_norms, update_norms

    return lambda x, y: [t.numpy() for t in step(tf.constant(x), tf.constant(y))]


def _jax_step(model, optimizer):
    import jax
    import jax.numpy as jnp

    trainable, fixed = model.trainable_variables, model.non_trainable_variables

    def loss_of(values, fixed_values, x, y):
        logits, fixed_values = model.stateless_call(values, fixed_values, x, training=True)  # (batch, classes)
        return jnp.mean(example_losses(y, logits)), (logits, fixed_values)

    @jax.jit
    def step(values, fixed_values, optimizer_values, x, y):
        (loss, (logits, fixed_values)), grads = jax.value_and_grad(loss_of, has_aux=True)(values, fixed_values, x, y)
        new_values, optimizer_values = optimizer.stateless_apply(optimizer_values, grads, values)  # clips here
        grad_norms = jnp.stack([jnp.linalg.norm(g) for g in grads])  # (variables,)
        update_norms = jnp.stack([jnp.linalg.norm(new - old) for new, old in zip(new_values, values)])
        correct = jnp.mean((jnp.argmax(logits, axis=-1) == y).astype("float32"))
        return new_values, fixed_values, optimizer_values, (loss, correct, grad_norms, update_norms)

    def run(x, y):
        state = [[v.value for v in group] for group in (trainable, fixed, optimizer.variables)]
        *state, results = step(*state, jnp.asarray(x), jnp.asarray(y))
        # Back into the Keras variables: the probes and accuracy() call the model itself.
        for group, values in zip((trainable, fixed, optimizer.variables), state):
            for variable, value in zip(group, values):
                variable.assign(value)
        return [np.asarray(t) for t in results]

    return run


def _torch_step(model, optimizer):
    import torch

    variables = model.trainable_variables

    def run(x, y):
        y = keras.ops.convert_to_tensor(y)
        logits = model(keras.ops.convert_to_tensor(x), training=True)  # (batch, classes)
        loss = keras.ops.mean(example_losses(y, logits))
        model.zero_grad()
        loss.backward()
        grads = [v.value.grad for v in variables]
        with torch.no_grad():
            before = [v.value.clone() for v in variables]
            optimizer.apply(grads, variables)  # clips here
            grad_norms = torch.stack([torch.linalg.vector_norm(g) for g in grads])  # (variables,)
            update_norms = torch.stack([torch.linalg.vector_norm(v.value - old) for v, old in zip(variables, before)])
            correct = (logits.argmax(dim=-1) == y).float().mean()
        return [keras.ops.convert_to_numpy(t) for t in (loss.detach(), correct, grad_norms, update_norms)]

    return run


def accuracy(model, x, y, batch_size=512):
    """Share of examples whose largest logit is their class."""
    logits = np.concatenate([keras.ops.convert_to_numpy(model(x[i:i + batch_size], training=False))
                             for i in range(0, len(x), batch_size)])
    return float(np.mean(logits.argmax(-1) == y))


def input_gradient_norms(model, x, y):
    """(time,) float64: ||dl/dx_t|| for each input step t, averaged over the examples.

    l is each example's own loss (summed over the batch, examples do not interact), so each
    row of the gradient is that example's dl/dx_t, (batch, time, features). The norm is taken in
    float64: squaring a float32 gradient of 1e-25 would underflow to 0.
    """
    backend = _backend()
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        grad = jax.grad(lambda inputs: jnp.sum(example_losses(jnp.asarray(y), model(inputs, training=False))))(
            jnp.asarray(x))
    elif backend == "torch":
        x = keras.ops.convert_to_tensor(x).requires_grad_(True)
        keras.ops.sum(example_losses(keras.ops.convert_to_tensor(y), model(x, training=False))).backward()
        grad = keras.ops.convert_to_numpy(x.grad)
    else:
        import tensorflow as tf

        x = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(example_losses(tf.constant(y), model(x, training=False)))
        grad = tape.gradient(loss, x)
    grad = np.asarray(grad, dtype=np.float64)  # (batch, time, features)
    return np.linalg.norm(grad, axis=-1).mean(axis=0)


def machine():
    """Where the figures were measured, for metrics.json."""
    import os
    import platform

    from shared.device import gpu_count

    found = {"cpu_cores": os.cpu_count(), "machine": platform.machine(), "gpus": gpu_count(),
             "python": platform.python_version(), "keras": keras.__version__, "backend": keras.config.backend()}
    if keras.config.backend() == "tensorflow":
        import tensorflow as tf
        found["tensorflow"] = tf.__version__
    return found
