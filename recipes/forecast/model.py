"""Window of scaled features -> stacked recurrent layers -> 10th, 50th and 90th percentiles per day ahead."""
import keras
from keras import layers, ops

from shared.layers import apply_stack, stacked_recurrent

QUANTILES = (0.1, 0.5, 0.9)  # the 10-90 band is the 80% interval; the median is the point forecast
NORMAL_Q90 = 1.2816  # the 90th percentile of a unit normal: where the band starts before training


@keras.saving.register_keras_serializable(package=__name__)
class OrderedQuantiles(layers.Layer):
    """(batch, horizon, 3) free numbers -> quantiles that cannot cross: low <= median <= high."""

    def call(self, raw):
        median = raw[..., 1:2]
        # softplus keeps both distances positive, so the band never inverts.
        low = median - ops.softplus(raw[..., 0:1])
        high = median + ops.softplus(raw[..., 2:3])
        return ops.concatenate([low, median, high], axis=-1)


@keras.saving.register_keras_serializable(package=__name__)
def pinball_loss(y_true, y_pred):
    """Quantile loss, y_true (batch, horizon), y_pred (batch, horizon, 3); its minimum is at the true quantiles."""
    levels = ops.convert_to_tensor(QUANTILES, dtype=y_pred.dtype)
    error = ops.expand_dims(ops.cast(y_true, y_pred.dtype), -1) - y_pred  # (batch, horizon, 3)
    return ops.mean(ops.maximum(levels * error, (levels - 1.0) * error), axis=(-2, -1))


def build_forecaster(config, num_features):
    inputs = keras.Input(shape=(config.window, num_features), name="window")  # (batch, window, features)
    stack = stacked_recurrent(config.cell, config.units, config.layers, bidirectional=config.bidirectional,
                              dropout=config.dropout, name="encoder")
    summary = apply_stack(stack, inputs)  # (batch, units), doubled when bidirectional
    summary = layers.Dropout(config.dropout, name="dropout")(summary)
    # Biases start at median 0 and a unit-normal 80% band, the scaled targets' rough shape, so that
    # training refines a sensible forecast instead of first finding the scale.
    spread = float(ops.convert_to_numpy(ops.log(ops.expm1(NORMAL_Q90))))
    bias = keras.initializers.Constant([spread, 0.0, spread] * config.horizon)
    raw = layers.Dense(3 * config.horizon, bias_initializer=bias, kernel_initializer="zeros",
                       dtype="float32", name="quantile_params")(summary)
    raw = layers.Reshape((config.horizon, 3), name="per_day")(raw)  # (batch, horizon, 3)
    quantiles = OrderedQuantiles(dtype="float32", name="quantiles")(raw)
    return keras.Model(inputs, quantiles, name="forecaster")
