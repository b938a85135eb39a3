"""Forecast the next `horizon` days after the last row of a price CSV, with 80% intervals."""
import json
from pathlib import Path

import numpy as np

from shared.artifacts import load_model
from shared.config import command_parser, load_saved
from shared.errors import UserError, reported

from . import data, model, windows  # noqa: F401  model registers the layer and loss the saved file names

RECIPE = __name__.split(".")[-2]


def forecast(forecaster, prices, config, scaler):
    """[{day, date, low, median, high}] for the days after the last row; uses the last window only."""
    names, window = scaler["features"], config["window"]
    if len(prices) < window + 1:
        raise UserError(f"{prices.source}: {len(prices)} usable rows; the model needs the last {window + 1}")
    raw = windows.day_features(prices, names, len(prices) - window - windows.VOLUME_MEAN_DAYS
                               if len(prices) > window + windows.VOLUME_MEAN_DAYS else 0)[-window:]
    x, sigma = windows.make_inputs(raw[None], names, config["vol_window"], scaler["floor"], scaler["train_sigma"])
    quantiles = np.asarray(forecaster(windows.standardise(x, scaler), training=False), dtype="float64")
    quantiles = windows.widen(quantiles, scaler["interval_scales"])  # calibrated as in training
    prices_q = windows.to_prices(prices.price[-1:], quantiles, sigma)[0]  # (horizon, 3)
    last = prices.dates[-1]
    return [{"day": step + 1, "date": str(np.busday_offset(last, step + 1, roll="forward")),
             "low": float(low), "median": float(median), "high": float(high)}
            for step, (low, median, high) in enumerate(prices_q)]


def load(model_dir):
    """(model, config dict, scaler dict) of a finished training run."""
    config = load_saved(model_dir, RECIPE)
    path = Path(model_dir) / "scaler.json"
    try:
        scaler = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise UserError(f"{path}: missing or unreadable; train again to write it") from None
    return load_model(Path(model_dir)), config, scaler


def main(argv=None):
    prog = f"python -m recipes.{RECIPE} predict"
    with reported(prog):
        parser = command_parser(prog, __doc__)
        parser.add_argument("--model", required=True, help="output folder of a training run")
        parser.add_argument("--csv", required=True, help="price history, same columns as in training")
        parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
        args = parser.parse_args(argv)
        forecaster, config, scaler = load(args.model)
        prices = data.read_prices(args.csv, config["target"])
        rows = forecast(forecaster, prices, config, scaler)
        if args.json:
            print(json.dumps({"last_date": str(prices.dates[-1]), "last_price": float(prices.price[-1]),
                              "target": prices.target, "interval": 0.8, "forecasts": rows}, indent=2))
        else:
            print(f"last row {prices.dates[-1]}: {prices.target} {prices.price[-1]:.2f}  "
                  "(dates are the next weekdays; holidays are not known)")
            print(f"  {'day':>3}  {'date':<10}  {'low (10%)':>12}  {'median':>12}  {'high (90%)':>12}")
            for row in rows:
                print(f"  {row['day']:>3}  {row['date']:<10}  {row['low']:>12.2f}  {row['median']:>12.2f}  "
                      f"{row['high']:>12.2f}")
        return rows
