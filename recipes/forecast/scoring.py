"""Score forecasts on the test period beside the baselines that a forecast must beat, and plot them."""
import io

import numpy as np

from shared.report import pyplot

from .windows import to_prices

PLOT_LAST_DAYS = 120  # the zoomed panel: long enough to see the band move, short enough to see days


def point_scores(actual, point, base):
    """MAE, RMSE, MAPE (%) in price units and the share of days whose up/down call was right."""
    error = point - actual
    return {"mae": float(np.mean(np.abs(error))), "rmse": float(np.sqrt(np.mean(error ** 2))),
            "mape": float(100 * np.mean(np.abs(error) / actual)),
            "direction_accuracy": float(np.mean((point > base) == (actual > base)))}


LEVELS = (0.1, 0.5, 0.9)  # the model's quantiles; 10-90 is the 80% band
ALPHA = 0.2  # the band's miss rate: the interval score charges 2 / ALPHA per unit outside it


def interval_scores(actual, low, high, base):
    """Mean interval score, share of days inside [low, high], mean width in price units and as % of the
    last price. Bands are compared by the interval score: widths only compare at equal coverage."""
    return {"interval_score": float(np.mean(interval_score(actual, low, high))),
            "coverage": float(np.mean((actual >= low) & (actual <= high))),
            "width": float(np.mean(high - low)), "width_pct": float(100 * np.mean((high - low) / base))}


def pinball(actual, quantiles):
    """(3,) mean quantile loss of (n, 3) quantile forecasts at LEVELS, in price units."""
    error = actual[:, None] - quantiles
    levels = np.array(LEVELS)
    return np.mean(np.maximum(levels * error, (levels - 1) * error), axis=0)


def interval_score(actual, low, high, alpha=ALPHA):
    """(n,) Winkler's interval score of the (1 - alpha) band: its width plus 2/alpha times any miss."""
    return (high - low) + (2 / alpha) * (np.maximum(low - actual, 0) + np.maximum(actual - high, 0))


def fold_scores(actual, base, scale, point=None, quantiles=None):
    """Backtest scores of one method on n forecasts: point (n,) and/or quantiles (n, 3).

    scale (n,): the in-sample mean absolute day-to-day price change (MASE's denominator) of each
    forecast's fold; the median is the point forecast of a method with quantiles.
    """
    point = quantiles[:, 1] if point is None else point
    error = point - actual
    scores = {"mae": float(np.mean(np.abs(error))), "rmse": float(np.sqrt(np.mean(error ** 2))),
              "mase": float(np.mean(np.abs(error) / scale))}
    if not np.array_equal(point, base):  # persistence makes no up/down call
        scores["direction_accuracy"] = float(np.mean((point > base) == (actual > base)))
    if quantiles is not None:
        losses = pinball(actual, quantiles)
        scores.update({f"pinball_{round(100 * level)}": float(loss) for level, loss in zip(LEVELS, losses)})
        scores["pinball"] = float(losses.mean())
        scores.update(interval_scores(actual, quantiles[:, 0], quantiles[:, 2], base))
    return scores


