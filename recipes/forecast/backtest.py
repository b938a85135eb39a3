"""Rolling-origin backtest: N consecutive folds of the most recent days, a model trained afresh for each.

Fold k's first forecast day is d_k. Everything fitted for it reads days before d_k only: the training
and validation windows (the last --val-fraction of those days validates), the scaler, early stopping,
the band's calibration, the drift, MASE's scale and the GARCH fit. Its forecasts start at origin
d_k - 1 and end where the last target is the fold's last day; inputs may reach back before d_k.
With several series (--tickers) the folds are the same dates for all, and one global model trained on
every series' windows (each standardised with its own training period's scaler) is scored beside
one model per series.
"""
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

from shared.artifacts import publish
from shared.errors import UserError
from shared.report import metrics_json, versions

from . import baselines, data, scoring, windows
from .config import SMOKE

POINT_ONLY = ("persistence", "drift")


@dataclasses.dataclass
class Fold:
    """One series' data for one fold: days [0, first) are the past, [first, stop) are forecast."""
    train: windows.Windows
    val: windows.Windows
    test: windows.Windows
    scaler: dict
    first: int  # index of the fold's first forecast day in this series
    scale: float  # MASE's denominator: mean absolute day-to-day price change before `first`
    mean_return: float  # drift: mean daily log-return before `first`


def history_needed(window, horizon, val_fraction):
    """Days before the first fold for one training and one validation window (validation: the last share)."""
    return int(np.ceil((window + horizon + 2) / val_fraction))


def load_series(config):
    """[(name, Prices)]: --tickers (tickers or CSV paths, comma-separated), several --csv, or one series."""
    names = [part.strip() for part in (config.tickers or config.csv or config.ticker).split(",") if part.strip()]
    series = []
    for name in names:
        path_like = name.lower().endswith(".csv") or "/" in name
        prices = data.read_prices(name, config.target) if path_like or (config.csv and not config.tickers) \
            else data.load("", name, config.target)
        if config.smoke:
            prices = data.last_rows(prices, SMOKE["rows"])
        for line in prices.warnings:
            print(f"warning: {line}", file=sys.stderr)
        series.append((Path(name).stem if path_like else name.upper(), prices))
    return series


def fold_dates(series, folds, fold_days, need):
    """[(first date, last date)] of each fold: the last folds x fold_days dates all series share."""
    for _, prices in series:
        if len(prices) < fold_days + need:
            raise UserError(f"{prices.source}: {len(prices)} rows, shorter than one fold of {fold_days} days plus "
                            f"the {need} days its training and validation windows need; use a smaller --fold-days")
    common = series[0][1].dates
    for _, prices in series[1:]:
        common = np.intersect1d(common, prices.dates)
    if len(series) > 1 and len(common) == 0:
        spans = ", ".join(f"{name} {p.dates[0]}..{p.dates[-1]}" for name, p in series)
        raise UserError(f"the series share no dates ({spans}); the global model and the per-series models are "
                        "scored on the same days, so pass series whose dates overlap")
    wanted = folds * fold_days + (need if len(series) == 1 else 0)
    if len(common) < wanted:
        what = (f"{series[0][1].source}: {len(common)} rows" if len(series) == 1
                else f"the series share {len(common)} dates ({common[0]}..{common[-1]})")
        raise UserError(f"{what}; --backtest {folds} needs {folds} folds x {fold_days} days"
                        + (f" after at least {need} rows for the first fold's training and validation windows: "
                           f"{wanted} rows" if len(series) == 1 else "") + "; use fewer folds or a smaller --fold-days")
    last = common[len(common) - folds * fold_days:]
    return [(last[k * fold_days], last[(k + 1) * fold_days - 1]) for k in range(folds)]


def make_fold(prices, names, config, first, stop):
    """The Fold of days [first, stop): windows, scaler and in-sample figures from days before `first` only."""
    val_start = first - round(first * config.val_fraction)
    returns, sigma, floor = windows.training_volatility(prices, 0, val_start)
    shape = (config.window, config.horizon, config.vol_window, floor, sigma)
    train = windows.windows_of(prices, names, 0, val_start, *shape)
    val = windows.windows_of(prices, names, val_start, first, *shape)
    # Test inputs may reach back before the fold (features read VOLUME_MEAN_DAYS more of the past).
    start = max(0, first - 1 - config.window - windows.VOLUME_MEAN_DAYS)
    test = windows.windows_of(prices, names, start, stop, *shape)
    if train is None or val is None or test is None:
        raise UserError(f"{prices.source}: the fold from {prices.dates[first]} has too few days before it or in "
                        f"it for windows of {config.window} + {config.horizon} days; use fewer folds or a smaller "
                        "--window")
    test = test.tail(int(np.sum(test.end_dates >= prices.dates[first - 1])))
    # With the range feature, windows start where the file's ranges do (GSPC: 1962); the naive band keeps all.
    all_train_y = train.y
    train, val, ranged_test = (windows.with_ranges(part, prices, names, config.window) for part in (train, val, test))
    if train is None or val is None or ranged_test is None or len(ranged_test) < len(test):
        raise UserError(f"{prices.source}: the fold from {prices.dates[first]} has too few days with a high-low "
                        "range (High > Low) before it or in it; use --features return, or fewer folds")
    past = prices.price[:first]
    return Fold(train, val, test, windows.fit_scaler(train, names, returns, sigma, floor, all_train_y), first,
                float(np.mean(np.abs(np.diff(past)))), float(np.mean(np.diff(np.log(past)))))


