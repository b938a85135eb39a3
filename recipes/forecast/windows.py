"""From a price table to model inputs and targets, with no look-ahead and no leak across splits.

Per day d (computed inside one split, from that split's days only):
  return  log(P[d] / P[d-1])                    the change the model forecasts
  range   log(High[d] / Low[d])                 today's spread, a sharper volatility signal
  volume  log(1 + V[d]) - its mean over the last 20 days (0 where volume is 0 or missing)
Per window ending on day t (inputs days t-window+1..t, targets t+1..t+horizon):
  sigma_t  root mean square of the last `vol_window` returns, past only
  inputs   return and range divided by sigma_t, volume as is, plus log(sigma_t / training sigma),
           then standardised with means and deviations of the training windows only
  targets  y[h] = log(P[t+h] / P[t]) / (sigma_t * sqrt(h)): prices never enter the model,
           so a stock that went from 50 to 1,700 looks the same at both ends
"""
import dataclasses

import numpy as np

from shared.data import prefetched, slices
from shared.errors import UserError

from . import data

FEATURES = ("return", "range", "volume")
ALIASES = {"close": "return", "returns": "return", "high-low": "range", "hl": "range"}
VOLUME_MEAN_DAYS = 20
SPLITS = ("train", "validation", "test")


def day_features(prices, names, start=0, stop=None):
    """(days, len(names)) raw features of days start..stop-1, using nothing before `start`."""
    stop = len(prices) if stop is None else stop
    price = prices.price[start:stop]
    columns = {"return": np.concatenate([[np.nan], np.diff(np.log(price))])}
    if "range" in names:
        if "high" not in prices.columns or "low" not in prices.columns:
            raise UserError(f"{prices.source}: feature 'range' needs High and Low columns; "
                            "use --features return")
        high, low = prices.columns["high"][start:stop], prices.columns["low"][start:stop]
        with np.errstate(invalid="ignore", divide="ignore"):
            spread = np.log(high / low)
        columns["range"] = np.where(np.isfinite(spread) & (spread >= 0), spread, 0.0)
    if "volume" in names:
        if "volume" not in prices.columns:
            raise UserError(f"{prices.source}: feature 'volume' needs a Volume column")
        logged = np.log1p(np.nan_to_num(np.maximum(prices.columns["volume"][start:stop], 0)))
        mean = np.convolve(logged, np.ones(VOLUME_MEAN_DAYS), "full")[: len(logged)]
        mean /= np.minimum(np.arange(1, len(logged) + 1), VOLUME_MEAN_DAYS)  # fewer days at the start
        columns["volume"] = logged - mean
    return np.stack([columns[name] for name in names], axis=1)


def feature_names(text):
    """--features as a list: return first (always), aliases resolved, unknown names refused."""
    names = ["return"]
    for name in (part.strip().lower() for part in text.split(",") if part.strip()):
        name = ALIASES.get(name, name)
        if name not in FEATURES:
            raise UserError(f"--features: unknown feature {name!r} (choose from {', '.join(FEATURES)})")
        if name not in names:
            names.append(name)
    return names


def split_bounds(days, fractions):
    """[(start, stop)] of train, validation and test: consecutive date ranges, oldest first."""
    val_fraction, test_fraction = fractions
    test_start = days - round(days * test_fraction)
    val_start = test_start - round(days * val_fraction)
    return [(0, val_start), (val_start, test_start), (test_start, days)]


@dataclasses.dataclass
class Windows:
    x: np.ndarray  # (n, window, features + 1) float32, before standardising
    y: np.ndarray  # (n, horizon) scaled cumulative log-returns
    base: np.ndarray  # (n,) price on the window's last day
    sigma: np.ndarray  # (n,) past-only volatility of that day
    future: np.ndarray  # (n, horizon) actual prices on the target days
    end_dates: np.ndarray  # (n,) the window's last day
    target_dates: np.ndarray  # (n, horizon)

    def __len__(self):
        return len(self.y)

    def tail(self, count):
        return Windows(*(getattr(self, f.name)[-count:] for f in dataclasses.fields(self)))


def volatility(returns, vol_window, floor):
    """(n,) root mean square of the last vol_window returns of each row of (n, window)."""
    return np.maximum(np.sqrt(np.mean(np.square(returns[:, -vol_window:]), axis=1)), floor)


