"""Train a quantile forecaster on daily prices, score it on the most recent period against naive forecasts."""
import dataclasses
import json
import sys
from pathlib import Path

from shared.errors import UserError
from shared.run import TrainConfig, TrainingRun, option

from . import data, scoring, windows

RECIPE = __name__.split(".")[-2]  # the folder's name, so a copied recipe is its own recipe
SMOKE = {"rows": 1500}  # a --smoke run: the last rows of the file
SMOKE_CAPS = {"epochs": 2, "backtest": 2, "fold_days": 100}  # two epochs (and two short backtest folds)
ALIASES = {"close": "return", "returns": "return", "high-low": "range", "hl": "range"}


@dataclasses.dataclass
class Config(TrainConfig):
    ticker: str = option("GOOG", "ticker: RECIPES_DATA_DIR/stocks/TICKER.csv, else downloaded from Stooq")
    csv: str = option("", "a CSV with Date and price columns instead of --ticker")
    target: str = option("", "price column to forecast (default: Adj Close where present, else Close)")
    features: str = option("return,range", "inputs, comma-separated: return (always), range (log high/low), volume")
    window: int = option(40, "days of history in each input window", bounds="[1, inf)")
    horizon: int = option(1, "days ahead to forecast (1 = next day)", bounds="[1, inf)")
    vol_window: int = option(20, "days in the past-only volatility that scales inputs and targets", bounds="[2, inf)")
    cell: str = option("lstm", "recurrent cell", choices=("rnn", "lstm", "gru"))
    bidirectional: bool = option(False, "read each window in both directions")
    units: int = option(32, "units per recurrent layer (per direction)", bounds="[1, inf)")
    layers: int = option(1, "stacked recurrent layers", bounds="[1, inf)")
    dropout: float = option(0.1, "dropout on each layer's inputs", bounds="[0, 1)")
    calibration_days: int = option(250, "rescale each day's 80%% band to cover 80%% of the last N days whose "
                                        "outcomes are known (0: one factor from the validation period)",
                                   bounds="[0, inf)")
    val_fraction: float = option(0.15, "share of days, before the test period (--backtest: before each fold), "
                                  "for validation", bounds="(0, 0.5)")
    test_fraction: float = option(0.15, "share of days, the most recent, for the test", bounds="(0, 0.5)")
    epochs: int = option(30, "maximum passes over the training data", bounds="[1, inf)")
    patience: int = option(4, "stop after this many epochs without a lower validation loss", bounds="[1, inf)")
    backtest: int = option(0, "rolling-origin backtest instead of one split: N consecutive folds of the most recent "
                              "days (5 is a good start), a model trained on each fold's past; 0: one split",
                           bounds="[0, inf)")
    fold_days: int = option(250, "trading days in each backtest fold (250: about a year)", bounds="[1, inf)")
    tickers: str = option("", "backtest several series (tickers or CSV paths, comma-separated): one global model "
                              "on all of them beside one model per series; needs --backtest")

    def __post_init__(self):
        # Checked while parsing, before --out is created: a mistake leaves nothing behind.
        if (self.tickers or "," in self.csv) and not self.backtest:
            raise UserError("--tickers and several --csv files are for the backtest: add --backtest N (e.g. 5)")


def feature_names(text):
    names = ["return"]
    for name in (part.strip().lower() for part in text.split(",") if part.strip()):
        name = ALIASES.get(name, name)
        if name not in windows.FEATURES:
            raise UserError(f"--features: unknown feature {name!r} (choose from {', '.join(windows.FEATURES)})")
        if name not in names:
            names.append(name)
    return names