def stacked(folds, split):
    """(x (n, window, features), y (n, horizon)) of `split` of every Fold, each standardised with its own scaler."""
    parts = [getattr(fold, split) for fold in folds]
    return (np.concatenate([windows.standardise(part.x, fold.scaler) for part, fold in zip(parts, folds)]),
            np.concatenate([part.y for part in parts]).astype("float32"))


def fit_model(run, folds, seed):
    """A forecaster trained on the windows of every Fold in `folds` (one series, or all for the global model)."""
    import keras

    from . import model

    config = run.config
    keras.utils.set_random_seed(seed)
    (x, y), val = stacked(folds, "train"), stacked(folds, "val")
    with run.scope():
        forecaster = model.build_forecaster(config, x.shape[2])
        run.compile(forecaster, loss=model.pinball_loss, steps_per_epoch=-(-len(x) // run.batch_size))
    # Early stopping on the fold's own validation days; the best epoch's weights are kept. No resume:
    # a fold is seconds to a minute of training, and its model is not kept.
    stop = keras.callbacks.EarlyStopping(patience=config.patience, restore_best_weights=True)
    history = forecaster.fit(x, y, batch_size=run.batch_size, epochs=config.epochs, shuffle=True,
                             validation_data=val, callbacks=[stop], verbose=0)
    return forecaster, len(history.history["loss"])


def model_band(forecaster, fold, calibration_days):
    """(n, horizon, 3) price quantiles of the fold's test windows, the band calibrated as in training."""
    def predict(part):  # a direct call: `predict` retraces its function for every fold's new model
        return np.asarray(forecaster(windows.standardise(part.x, fold.scaler), training=False), dtype="float64")
    val_quantiles, raw = predict(fold.val), predict(fold.test)
    if calibration_days:  # each day's factor from the last known outcomes: validation, then earlier test days
        scales = windows.rolling_scales(windows.needed_factors(fold.val.y, val_quantiles),
                                        windows.needed_factors(fold.test.y, raw), calibration_days)
    else:
        scales = windows.interval_scales(fold.val.y, val_quantiles)
    return windows.to_prices(fold.test.base, windows.widen(raw, scales), fold.test.sigma)


def forecasts(prices, fold, horizon, vol_window):
    """{method: (n, horizon[, 3]) prices} of the baselines on the fold's test windows."""
    test = fold.test
    first_origin = fold.first - 1
    garch, _ = baselines.garch_band(prices.price, fold.first, first_origin + len(test) - 1, horizon)
    methods = {"persistence": baselines.persistence(test.base, horizon),
               "drift": baselines.drift(test.base, horizon, fold.mean_return),
               "volatility_band": baselines.volatility_band(test, fold.scaler["naive_quantiles"]), "garch": garch}
    if "high" in prices.columns and "low" in prices.columns:  # calibrated on the fold's training windows
        calibration = baselines.parkinson_quantiles(fold.train, baselines.parkinson_of(prices, fold.train, vol_window))
        methods["parkinson"] = baselines.parkinson_band(test, baselines.parkinson_of(prices, test, vol_window),
                                                        calibration, fold.scaler["naive_quantiles"])
    return methods


def scores(fold, predicted, step):
    """{method: scores} of step `step` (0-based) ahead; always_up is the direction baseline."""
    test = fold.test
    actual, scale = test.future[:, step], np.full(len(test), fold.scale)
    result = {}
    for method, values in predicted.items():
        kind = "point" if method in POINT_ONLY else "quantiles"
        result[method] = scoring.fold_scores(actual, test.base, scale, **{kind: values[:, step]})
    result["always_up"] = {"direction_accuracy": float(np.mean(actual > test.base))}
    return result


def backtest(run):
    """Score the model (and the global model) beside the baselines over every fold; write backtest.json."""
    config = run.config
    names = windows.feature_names(config.features)
    series = load_series(config)
    need = history_needed(config.window, config.horizon, config.val_fraction)
    dates = fold_dates(series, config.backtest, config.fold_days, need)
    print(f"backtest: {config.backtest} folds of {config.fold_days} days, {dates[0][0]} .. {dates[-1][1]}, "
          f"{', '.join(name for name, _ in series)}; a model trained for each fold on the days before it"
          + ("  [smoke: a small slice, not a real result]" if config.smoke else ""))
    started, pooled, folds_out = time.perf_counter(), {name: [] for name, _ in series}, []
    for k, (first_date, last_date) in enumerate(dates):
        folds = []
        for name, prices in series:
            first = int(np.searchsorted(prices.dates, first_date))
            stop = int(np.searchsorted(prices.dates, last_date, side="right"))
            if first < need:
                raise UserError(f"{prices.source}: {first} rows before the fold from {first_date}; its training "
                                f"and validation windows need {need}; use fewer folds or a smaller --fold-days")
            folds.append(make_fold(prices, names, config, first, stop))
        fold_started, epochs, predicted = time.perf_counter(), {}, [{} for _ in series]
        for i, ((name, prices), fold) in enumerate(zip(series, folds)):
            forecaster, epochs[name] = fit_model(run, [fold], config.seed * 1000 + k)
            predicted[i] = {"model": model_band(forecaster, fold, config.calibration_days),
                            **forecasts(prices, fold, config.horizon, config.vol_window)}
        if len(series) > 1:
            forecaster, epochs["global"] = fit_model(run, folds, config.seed * 1000 + k)
            for i, fold in enumerate(folds):
                predicted[i]["global"] = model_band(forecaster, fold, config.calibration_days)
        for (name, prices), fold, methods in zip(series, folds, predicted):
            pooled[name].append((fold, methods))
        folds_out.append({"from": str(first_date), "to": str(last_date), "epochs": epochs,
                          "train_days": {name: f.first for (name, _), f in zip(series, folds)},
                          "seconds": time.perf_counter() - fold_started})
        print(f"  fold {k + 1}: {first_date} .. {last_date}, trained on {folds[0].first} days before it "
              f"({', '.join(f'{n} {e}' for n, e in epochs.items())} epochs), {folds_out[-1]['seconds']:.0f} s")
    results = {name: summarise(parts, config.horizon) for name, parts in pooled.items()}
    seconds = time.perf_counter() - started
    for name, result in results.items():
        scoring.print_backtest(name, result, sorted({1, config.horizon}))
    if len(series) > 1:
        scoring.print_global_verdict(results)
    files = {f"backtest_{name}.png": scoring.plot_backtest(name, result["day_1"], parts[-1][0],
                                                           parts[-1][1]) for (name, parts), result
             in zip(pooled.items(), results.values())}
    metrics = {"recipe": run.recipe, "smoke": config.smoke, "folds": folds_out, "series": results,
               "sources": {name: prices.source for name, prices in series}, "seconds": seconds,
               "versions": versions()}
    if run.chief:
        publish(run.out, {"backtest.json": metrics_json(metrics), "backtest_config.json": run.config_json, **files})
        print(f"\nsaved backtest.json and {', '.join(files)} in {run.out}/ ({seconds / 60:.1f} min)")
    return metrics


def summarise(parts, horizon):
    """{"day_h": {"folds": [{method: scores}], "overall": {method: scores}}} from [(Fold, {method: prices})]."""
    result = {}
    for step in range(horizon):
        per_fold = [scores(fold, methods, step) for fold, methods in parts]
        merged = windows.Windows(*(np.concatenate([getattr(f.test, field.name) for f, _ in parts])
                                   for field in dataclasses.fields(windows.Windows)))
        scale = np.concatenate([np.full(len(f.test), f.scale) for f, _ in parts])
        overall, days = {}, {}  # days: each band's per-day interval scores, for the paired comparison
        for method in parts[0][1]:
            values = np.concatenate([methods[method][:, step] for _, methods in parts])
            kind = "point" if method in POINT_ONLY else "quantiles"
            overall[method] = scoring.fold_scores(merged.future[:, step], merged.base, scale, **{kind: values})
            if kind == "quantiles":
                days[method] = scoring.interval_score(merged.future[:, step], values[:, 0], values[:, 2])
        overall["always_up"] = {"direction_accuracy": float(np.mean(merged.future[:, step] > merged.base))}
        paired = {method: scoring.paired_ratio(days["model"], values) for method, values in days.items()
                  if method in scoring.BASELINE_BANDS}
        result[f"day_{step + 1}"] = {"folds": per_fold, "overall": overall, "paired": paired}
    return result

