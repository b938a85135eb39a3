"""Recurrent layer factories: SimpleRNN, LSTM, GRU, Bidirectional and stacks of them.

The defaults keep the configuration the GPU's cuDNN kernels require (tanh,
sigmoid recurrent activation, no recurrent dropout, no unrolling, biases,
GRU reset_after, right padding), so a model built here trains on the fast
kernel on a GPU. Options that force the slow generic loop still work but
raise a SlowKernelWarning saying which option did it.
"""
import warnings

from keras import layers

from shared import device

CELLS = {"rnn": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}

# Option values the cuDNN kernels need; anything else makes Keras use the generic loop.
CUDNN_REQUIRES = {
    "activation": "tanh",
    "recurrent_activation": "sigmoid",
    "recurrent_dropout": 0.0,
    "unroll": False,
    "use_bias": True,
    "reset_after": True,
}


class SlowKernelWarning(UserWarning):
    """An option keeps a recurrent layer off the GPU's cuDNN kernel."""


def slow_kernel_reasons(cell, options, on_gpu):
    """Why this layer cannot use cuDNN on a GPU (empty when it can)."""
    reasons = [f"{key}={value!r}" for key, value in options.items()
               if key in CUDNN_REQUIRES and value != CUDNN_REQUIRES[key]]
    # SimpleRNN is the right choice for teaching examples; only mention it where a GPU could have helped.
    if cell == "rnn" and on_gpu:
        reasons.append("cell='rnn' (SimpleRNN has no cuDNN kernel)")
    return reasons


def recurrent_layer(cell, units, *, bidirectional=False, return_sequences=False,
                    return_state=False, dropout=0.0, name=None, **options):
    """One recurrent layer. `dropout` drops the layer's inputs (cuDNN-safe); extra options go to Keras.

    Output shapes for inputs (batch, time, features): (batch, units) or with
    return_sequences (batch, time, units); bidirectional doubles units by
    concatenation. With return_state the states follow the output in a list
    (forward then backward for Bidirectional).
    """
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
    reasons = slow_kernel_reasons(cell, options, on_gpu=device.gpu_count() > 0)
    if reasons:
        warnings.warn(f"{name or cell}: {', '.join(reasons)} forces the slow generic RNN kernel "
                      "on GPU (cuDNN needs the factory defaults)", SlowKernelWarning, stacklevel=2)
    if cell != "gru":
        options.pop("reset_after", None)
    layer = CELLS[cell](units, return_sequences=return_sequences, return_state=return_state,
                        dropout=dropout, name=None if bidirectional else name, **options)
    if bidirectional:
        return layers.Bidirectional(layer, name=name)
    return layer


def stacked_recurrent(cell, units, num_layers, *, bidirectional=False, return_sequences=False,
                      return_state=False, dropout=0.0, name="rnn", **options):
    """`num_layers` recurrent layers named NAME_1..NAME_n; all but the last return sequences.

    Returns the list of layers; apply them in order (`for layer in stack: x = layer(x)`).
    Only the last layer's return_sequences and return_state follow the arguments.
    """
    if num_layers < 1:
        raise ValueError(f"num_layers must be at least 1, got {num_layers}")
    stack = []
    for index in range(1, num_layers + 1):
        last = index == num_layers
        stack.append(recurrent_layer(
            cell, units, bidirectional=bidirectional,
            return_sequences=return_sequences if last else True,
            return_state=return_state if last else False,
            dropout=dropout, name=f"{name}_{index}", **options))
    return stack


def apply_stack(stack, inputs):
    """Run inputs through a stack from stacked_recurrent; Keras carries the padding mask along."""
    outputs = inputs
    for layer in stack:
        outputs = layer(outputs)
    return outputs

