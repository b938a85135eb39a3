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


def interval_scores(actual, low, high, base):
    """Share of days inside [low, high], mean width in price units and as % of the last price."""
    return {"coverage": float(np.mean((actual >= low) & (actual <= high))),
            "width": float(np.mean(high - low)), "width_pct": float(100 * np.mean((high - low) / base))}


def score(test, quantiles, scaler):
    """{"day_h": {model, persistence, drift, always_up, naive_interval}} for each step ahead."""
    prices = to_prices(test.base, quantiles, test.sigma)  # (n, horizon, 3)
    naive = np.broadcast_to(np.array(scaler["naive_quantiles"]), quantiles.shape)  # (n, horizon, 3)
    naive_prices = to_prices(test.base, naive, test.sigma)
    results = {}
    for step in range(quantiles.shape[1]):
        actual, base, naive_band = test.future[:, step], test.base, naive_prices[:, step]
        drift = base * np.exp(scaler["mean_return"] * (step + 1))
        results[f"day_{step + 1}"] = {
            "model": {**point_scores(actual, prices[:, step, 1], base),
                      **interval_scores(actual, prices[:, step, 0], prices[:, step, 2], base)},
            # persistence forecasts no change, so it makes no up/down call to score
            "persistence": {k: v for k, v in point_scores(actual, base, base).items() if k != "direction_accuracy"},
            "drift": point_scores(actual, drift, base),
            "always_up": {"direction_accuracy": float(np.mean(actual > base))},
            "naive_interval": interval_scores(actual, naive_band[:, 0], naive_band[:, 2], base),
        }
    return results, prices


def print_table(title, day):
    """One metric a row, the model beside each baseline that has that metric."""
    columns = ["model", "persistence", "drift", "always_up", "naive_interval"]
    names = ["mae", "rmse", "mape", "direction_accuracy", "coverage", "width", "width_pct"]
    print(f"\n{title}")
    print("  " + f"{'metric':<20}" + "".join(f"{name:>16}" for name in columns))
    for name in names:
        cells = [f"{day[column][name]:.4f}" if name in day[column] else "-" for column in columns]
        print("  " + f"{name:<20}" + "".join(f"{cell:>16}" for cell in cells))
    ratio = day["model"]["mae"] / day["persistence"]["mae"]
    print(f"  model MAE / persistence MAE = {ratio:.4f}  ({'better' if ratio < 1 else 'worse'} by "
          f"{abs(1 - ratio):.2%}); 80% interval covers {day['model']['coverage']:.1%} of days")
    for name in ("uncalibrated", "validation_calibrated"):
        if f"model_{name}_interval" in day:
            other = day[f"model_{name}_interval"]
            print(f"  ({name.replace('_', ' ')} band: coverage {other['coverage']:.1%}, width {other['width']:.4f})")


def plot_test(test, prices, title):
    """Actual price, next-day median forecast, 80% band and persistence on the test period, as PNG bytes."""
    plt = pyplot()  # Agg: files only
    fig, axes = plt.subplots(2, 1, figsize=(11, 7))
    dates = test.target_dates[:, 0]
    for axis, keep in ((axes[0], slice(None)), (axes[1], slice(-PLOT_LAST_DAYS, None))):
        axis.fill_between(dates[keep], prices[keep, 0, 0], prices[keep, 0, 2], color="tab:blue", alpha=0.25,
                          label="80% interval")
        axis.plot(dates[keep], test.future[keep, 0], color="black", lw=1, label="actual")
        axis.plot(dates[keep], prices[keep, 0, 1], color="tab:blue", lw=1, label="forecast (median)")
        axis.plot(dates[keep], test.base[keep], color="tab:orange", lw=1, ls="--", label="persistence")
        axis.set_ylabel("price")
        axis.tick_params(axis="x", labelrotation=20)
    axes[0].set_title(f"{title}: test period, next-day forecasts")
    axes[1].set_title(f"last {min(PLOT_LAST_DAYS, len(dates))} days")
    axes[0].legend(loc="upper left")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()