def make_inputs(raw, names, vol_window, floor, train_sigma):
    """(n, window, F) raw features -> (n, window, F + 1) vol-scaled inputs, and sigma (n,)."""
    sigma = volatility(raw[:, :, names.index("return")], vol_window, floor)
    scaled = raw.copy()
    for name in ("return", "range"):
        if name in names:
            scaled[:, :, names.index(name)] /= sigma[:, None]
    level = np.broadcast_to(np.log(sigma / train_sigma)[:, None, None], (len(raw), raw.shape[1], 1))
    return np.concatenate([scaled, level], axis=2), sigma


def scale_targets(base, future, sigma):
    """(n, horizon) prices -> y[h] = log(future / base) / (sigma * sqrt(h))."""
    steps = np.sqrt(np.arange(1, future.shape[1] + 1))
    return np.log(future / base[:, None]) / (sigma[:, None] * steps)


def to_prices(base, y, sigma):
    """Inverse of scale_targets; y may carry trailing quantile axes: (n, horizon[, q])."""
    steps = np.sqrt(np.arange(1, y.shape[1] + 1)).reshape((1, -1) + (1,) * (y.ndim - 2))
    spread = (sigma.reshape((-1,) + (1,) * (y.ndim - 1))) * steps
    return base.reshape((-1,) + (1,) * (y.ndim - 1)) * np.exp(y * spread)


def windows_of(prices, names, start, stop, window, horizon, vol_window, floor, train_sigma):
    """Every window whose inputs and targets lie in days start..stop-1."""
    raw = day_features(prices, names, start, stop)
    price, dates = prices.price[start:stop], prices.dates[start:stop]
    ends = np.arange(window, len(raw) - horizon)  # day 0 has no return: inputs start at day 1
    if len(ends) == 0:
        return None
    rows = ends[:, None] + np.arange(-window + 1, 1)  # (n, window) day indices
    ahead = ends[:, None] + np.arange(1, horizon + 1)  # (n, horizon)
    x, sigma = make_inputs(raw[rows], names, vol_window, floor, train_sigma)
    base, future = price[ends], price[ahead]
    return Windows(x.astype("float32"), scale_targets(base, future, sigma), base, sigma, future,
                   dates[ends], dates[ahead])


def training_volatility(prices, start, stop):
    """(returns, sigma, floor) of the training period days start..stop-1: the scale every input is measured in."""
    returns = day_features(prices, ["return"], start, stop)[1:, 0]
    if not np.any(returns != 0):
        raise UserError(f"{prices.source}: the {prices.noun} does not move in the training period: nothing to learn")
    sigma = float(np.sqrt(np.mean(np.square(returns))))
    return returns, sigma, 0.05 * sigma  # the floor: a quiet stretch must not blow the scaled inputs up


def with_ranges(part, prices, names, window):
    """The windows of `part` whose inputs all lie on or after the file's first day with a high-low range,
    when the model reads the range (GSPC has none before 1962: a range of 0 there is no signal); None if none."""
    first = data.first_range_day(prices) if "range" in names else 0
    if first == 0:
        return part
    if first + window - 1 >= len(prices):
        return None
    count = int(np.sum(part.end_dates >= prices.dates[first + window - 1]))
    return part.tail(count) if count else None


def fit_scaler(train, names, returns, sigma, floor, naive_y=None):
    """The standardising statistics of the training windows only, and the naive band's quantiles of the
    training targets (`naive_y`, default train.y: every training window, with or without a range)."""
    naive_y = train.y if naive_y is None else naive_y
    mean = train.x.reshape(-1, train.x.shape[2]).mean(axis=0)
    std = train.x.reshape(-1, train.x.shape[2]).std(axis=0)
    return {"features": list(names), "mean": mean.tolist(), "std": np.where(std > 0, std, 1.0).tolist(),
            "train_sigma": sigma, "floor": floor, "mean_return": float(returns.mean()),
            # the naive interval: training-period quantiles of the scaled targets, per horizon step
            "naive_quantiles": np.quantile(naive_y, [0.1, 0.5, 0.9], axis=0).T.tolist()}


