"""Forecast speed: this recipe beside the classic course settings (Google_Stock_Price_Train.csv).

Both train on GOOG's real daily history and count windows per second. The course: 60 days of
scaled closing prices, four LSTM(50) layers with Dropout(0.2), batch 32, Adam, mean squared
error. The recipe: 40 days of vol-scaled returns and ranges, one LSTM(32), batch 128, 3 quantiles.
"""
import keras
import numpy as np

from shared.bench import train_throughput
from shared.training import compile_model

from . import data, model, windows
from .train import Config, feature_names

STEPS = {"full": 30, "small": 2}  # measured steps per case, after 3 warm-up steps


def _recipe(size):
    config = Config()
    keras.utils.set_random_seed(0)
    names = feature_names(config.features)
    prices = data.load("", config.ticker, config.target)
    (train, _, _), scaler, _ = windows.build(prices, names, config.window, config.horizon, config.vol_window,
                                             (config.val_fraction, config.test_fraction))
    x, y = windows.standardise(train.x, scaler), train.y.astype("float32")
    b = config.batch_size
    batches = [(x[i:i + b], y[i:i + b]) for i in range(0, b * (3 + STEPS[size]), b)]
    forecaster = model.build_forecaster(config, x.shape[2])
    compile_model(forecaster, config, loss=model.pinball_loss)
    return {"what": "recipe: LSTM(32), 40 days x 3 inputs, batch 128, quantiles", "unit": "windows",
            **train_throughput(forecaster, batches, count=lambda batch: len(batch[0]))}


def _course(size):
    keras.utils.set_random_seed(0)
    prices = data.load("", "GOOG", "")
    scaled = (prices.price - prices.price.min()) / (prices.price.max() - prices.price.min())
    count = 32 * (3 + STEPS[size])
    x = np.stack([scaled[i:i + 60] for i in range(count)])[..., None].astype("float32")  # (n, 60, 1)
    y = scaled[60:60 + count].astype("float32")
    layers = [keras.Input((60, 1))]
    for index in range(4):
        layers += [keras.layers.LSTM(50, return_sequences=index < 3), keras.layers.Dropout(0.2)]
    regressor = keras.Sequential(layers + [keras.layers.Dense(1)])
    regressor.compile(optimizer="adam", loss="mean_squared_error")
    batches = [(x[i:i + 32], y[i:i + 32]) for i in range(0, count, 32)]
    return {"what": "course: 4x LSTM(50) + Dropout(0.2), 60 days of price, batch 32", "unit": "windows",
            **train_throughput(regressor, batches, count=lambda batch: len(batch[0]))}


CASES = {"train": _recipe, "train_tutorial": _course}
COMPARE = [("train", "train_tutorial", "training windows/s, recipe / course")]
