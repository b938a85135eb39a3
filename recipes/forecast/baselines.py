"""The forecasts a network must beat, made for the same forecast origins as the model.

persistence   tomorrow's price = today's
drift         today's price times the past's mean daily log-return, compounded
volatility    the naive band: past-only volatility of the last `vol_window` days times the training
              period's 10th, 50th and 90th percentiles of the scaled returns (no network)
Parkinson     the same band on a range-based volatility: the mean of ln(High/Low)^2 / (4 ln 2) over the last
              `vol_window` days up to and including the origin (the days the model's last inputs cover),
              times the training windows' quantiles of the returns scaled by it
GARCH(1,1)    the interval econometrics uses: a constant mean and GARCH(1,1) variance with Student-t
              errors, fitted by maximum likelihood on the log-returns before the fold's first forecast
              day (the `arch` package), its parameters then held fixed while the variance is updated
              with each new day's return, as a forecaster would
"""
import warnings

import numpy as np

from .windows import to_prices

LEVELS = (0.1, 0.5, 0.9)
PERCENT = 100.0  # arch fits returns in percent: its optimiser is tuned for numbers of order 1


def persistence(base, horizon):
    """(n, horizon) today's price for every day ahead."""
    return np.repeat(base[:, None], horizon, axis=1)


def drift(base, horizon, mean_return):
    """(n, horizon) today's price grown by `mean_return` (a daily log-return) per day ahead."""
    return base[:, None] * np.exp(mean_return * np.arange(1, horizon + 1))[None, :]


def volatility_band(part, naive_quantiles):
    """(n, horizon, 3) prices: the training period's quantiles of scaled returns, times today's volatility."""
    scaled = np.broadcast_to(np.asarray(naive_quantiles), (len(part), *np.shape(naive_quantiles)))
    return to_prices(part.base, scaled, part.sigma)


def parkinson_volatility(high, low, days):
    """(n,) per day t: sqrt(mean of ln(High/Low)^2 / (4 ln 2) over days t-days+1..t), past and present only.

    Days without a range (High <= Low, or missing) are left out of the mean; NaN where the last `days`
    days have none (GSPC before 1962: High == Low == Close).
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        spread = np.log(np.asarray(high, dtype="float64") / np.asarray(low, dtype="float64"))
    real = np.isfinite(spread) & (spread > 0)
    variance = np.where(real, spread, 0.0) ** 2 / (4 * np.log(2))
    total = np.convolve(variance, np.ones(days), "full")[: len(variance)]  # sum over t-days+1..t
    count = np.convolve(real.astype("float64"), np.ones(days), "full")[: len(real)]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, np.sqrt(total / count), np.nan)


def parkinson_of(prices, part, days):
    """(n,) Parkinson volatility on each window's last day (its origin); NaN without High and Low."""
    if "high" not in prices.columns or "low" not in prices.columns:
        return np.full(len(part), np.nan)
    volatility = parkinson_volatility(prices.columns["high"], prices.columns["low"], days)
    return volatility[np.searchsorted(prices.dates, part.end_dates)]


def parkinson_quantiles(train, volatility):
    """(horizon, 3) quantiles at LEVELS of the training windows' log-returns over Parkinson volatility x sqrt(h).

    train.y * train.sigma is the log-return over sqrt(h) (windows.scale_targets); windows without a
    range (volatility NaN) are left out. None where no training window has one.
    """
    known = np.isfinite(volatility) & (volatility > 0)
    if not known.any():
        return None
    scaled = train.y[known] * (train.sigma[known] / volatility[known])[:, None]
    return np.quantile(scaled, LEVELS, axis=0).T


def parkinson_band(part, volatility, quantiles, naive_quantiles):
    """(n, horizon, 3) prices: the Parkinson quantiles times the origin's Parkinson volatility.

    An origin whose last days have no range falls back to the volatility band (close-to-close).
    """
    known = np.isfinite(volatility) & (volatility > 0)
    if quantiles is None:
        return volatility_band(part, naive_quantiles)
    band = to_prices(part.base, np.broadcast_to(quantiles, (len(part), *np.shape(quantiles))),
                     np.where(known, volatility, 1.0))
    return np.where(known[:, None, None], band, volatility_band(part, naive_quantiles))


def garch_band(price, first_day, last_origin, horizon, dist="t"):
    """(n, horizon, 3) prices for the origins first_day - 1 .. last_origin, and the arch fit.

    price: (days,) the whole series. The fit reads the returns into days 1..first_day - 1 only; each
    origin's forecast reads the returns up to that origin (the fixed parameters filter the variance
    forward); nothing after last_origin is read. The h-day log-return has mean h * mu and the sum of
    the h daily variances (returns uncorrelated), with the fitted error distribution's quantiles.
    """
    from arch import arch_model  # here: --help does not load it

    returns = PERCENT * np.diff(np.log(price[: last_origin + 1]))  # returns[i]: the change into day i + 1
    model = arch_model(returns, mean="Constant", vol="GARCH", p=1, q=1, dist=dist, rescale=False)
    with warnings.catch_warnings():  # a poorly converged fit still forecasts: its scores say how well
        warnings.simplefilter("ignore")
        result = model.fit(last_obs=first_day - 1, disp="off", show_warning=False)
        # arch's origin i has read returns[:i + 1], i.e. prices up to day i + 1
        forecast = result.forecast(horizon=horizon, start=first_day - 2, reindex=False)
    variance = np.cumsum(forecast.variance.to_numpy(), axis=1)  # (n, horizon) h-day sums
    mean = float(result.params["mu"]) * np.arange(1, horizon + 1)
    shape = result.params[model.distribution.parameter_names()].to_numpy()  # Student-t: nu; normal: none
    standard = np.asarray(model.distribution.ppf(np.array(LEVELS), shape))  # quantiles of unit variance
    cumulative = (mean[None, :, None] + np.sqrt(variance)[..., None] * standard[None, None, :]) / PERCENT
    base = price[first_day - 1: last_origin + 1]
    return base[:, None, None] * np.exp(cumulative), result