def paired_ratio(model, other, block=20, draws=2000, seed=0):
    """Mean of `model` over mean of `other`, per-day scores of the same days (n,), with a 95% interval from a
    moving-block bootstrap of the days (blocks of `block` days keep calm and turbulent spells together)."""
    n = len(model)
    block = min(block, n)
    starts = np.random.default_rng(seed).integers(0, n - block + 1, size=(draws, -(-n // block)))
    days = (starts[..., None] + np.arange(block)).reshape(draws, -1)[:, :n]  # (draws, n) resampled days
    ratios = model[days].mean(axis=1) / other[days].mean(axis=1)
    low, high = np.quantile(ratios, [0.025, 0.975])
    return {"ratio": float(model.mean() / other.mean()), "low": float(low), "high": float(high)}


def verdict(paired):
    """"better", "worse" or "level": whether the bootstrap interval of the ratio excludes 1."""
    return "better" if paired["high"] < 1 else "worse" if paired["low"] > 1 else "level"


def score(test, quantiles, scaler, bands=None):
    """{"day_h": {model, persistence, drift, always_up, naive_interval, *bands, paired}} for each step ahead.

    bands: {name: (n, horizon, 3) prices} of other baseline bands; "paired" holds, per baseline band,
    the model's interval score over the band's on the same days, with a block-bootstrap interval.
    """
    prices = to_prices(test.base, quantiles, test.sigma)  # (n, horizon, 3)
    naive = np.broadcast_to(np.array(scaler["naive_quantiles"]), quantiles.shape)  # (n, horizon, 3)
    bands = {"naive_interval": to_prices(test.base, naive, test.sigma), **(bands or {})}
    results = {}
    for step in range(quantiles.shape[1]):
        actual, base = test.future[:, step], test.base
        drift = base * np.exp(scaler["mean_return"] * (step + 1))
        model_days = interval_score(actual, prices[:, step, 0], prices[:, step, 2])
        results[f"day_{step + 1}"] = {
            "model": {**point_scores(actual, prices[:, step, 1], base),
                      **interval_scores(actual, prices[:, step, 0], prices[:, step, 2], base)},
            # persistence forecasts no change, so it makes no up/down call to score
            "persistence": {k: v for k, v in point_scores(actual, base, base).items() if k != "direction_accuracy"},
            "drift": point_scores(actual, drift, base),
            "always_up": {"direction_accuracy": float(np.mean(actual > base))},
            **{name: interval_scores(actual, band[:, step, 0], band[:, step, 2], base) for name, band in bands.items()},
            "paired": {name: paired_ratio(model_days, interval_score(actual, band[:, step, 0], band[:, step, 2]))
                       for name, band in bands.items()},
        }
    return results, prices


def print_table(title, day):
    """One metric a row, the model beside each baseline that has that metric; bands compared by interval score."""
    columns = ["model", "persistence", "drift", "always_up", *day["paired"]]
    names = ["mae", "rmse", "mape", "direction_accuracy", "interval_score", "coverage", "width", "width_pct"]
    print(f"\n{title}")
    print("  " + f"{'metric':<20}" + "".join(f"{name:>18}" for name in columns))
    for name in names:
        cells = [f"{day[column][name]:.4f}" if name in day[column] else "-" for column in columns]
        print("  " + f"{name:<20}" + "".join(f"{cell:>18}" for cell in cells))
    ratio = day["model"]["mae"] / day["persistence"]["mae"]
    print(f"  model MAE / persistence MAE = {ratio:.4f}  ({'better' if ratio < 1 else 'worse'} by "
          f"{abs(1 - ratio):.2%}); 80% interval covers {day['model']['coverage']:.1%} of days")
    for name, paired in day["paired"].items():
        print(f"  interval score model / {name} = {paired['ratio']:.3f} (95% block bootstrap {paired['low']:.3f}-"
              f"{paired['high']:.3f}): {verdict(paired)}")
    for name in ("uncalibrated", "validation_calibrated"):
        if f"model_{name}_interval" in day:
            other = day[f"model_{name}_interval"]
            print(f"  ({name.replace('_', ' ')} band: coverage {other['coverage']:.1%}, width {other['width']:.4f}, "
                  f"interval score {other['interval_score']:.4f})")


def plot_test(test, prices, title, noun="price"):
    """Actual value (`noun`), next-day median forecast, 80% band and persistence on the test period, as PNG bytes."""
    plt = pyplot()  # Agg: files only
    fig, axes = plt.subplots(2, 1, figsize=(11, 7))
    dates = test.target_dates[:, 0]
    for axis, keep in ((axes[0], slice(None)), (axes[1], slice(-PLOT_LAST_DAYS, None))):
        axis.fill_between(dates[keep], prices[keep, 0, 0], prices[keep, 0, 2], color="tab:blue", alpha=0.25,
                          label="80% interval")
        axis.plot(dates[keep], test.future[keep, 0], color="black", lw=1, label="actual")
        axis.plot(dates[keep], prices[keep, 0, 1], color="tab:blue", lw=1, label="forecast (median)")
        axis.plot(dates[keep], test.base[keep], color="tab:orange", lw=1, ls="--", label="persistence")
        axis.set_ylabel(noun)
        axis.tick_params(axis="x", labelrotation=20)
    axes[0].set_title(f"{title}: test period, next-day forecasts")
    axes[1].set_title(f"last {min(PLOT_LAST_DAYS, len(dates))} days")
    axes[0].legend(loc="upper left")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()


BANDS = ("model", "global", "parkinson", "volatility_band", "garch")  # the methods with quantiles
BASELINE_BANDS = ("parkinson", "volatility_band", "garch")  # the bands a network must beat
ROWS = ("mae", "rmse", "mase", "direction_accuracy", "pinball_10", "pinball_50", "pinball_90", "pinball",
        "interval_score", "coverage", "width", "width_pct")


def _wins(folds, metric, method, other, lower=True):
    """How many folds `method` scores better than `other` on `metric`."""
    return sum((f[method][metric] < f[other][metric]) == lower for f in folds)


def print_backtest(name, result, days):
    """Per step ahead: every method's overall scores, the per-fold band figures, and the verdicts."""
    for day in days:
        folds, overall = result[f"day_{day}"]["folds"], result[f"day_{day}"]["overall"]
        columns = list(overall)
        print(f"\n{name}, {day} day(s) ahead, {len(folds)} folds (all forecasts pooled)")
        print("  " + f"{'metric':<20}" + "".join(f"{column:>16}" for column in columns))
        for metric in ROWS:
            cells = [f"{overall[c][metric]:.4f}" if metric in overall[c] else "-" for c in columns]
            print("  " + f"{metric:<20}" + "".join(f"{cell:>16}" for cell in cells))
        bands = [band for band in BANDS if band in overall]
        print("  per fold: 80% coverage (" + ", ".join(bands) + "); interval score (same)")
        for k, fold in enumerate(folds):
            print(f"    {k + 1}: " + " ".join(f"{fold[b]['coverage']:.3f}" for b in bands) + "; "
                  + " ".join(f"{fold[b]['interval_score']:.3f}" for b in bands))
        coverage = [fold["model"]["coverage"] for fold in folds]
        print(f"  model band: coverage {np.mean(coverage):.3f} on average over folds, {min(coverage):.3f} at worst")
        for other, paired in result[f"day_{day}"]["paired"].items():
            print(f"  interval score model / {other} = {paired['ratio']:.3f} (95% block bootstrap "
                  f"{paired['low']:.3f}-{paired['high']:.3f}: {verdict(paired)}): better in "
                  f"{_wins(folds, 'interval_score', 'model', other)} of {len(folds)} folds")
        for other in ("persistence", "drift"):
            print(f"  MASE model {overall['model']['mase']:.3f}, {other} {overall[other]['mase']:.3f}: model better "
                  f"in {_wins(folds, 'mase', 'model', other)} of {len(folds)} folds")


def print_global_verdict(results):
    """One global model or one model per series: which scores better, series by series (1 day ahead)."""
    print("\nglobal model (all series) against one model per series, 1 day ahead:")
    for name, result in results.items():
        folds, overall = result["day_1"]["folds"], result["day_1"]["overall"]
        for metric in ("interval_score", "pinball", "mase"):
            better = overall["global"][metric] < overall["model"][metric]
            print(f"  {name:<8} {metric:<15} global {overall['global'][metric]:.4f}, per series "
                  f"{overall['model'][metric]:.4f}: {'global' if better else 'per series'} better overall, "
                  f"global better in {_wins(folds, metric, 'global', 'model')} of {len(folds)} folds")


def plot_backtest(title, day, fold, methods):
    """Per-fold interval score and coverage of each band, and the last fold's price with the model's band, as PNG."""
    plt = pyplot()
    fig, axes = plt.subplots(3, 1, figsize=(11, 10))
    folds = np.arange(1, len(day["folds"]) + 1)
    bands = [band for band in BANDS if band in day["overall"]]
    for band in bands:
        # relative to the naive band, whose scores grow with the price level: below 1 is better than it
        axes[0].plot(folds, [f[band]["interval_score"] / f["volatility_band"]["interval_score"]
                             for f in day["folds"]], "o-", label=band)
        axes[1].plot(folds, [f[band]["coverage"] for f in day["folds"]], "o-", label=band)
    for axis, level in ((axes[0], 1.0), (axes[1], 0.8)):
        axis.axhline(level, color="black", lw=0.8, ls="--")
    axes[0].set_title(f"{title}: interval score of the 80% band per fold / the volatility band's, 1 day ahead "
                      "(lower is better)")
    axes[1].set_title("coverage of the 80% band per fold (target 0.8)")
    for axis in axes[:2]:
        axis.set_xticks(folds)
        axis.set_xlabel("fold")
        axis.legend(loc="best", fontsize=8)
    dates, actual = fold.test.target_dates[:, 0], fold.test.future[:, 0]
    band = methods["model"][:, 0]
    axes[2].fill_between(dates, band[:, 0], band[:, 2], color="tab:blue", alpha=0.25, label="model 80% band")
    axes[2].plot(dates, actual, color="black", lw=1, label="actual")
    axes[2].plot(dates, methods["garch"][:, 0, 0], color="tab:red", lw=0.7, ls=":", label="GARCH(1,1) band")
    axes[2].plot(dates, methods["garch"][:, 0, 2], color="tab:red", lw=0.7, ls=":")
    axes[2].set_title("last fold: next-day forecasts")
    axes[2].legend(loc="upper left", fontsize=8)
    axes[2].tick_params(axis="x", labelrotation=20)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()
