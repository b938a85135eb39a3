"""Train a quantile forecaster on daily prices (or any positive daily series), score it on the most recent
period against naive forecasts."""
import json
import sys
from pathlib import Path

import numpy as np

from shared.errors import UserError
from shared.run import TrainingRun

from . import baselines, data, scoring, windows
from .config import SMOKE, SMOKE_CAPS, Config
from .windows import feature_names  # by name: benchmarks/forecast.py imports it from here

RECIPE = __name__.split(".")[-2]  # the folder's name, so a copied recipe is its own recipe


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
    print(f"data: {prices.source}, {len(prices)} days, forecasting {prices.label or prices.target}"
          + ("  [smoke: a small slice, not a real result]" if config.smoke else ""))
    for date, change in windows.implausible_jumps(prices, bounds[0]):
        print(f"warning: {prices.source}: {date}: the {prices.noun} moves {change:+.0%} in a day, beyond 20 "
              f"standard deviations of the training period's daily moves; check that row (a {prices.noun} in the "
              "wrong unit?)", file=sys.stderr)
    for note in prices.notes:
        print(f"  cleaned: {note}")
    for line in prices.warnings:
        print(f"warning: {line}", file=sys.stderr)
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
    results, prices_q = scoring.score(test, quantiles, scaler, baseline_bands(prices, train_part, test, scaler, config))
    for name, band in (("uncalibrated", raw), ("validation_calibrated", windows.widen(raw, scaler["interval_scales"]))):
        other = scoring.score(test, band, scaler)[0]
        for day in results:  # how other bands did, for the record
            results[day][f"model_{name}_interval"] = {k: other[day]["model"][k]
                                                      for k in ("interval_score", "coverage", "width", "width_pct")}
    for day in sorted({1, config.horizon}):
        scoring.print_table(f"test period, {day} day(s) ahead ({len(test)} forecasts)", results[f"day_{day}"])
    return run.finish({
        "data": prices.source, "target": prices.target, "features": names, "cleaned": prices.notes,
        "periods": {name: {"from": str(prices.dates[start]), "to": str(prices.dates[stop - 1]), "windows": len(part)}
                    for name, part, (start, stop) in zip(windows.SPLITS, (train_part, val, test), bounds)},
        "test": results,
    }, {"test_forecast.png": scoring.plot_test(test, prices_q, Path(prices.source).stem, prices.noun)})


def baseline_bands(prices, train_part, test, scaler, config):
    """{name: (n, horizon, 3) prices} of the test windows' baseline bands beside the rolling one (in score):
    Parkinson (from High and Low, when the file has them) and GARCH(1,1), each fitted on the past only."""
    bands = {}
    if "high" in prices.columns and "low" in prices.columns:
        calibration = baselines.parkinson_quantiles(train_part, baselines.parkinson_of(prices, train_part,
                                                                                       config.vol_window))
        bands["parkinson_interval"] = baselines.parkinson_band(
            test, baselines.parkinson_of(prices, test, config.vol_window), calibration, scaler["naive_quantiles"])
    origins = np.searchsorted(prices.dates, test.end_dates)  # consecutive days: GARCH rolls through them
    bands["garch_interval"] = baselines.garch_band(prices.price, int(origins[0]) + 1, int(origins[-1]),
                                                   config.horizon)[0]
    return bands


def main(argv=None):
    return TrainingRun.main(Config, argv, train, recipe=RECIPE, description=__doc__, smoke=SMOKE_CAPS)
