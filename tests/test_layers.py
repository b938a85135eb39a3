import warnings

import keras
import numpy as np
import pytest

from shared import device
from shared import layers as factories
from shared.layers import SlowKernelWarning, recurrent_layer, stacked_recurrent

COMBINATIONS = [(cell, bidirectional) for cell in ("rnn", "lstm", "gru") for bidirectional in (False, True)]


def tiny_model(cell, bidirectional, return_sequences=False):
    inputs = keras.Input((5, 3))
    stack = stacked_recurrent(cell, 4, 2, bidirectional=bidirectional, return_sequences=return_sequences)
    return keras.Model(inputs, factories.apply_stack(stack, inputs))


@pytest.mark.parametrize("cell,bidirectional", COMBINATIONS)
def test_config_round_trip_and_keras_file_give_identical_outputs(cell, bidirectional, tmp_path):
    keras.utils.set_random_seed(1)
    model = tiny_model(cell, bidirectional)
    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    expected = model.predict(x, verbose=0)
    assert expected.shape == (2, 8 if bidirectional else 4)

    rebuilt = keras.Model.from_config(model.get_config())
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_array_equal(rebuilt.predict(x, verbose=0), expected)

    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), expected)


@pytest.mark.parametrize("cell,bidirectional", COMBINATIONS)
def test_stack_returns_sequences_between_layers_and_state_at_the_end(cell, bidirectional):
    stack = stacked_recurrent(cell, 4, 3, bidirectional=bidirectional, return_state=True, name="enc")
    assert [layer.name for layer in stack] == ["enc_1", "enc_2", "enc_3"]
    outputs = factories.apply_stack(stack, keras.Input((5, 3)))
    states_per_direction = 2 if cell == "lstm" else 1
    assert len(outputs) == 1 + states_per_direction * (2 if bidirectional else 1)
    assert tuple(outputs[0].shape) == (None, 8 if bidirectional else 4)


def inner(layer):
    return layer.forward_layer if isinstance(layer, keras.layers.Bidirectional) else layer


@pytest.mark.parametrize("cell,bidirectional", COMBINATIONS)
def test_defaults_keep_the_cudnn_kernel_usable(cell, bidirectional):
    layer = inner(recurrent_layer(cell, 4, bidirectional=bidirectional, dropout=0.3))
    assert layer.activation is keras.activations.tanh
    assert layer.recurrent_dropout == 0
    assert layer.dropout == 0.3  # input dropout is applied before the fused kernel
    assert layer.unroll is False
    assert layer.use_bias is True
    if cell != "rnn":
        assert layer.recurrent_activation is keras.activations.sigmoid
    if cell == "gru":
        assert layer.reset_after is True


def test_padding_is_masked_on_the_right():
    keras.utils.set_random_seed(0)
    tokens = keras.Input((None,), dtype="int32")
    vectors = keras.layers.Embedding(10, 3, mask_zero=True)(tokens)
    model = keras.Model(tokens, factories.apply_stack(stacked_recurrent("lstm", 4, 2, bidirectional=True), vectors))
    short = np.array([[3, 4, 5]])
    padded = np.array([[3, 4, 5, 0, 0, 0]])
    np.testing.assert_allclose(model.predict(short, verbose=0), model.predict(padded, verbose=0), atol=1e-6)


@pytest.mark.parametrize("option", [{"recurrent_dropout": 0.2}, {"unroll": True}, {"activation": "relu"},
                                    {"recurrent_activation": "hard_sigmoid"}, {"use_bias": False},
                                    {"reset_after": False}])
def test_options_that_force_the_slow_kernel_warn(option):
    with pytest.warns(SlowKernelWarning, match=next(iter(option))):
        recurrent_layer("gru", 4, **option)


def test_simple_rnn_warns_only_where_a_gpu_could_help(monkeypatch):
    with warnings.catch_warnings():
        warnings.simplefilter("error", SlowKernelWarning)
        recurrent_layer("rnn", 4)  # no GPU: no warning
        recurrent_layer("gru", 4)
    monkeypatch.setattr(device, "gpu_count", lambda: 1)
    with pytest.warns(SlowKernelWarning, match="SimpleRNN has no cuDNN kernel"):
        recurrent_layer("rnn", 4)


def test_unknown_cell_is_refused():
    with pytest.raises(ValueError, match="cell must be one of"):
        recurrent_layer("transformer", 4)


def test_simple_rnn_matches_the_worked_example():
    # h_t = tanh(W x_t + U h_{t-1} + b), column vectors, from h_0 = 0.
    W = np.array([[0.5, 0.2], [0.3, 0.8]])
    U = np.array([[0.1, 0.4], [0.6, 0.7]])
    b = np.array([0.1, 0.2])
    x = np.array([[1.0, 0.0], [0.0, 1.0]])
    h1 = np.tanh(W @ x[0] + b)
    h2 = np.tanh(W @ x[1] + U @ h1 + b)
    np.testing.assert_allclose(h1, np.tanh([0.6, 0.5]))
    np.testing.assert_allclose(h1, [0.537, 0.462], atol=5e-4)
    # By hand: U h1 = (0.0537 + 0.1848, 0.3222 + 0.3235); plus W x2 = (0.2, 0.8) and b.
    np.testing.assert_allclose(h2, np.tanh([0.53854, 1.64567]), atol=1e-4)
    np.testing.assert_allclose(h2, [0.492, 0.928], atol=5e-4)

    layer = recurrent_layer("rnn", 2, return_sequences=True)
    layer.build((1, 2, 2))
    # Keras multiplies row vectors from the left (x @ kernel), so its kernels are the transposes.
    layer.set_weights([W.T, U.T, b])
    states = layer(x[None].astype("float32")).numpy()[0]
    np.testing.assert_allclose(states, [h1, h2], atol=1e-6)
