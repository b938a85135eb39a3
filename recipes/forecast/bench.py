"""Forecast speed: this recipe beside the classic course settings (Google_Stock_Price_Train.csv).

Both train on GOOG's real daily history and count windows per second. The course: 60 days of
scaled closing prices, four LSTM(50) layers with Dropout(0.2), batch 32, Adam, mean squared
error. The recipe: 40 days of vol-scaled returns and ranges, one LSTM(32), batch 128, 3 quantiles.
Time to target: training minutes until the next-day test MAE is within 2% of persistence's (the
recipe's own target, which its run must also meet for the 80% band: 75-85% coverage).
"""
import tempfile

import keras
import numpy as np
import tensorflow as tf

from shared.bench import train_throughput, train_to_target
from shared.data import prefetched
from shared.training import compile_model

from . import data, model, windows
from .train import Config, feature_names

STEPS = {"full": 30, "small": 2}  # measured steps per case, after 3 warm-up steps
TARGET = 1.02  # test MAE / persistence MAE, next day (README: "no worse than persistence by more than 2%")
CAP_MINUTES = {"full": 1.5, "small": 0.05}  # the course's training time after which it counts as not there
CHECK_SECONDS = 0.05  # seconds of training between two checks of the course


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


def _course_model():
    layers = [keras.Input((60, 1))]  # (batch, 60 days, scaled price)
    for index in range(4):
        layers += [keras.layers.LSTM(50, return_sequences=index < 3), keras.layers.Dropout(0.2)]
    regressor = keras.Sequential(layers + [keras.layers.Dense(1)])
    regressor.compile(optimizer="adam", loss="mean_squared_error")
    return regressor


def _course(size):
    keras.utils.set_random_seed(0)
    prices = data.load("", "GOOG", "")
    scaled = (prices.price - prices.price.min()) / (prices.price.max() - prices.price.min())
    count = 32 * (3 + STEPS[size])
    x = np.stack([scaled[i:i + 60] for i in range(count)])[..., None].astype("float32")  # (n, 60, 1)
    y = scaled[60:60 + count].astype("float32")
    batches = [(x[i:i + 32], y[i:i + 32]) for i in range(0, count, 32)]
    return {"what": "course: 4x LSTM(50) + Dropout(0.2), 60 days of price, batch 32", "unit": "windows",
            **train_throughput(_course_model(), batches, count=lambda batch: len(batch[0]))}


def time_to_target(size):
    """Training minutes of `python -m recipes.forecast` (defaults, GOOG) and whether it met its targets."""
    from . import train

    with tempfile.TemporaryDirectory() as out:
        metrics = train.main(["--out", out] + (["--smoke"] if size == "small" else []))
    day = metrics["test"]["day_1"]
    ratio, coverage = day["model"]["mae"] / day["persistence"]["mae"], day["model"]["coverage"]
    return {"what": f"recipe defaults ({metrics['epochs_run']} epochs): test MAE / persistence {ratio:.3f}, "
                    f"80% band covers {coverage:.1%}",
            "unit": "minutes", "minutes": metrics["train_seconds"] / 60,
            "reached": ratio <= TARGET and 0.75 <= coverage <= 0.85}


def course_time_to_target(size):
    """The course model, trained in its batches of 32, until its test MAE is within 2% of persistence.

    The test period is scored every CHECK_SECONDS of training: this measures when the course gets
    there, it selects nothing. The price scaling is fitted on the recipe's training period only.
    """
    config = Config()
    keras.utils.set_random_seed(0)
    price = data.load("", config.ticker, config.target).price
    (_, train_stop), _, (test_start, _) = windows.split_bounds(len(price), (config.val_fraction, config.test_fraction))
    low, high = price[:train_stop].min(), price[:train_stop].max()
    scaled = ((price - low) / (high - low)).astype("float32")

    def windows_before(days):  # (len(days), 60, 1): the 60 prices before each day
        return np.stack([scaled[day - 60:day] for day in days])[..., None]

    train_days, test_days = np.arange(60, train_stop), np.arange(test_start, len(price))
    if size == "small":
        train_days = train_days[-320:]
    batches = tf.data.Dataset.from_tensor_slices((windows_before(train_days), scaled[train_days]))
    persistence = np.mean(np.abs(price[test_days] - price[test_days - 1]))
    x_test = windows_before(test_days)

    def mae_ratio(regressor):
        predicted = regressor.predict(x_test, batch_size=1024, verbose=0)[:, 0] * (high - low) + low
        return np.mean(np.abs(predicted - price[test_days])) / persistence

    def build():
        keras.utils.set_random_seed(0)
        return _course_model()

    result = train_to_target(build, prefetched(batches.shuffle(len(train_days), seed=0).batch(32)),
                             mae_ratio, TARGET, check_seconds=CHECK_SECONDS, cap_minutes=CAP_MINUTES[size])
    return {"what": f"course, batch 32: test MAE / persistence {result['score']:.3f}", "unit": "minutes",
            **result}


CASES = {"train": _recipe, "train_tutorial": _course, "target": time_to_target, "target_tutorial": course_time_to_target}
COMPARE = [("train", "train_tutorial", "training windows/s, recipe / course"),
           ("target", "target_tutorial", f"minutes to test MAE within {TARGET - 1:.0%} of persistence, course / recipe")]
