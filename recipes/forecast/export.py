"""Export a trained forecaster as a TensorFlow SavedModel: a window of daily prices in, the next days'
10%, 50% and 90% prices out.

    python -m recipes.RECIPE export --model runs/RECIPE --to exported/RECIPE

    served = tf.saved_model.load("exported/RECIPE")
    served.serve(price=..., high=..., low=...)["quantiles"]   # (batch, horizon, 3) prices

Inputs, oldest day first, float32 of shape (batch, DAYS): `price` (the column the model forecasts),
`high` and `low` when the model reads the range feature, `volume` when it reads volume. DAYS is
the window plus 1 (the first day's return needs the day before), or plus 20 with volume (its
20-day mean). The features, the volatility scaling, the training scaler and the band's validation
calibration are in the graph: it answers as `predict` does on a CSV of those DAYS rows. `predict`
on a longer CSV recalibrates the band on the file's recent outcomes, which one window cannot.
"""
import inspect

from shared.export import ENDPOINT, export_main

from . import windows

RECIPE = __name__.split(".")[-2]


def history_days(config, names):
    """Days each input holds: the window, the day before it, and volume's 20-day mean's earlier days."""
    return config["window"] + (windows.VOLUME_MEAN_DAYS if "volume" in names else 1)


def archive(model_dir):
    """An ExportArchive whose `serve` takes price windows and returns quantiles (batch, horizon, 3) in prices."""
    import keras
    import tensorflow as tf

    from .predict import load

    forecaster, config, scaler = load(model_dir)
    names, window, horizon = scaler["features"], config["window"], config["horizon"]
    inputs = ["price"] + [name for name in ("high", "low") if "range" in names] + (["volume"] if "volume" in names
                                                                                   else [])
    days = history_days(config, names)
    f64 = tf.float64  # the features in double precision, as windows.py computes them in NumPy

    def features(columns):
        """windows.day_features + make_inputs + standardise, for (batch, days) columns: (batch, window, F + 1)."""
        log_price = tf.math.log(columns["price"])
        returns = (log_price[:, 1:] - log_price[:, :-1])[:, -window:]  # (batch, window)
        raw = {"return": returns}
        if "range" in names:
            spread = tf.math.log(columns["high"] / columns["low"])[:, -window:]
            raw["range"] = tf.where(tf.math.is_finite(spread) & (spread >= 0), spread, tf.zeros_like(spread))
        if "volume" in names:
            volume = columns["volume"]
            logged = tf.math.log1p(tf.where(tf.math.is_nan(volume), tf.zeros_like(volume), tf.maximum(volume, 0.0)))
            total = tf.pad(tf.cumsum(logged, axis=1), [[0, 0], [1, 0]])  # (batch, days + 1)
            count = tf.minimum(tf.range(1, days + 1), windows.VOLUME_MEAN_DAYS)  # fewer days at the start
            start = tf.range(1, days + 1) - count
            mean = (total[:, 1:] - tf.gather(total, start, axis=1)) / tf.cast(count, f64)
            raw["volume"] = (logged - mean)[:, -window:]
        sigma = tf.maximum(tf.sqrt(tf.reduce_mean(tf.square(returns[:, -config["vol_window"]:]), axis=1)),
                           scaler["floor"])  # (batch,)
        scaled = [raw[name] / sigma[:, None] if name in ("return", "range") else raw[name] for name in names]
        level = tf.math.log(sigma / scaler["train_sigma"])[:, None] * tf.ones_like(returns)
        x = tf.stack(scaled + [level], axis=2)  # (batch, window, F + 1)
        x = (x - tf.constant(scaler["mean"], f64)) / tf.constant(scaler["std"], f64)
        return tf.cast(x, "float32"), sigma

    def serve(*given):
        columns = {name: tf.cast(tensor, f64) for name, tensor in zip(inputs, given)}
        x, sigma = features(columns)
        quantiles = tf.cast(forecaster(x, training=False), f64)  # (batch, horizon, 3), scaled returns
        scales = tf.constant(scaler["interval_scales"], f64)[None, :]  # windows.widen, validation factors
        median = quantiles[..., 1]
        quantiles = tf.stack([median - scales * (median - quantiles[..., 0]), median,
                              median + scales * (quantiles[..., 2] - median)], axis=-1)
        steps = tf.sqrt(tf.range(1, horizon + 1, dtype=f64))[None, :, None]  # windows.to_prices
        spread = sigma[:, None, None] * steps
        return {"quantiles": columns["price"][:, -1, None, None] * tf.exp(quantiles * spread)}

    # Named inputs, which depend on the features: serve(price=..., high=..., low=...), and so in serving_default.
    serve.__signature__ = inspect.Signature([inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD)
                                             for name in inputs])
    exported = keras.export.ExportArchive()
    exported.track(forecaster)
    exported.add_endpoint(ENDPOINT, serve, input_signature=[tf.TensorSpec([None, days], tf.float32, name=name)
                                                            for name in inputs])
    return exported


def main(argv=None):
    return export_main(RECIPE, argv, __doc__.replace("RECIPE", RECIPE), archive)  # RECIPE: this folder's name