def build(prices, names, window, horizon, vol_window, fractions):
    """(train, validation, test) Windows and the scaler fitted on the training period only."""
    bounds = split_bounds(len(prices), fractions)
    returns, train_sigma, floor = training_volatility(prices, *bounds[0])
    parts = []
    for name, (start, stop) in zip(SPLITS, bounds):
        part = windows_of(prices, names, start, stop, window, horizon, vol_window, floor, train_sigma)
        if part is None:
            need = int(np.ceil((window + horizon + 1) / min(fractions + (1 - sum(fractions),))))
            raise UserError(f"{prices.source}: {len(prices)} usable rows leave no {name} window of "
                            f"{window} + {horizon} days; need about {need} rows, or a smaller --window")
        parts.append(part)
    ranged = [with_ranges(part, prices, names, window) for part in parts]
    if any(part is None for part in ranged):
        name = SPLITS[[part is None for part in ranged].index(True)]
        raise UserError(f"{prices.source}: the {name} period has no window whose days all have a high-low range "
                        "(High > Low); use --features return")
    return ranged, fit_scaler(ranged[0], names, returns, train_sigma, floor, parts[0].y), bounds


def implausible_jumps(prices, train_bounds, limit=20.0):
    """[(date, relative change)] of the days whose log-return exceeds `limit` robust standard deviations
    of the training period's daily returns: most likely a typing or unit error in the file.

    Robust (1.4826 x the median absolute return): a spike must not hide itself by inflating the spread.
    """
    returns = np.diff(np.log(prices.price))  # (days - 1,) return of day i + 1
    start, stop = train_bounds
    spread = 1.4826 * np.median(np.abs(returns[start: max(start + 1, stop - 1)]))
    if not spread > 0:
        return []
    days = np.flatnonzero(np.abs(returns) > limit * spread)
    return [(str(prices.dates[day + 1]), float(np.expm1(returns[day]))) for day in days]


def needed_factors(y, quantiles):
    """(n, horizon) factor by which each band's half-width must grow to cover its actual value.

    A sample is covered once the factor reaches max((median - y) / lower half-width,
    (y - median) / upper half-width).
    """
    low, median, high = quantiles[..., 0], quantiles[..., 1], quantiles[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):  # a zero half-width needs an infinite factor
        needed = np.maximum((median - y) / (median - low), (y - median) / (high - median))
    return np.nan_to_num(needed, nan=0.0)


def interval_scales(y, quantiles, coverage=0.8):
    """(horizon,) factors for the band's two half-widths that make it cover `coverage` of (y, quantiles):

    split conformal calibration, fitted once on the validation period.
    """
    return np.quantile(needed_factors(y, quantiles), coverage, axis=0, method="higher")


def rolling_scales(known, new, days, coverage=0.8):
    """(n, horizon) factors for n consecutive forecasts, each from the last `days` outcomes known by then.

    known: (m, horizon) needed factors of earlier windows (all outcomes known before the first new
    forecast); new: (n, horizon) those of the new windows, one trading day apart. The step-h outcome
    of window j is known on the last day of window j + h, so forecast i may use new[:i - h + 1] only.
    Prices are not exchangeable over years (calm and turbulent spells alternate), so a band
    recalibrated on the recent past stays near 80% where one factor from the validation period drifts.
    """
    scales = np.empty(new.shape)
    for step in range(new.shape[1]):
        history = np.concatenate([known[:, step], new[:, step]])
        for i in range(len(new)):
            stop = len(known) + max(0, i - step)  # outcomes of new windows before i - step are known
            recent = history[max(0, stop - days):stop]
            scales[i, step] = np.quantile(recent, coverage, method="higher")
    return scales


def widen(quantiles, scales):
    """(n, horizon, 3) quantiles with each half of the band multiplied by its factor: (horizon,) or (n, horizon)."""
    scales = np.asarray(scales)
    scales = scales[None, :] if scales.ndim == 1 else scales
    median = quantiles[..., 1]
    return np.stack([median - scales * (median - quantiles[..., 0]), median,
                     median + scales * (quantiles[..., 2] - median)], axis=-1)


def standardise(x, scaler):
    return ((x - np.array(scaler["mean"])) / np.array(scaler["std"])).astype("float32")


def batches(part, scaler, batch_size, shuffle_seed=None):
    """A tf.data pipeline of (standardised windows (batch, window, features), targets (batch, horizon)).

    With a seed each epoch's order is a function of (seed, epoch): a resumed run sees the same batches.
    """
    pairs = slices((standardise(part.x, scaler), part.y.astype("float32")), shuffle_seed)
    return prefetched(pairs.batch(batch_size))
