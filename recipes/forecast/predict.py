"""Forecast the next `horizon` days after the last row of a CSV (prices, or the column trained on), or of a
ticker's prices (found as in training: RECIPES_DATA_DIR/stocks/TICKER.csv, else Stooq), with 80% intervals."""
import json
import sys

import numpy as np

from shared.config import command_parser
from shared.errors import UserError, reported
from shared.inference import load_run
from shared.report import finite

from . import data, windows
from .config import Config

RECIPE = __name__.split(".")[-2]


def recent_scales(forecaster, prices, config, scaler):
    """(horizon,) band factors from the file's last `calibration_days` known outcomes, as in training;

    None when the file is too short for that (the validation period's factors are used then).
    """
    days, window, horizon = config.get("calibration_days", 0), config["window"], config["horizon"]
    start = len(prices) - (days + window + horizon + 1) - windows.VOLUME_MEAN_DAYS
    if not days or start < 0:
        return None
    past = windows.windows_of(prices, scaler["features"], start, len(prices), window, horizon,
                              config["vol_window"], scaler["floor"], scaler["train_sigma"]).tail(days)
    quantiles = np.asarray(forecaster.predict(windows.standardise(past.x, scaler), batch_size=1024, verbose=0),
                           dtype="float64")
    return windows.interval_scales(past.y, quantiles)


def forecast(forecaster, prices, config, scaler):
    """[{day, date, low, median, high}] for the days after the last row, and where the band's scale came from."""
    names, window = scaler["features"], config["window"]
    if len(prices) < window + 1:
        raise UserError(f"{prices.source}: {len(prices)} usable rows; the model needs the last {window + 1}")
    raw = windows.day_features(prices, names, len(prices) - window - windows.VOLUME_MEAN_DAYS
                               if len(prices) > window + windows.VOLUME_MEAN_DAYS else 0)[-window:]
    x, sigma = windows.make_inputs(raw[None], names, config["vol_window"], scaler["floor"], scaler["train_sigma"])
    quantiles = np.asarray(forecaster(windows.standardise(x, scaler), training=False), dtype="float64")
    scales = recent_scales(forecaster, prices, config, scaler)
    calibration = (f"the file's last {config['calibration_days']} known outcomes" if scales is not None
                   else "the validation period of training")
    quantiles = windows.widen(quantiles, scaler["interval_scales"] if scales is None else scales)
    prices_q = windows.to_prices(prices.price[-1:], quantiles, sigma)[0]  # (horizon, 3)
    last = prices.dates[-1]
    rows = [{"day": step + 1, "date": str(np.busday_offset(last, step + 1, roll="forward")),
             "low": float(low), "median": float(median), "high": float(high)}
            for step, (low, median, high) in enumerate(prices_q)]
    return rows, calibration


def forecast_json(prices, rows, calibration):
    """What --json prints: valid JSON always, a non-finite number (a NaN forecast, an infinite band) as null,
    never as Python's NaN or Infinity, as in every metrics.json (shared.report.finite)."""
    return json.dumps(finite({"last_date": str(prices.dates[-1]), "last_price": float(prices.price[-1]),
                              "target": prices.target, "interval": 0.8, "interval_calibrated_on": calibration,
                              "forecasts": rows}), indent=2, allow_nan=False)


def load(model_dir):
    """(model, config dict, scaler dict) of a finished training run."""
    from . import model  # noqa: F401  registers the layer and loss the saved file names (and loads Keras)

    forecaster, config, files = load_run(model_dir, RECIPE, "scaler.json", config_class=Config)
    return forecaster, config, files["scaler.json"]


def main(argv=None):
    prog = f"python -m recipes.{RECIPE} predict"
    with reported(prog):
        parser = command_parser(prog, __doc__)
        parser.add_argument("--model", required=True, help="output folder of a training run")
        source = parser.add_mutually_exclusive_group(required=True)  # one history: both would leave one unread
        source.add_argument("--csv", help="the history, with the columns the model was trained on")
        source.add_argument("--ticker", help="the history of this ticker, found as in training (RECIPES_DATA_DIR/"
                                             "stocks/TICKER.csv, else downloaded from Stooq)")
        parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
        args = parser.parse_args(argv)
        forecaster, config, scaler = load(args.model)
        prices = data.load(args.csv, args.ticker, config["target"])
        for line in prices.warnings:
            print(f"warning: {line}", file=sys.stderr)
        rows, calibration = forecast(forecaster, prices, config, scaler)
        if args.json:
            print(forecast_json(prices, rows, calibration))
        else:
            print(f"last row {prices.dates[-1]}: {prices.label} {prices.price[-1]:.2f}  "
                  "(dates are the next weekdays; holidays are not known)")
            print(f"  80% intervals calibrated on {calibration}")
            print(f"  {'day':>3}  {'date':<10}  {'low (10%)':>12}  {'median':>12}  {'high (90%)':>12}")
            for row in rows:
                print(f"  {row['day']:>3}  {row['date']:<10}  {row['low']:>12.2f}  {row['median']:>12.2f}  "
                      f"{row['high']:>12.2f}")
        return rows