def train(run):
    """Train, save, then score the test period once beside the baselines; returns OUT/metrics.json's content."""
    # Imported here, not at the top: they load Keras, and --help and option errors answer before it loads.
    from . import model

    config = run.config
    if config.vol_window > config.window:
        raise UserError(f"--vol-window {config.vol_window} is longer than --window {config.window}")
    if config.backtest:
        # The folds, each with its own model and baselines; writes backtest.json.
        from . import backtest

        return backtest.backtest(run)
    names = feature_names(config.features)
    prices = data.load(config.csv, config.ticker, config.target)
    if config.smoke:
        prices = data.last_rows(prices, SMOKE["rows"])
    (train_part, val, test), scaler, bounds = windows.build(
        prices, names, config.window, config.horizon, config.vol_window, (config.val_fraction, config.test_fraction))
    print(f"data: {prices.source}, {len(prices)} days, forecasting {prices.target}"
          + ("  [smoke: a small slice, not a real result]" if config.smoke else ""))
    for date, change in windows.implausible_jumps(prices, bounds[0]):
        print(f"warning: {prices.source}: {date}: the price moves {change:+.0%} in a day, beyond 20 standard "
              "deviations of the training period's daily moves; check that row (a price in the wrong unit?)",
              file=sys.stderr)
    for note in prices.notes:
        print(f"  cleaned: {note}")
    for name, part, (start, stop) in zip(windows.SPLITS, (train_part, val, test), bounds):
        print(f"  {name:<10} {prices.dates[start]} .. {prices.dates[stop - 1]}  {len(part):>6} windows")
    print(f"  inputs (batch, {config.window}, {train_part.x.shape[2]}): {', '.join(names)}, log volatility level; "
          f"targets (batch, {config.horizon})")

    with run.scope():
        forecaster = model.build_forecaster(config, train_part.x.shape[2])
        run.compile(forecaster, loss=model.pinball_loss, steps_per_epoch=-(-len(train_part) // run.batch_size))
    forecaster.summary(print_fn=lambda line, **_: print("  " + line))
    run.fit(forecaster, windows.batches(train_part, scaler, run.batch_size, config.seed),
            windows.batches(val, scaler, run.batch_size))

    # The 80% band is calibrated on outcomes the forecaster has seen: the validation period, then,
    # with --calibration-days, each test day's most recent known outcomes (never its own future).
    val_quantiles = forecaster.predict(windows.standardise(val.x, scaler), batch_size=1024, verbose=0)
    val_needed = windows.needed_factors(val.y, val_quantiles.astype("float64"))  # (n_val, horizon)
    scaler["interval_scales"] = windows.interval_scales(val.y, val_quantiles.astype("float64")).tolist()
    print(f"\ninterval calibrated on the validation period: half-widths x "
          f"{', '.join(f'{s:.3f}' for s in scaler['interval_scales'])}"
          + (f", then on each test day's last {config.calibration_days} known outcomes"
             if config.calibration_days else ""))
    run.save(forecaster, {"scaler.json": json.dumps(scaler, indent=2) + "\n"})  # before the test is scored

    # The test period is touched here, once, with the best epoch's weights.
    raw = forecaster.predict(windows.standardise(test.x, scaler), batch_size=1024, verbose=0).astype("float64")
    if config.calibration_days:
        scales = windows.rolling_scales(val_needed, windows.needed_factors(test.y, raw), config.calibration_days)
    else:
        scales = scaler["interval_scales"]
    quantiles = windows.widen(raw, scales)
    results, prices_q = scoring.score(test, quantiles, scaler)
    for name, band in (("uncalibrated", raw), ("validation_calibrated", windows.widen(raw, scaler["interval_scales"]))):
        other = scoring.score(test, band, scaler)[0]
        for day in results:  # how other bands did, for the record
            results[day][f"model_{name}_interval"] = {k: other[day]["model"][k]
                                                      for k in ("coverage", "width", "width_pct")}
    for day in sorted({1, config.horizon}):
        scoring.print_table(f"test period, {day} day(s) ahead ({len(test)} forecasts)", results[f"day_{day}"])
    return run.finish({
        "data": prices.source, "target": prices.target, "features": names, "cleaned": prices.notes,
        "periods": {name: {"from": str(prices.dates[start]), "to": str(prices.dates[stop - 1]), "windows": len(part)}
                    for name, part, (start, stop) in zip(windows.SPLITS, (train_part, val, test), bounds)},
        "test": results,
    }, {"test_forecast.png": scoring.plot_test(test, prices_q, Path(prices.source).stem)})


def main(argv=None):
    return TrainingRun.main(Config, argv, train, recipe=RECIPE, description=__doc__, smoke=SMOKE_CAPS)
