"""The forecast recipe's rolling-origin backtest: folds, scores, baselines, the global model, bad input."""
import json

import numpy as np
import pytest

from .. import backtest, baselines, data, model, scoring, train
from .test_forecast import FAST, prices_csv, random_walk, run_cli

NAMES = ["return", "range"]


def config(**changes):
    settings = {"window": 15, "horizon": 2, "vol_window": 5, "val_fraction": 0.2, "calibration_days": 50}
    return train.Config(**{**settings, **changes})


def load(tmp_path, close, name="s.csv", **kwargs):
    return data.read_prices(prices_csv(tmp_path / name, close, **kwargs))


def changed_from(prices, day, factor_seed=1):
    """A copy of `prices` whose every column differs from day `day` on: a different future."""
    noise = np.exp(np.random.default_rng(factor_seed).normal(0, 0.05, len(prices) - day))
    columns = {k: v.copy() for k, v in prices.columns.items()}
    for column in columns.values():
        column[day:] *= noise
    return data.Prices(prices.dates, columns, prices.target, prices.source, [])


def garch_series(days, seed=0, omega=2e-6, alpha=0.08, beta=0.9):
    """Prices whose daily log-returns follow a GARCH(1,1) with normal errors; and their true volatilities."""
    rng = np.random.default_rng(seed)
    returns, variance = np.zeros(days), np.full(days, omega / (1 - alpha - beta))
    for day in range(days):
        if day:
            variance[day] = omega + alpha * returns[day - 1] ** 2 + beta * variance[day - 1]
        returns[day] = np.sqrt(variance[day]) * rng.standard_normal()
    return 100 * np.exp(np.concatenate([[0.0], np.cumsum(returns)])), np.sqrt(variance)


# --- fold boundaries -------------------------------------------------------------------------

def test_folds_are_consecutive_and_nothing_fitted_reads_a_day_from_the_fold_on(tmp_path):
    prices = load(tmp_path, random_walk(700))
    dates = backtest.fold_dates([("S", prices)], 3, 60, backtest.history_needed(15, 2, 0.2))
    assert [d[0] for d in dates] == list(prices.dates[[520, 580, 640]]) and dates[-1][1] == prices.dates[-1]
    settings = config()
    first, stop = 580, 640
    fold = backtest.make_fold(prices, NAMES, settings, first, stop)
    for part in (fold.train, fold.val):  # training and calibration outcomes: all before the first forecast day
        assert part.target_dates.max() < prices.dates[first]
    assert fold.test.end_dates[0] == prices.dates[first - 1] and fold.test.target_dates[0, 0] == prices.dates[first]
    assert fold.test.target_dates.max() == prices.dates[stop - 1] and np.all(np.diff(fold.test.end_dates) > 0)
    # A different future, from day `later` on, changes nothing fitted and no forecast made before that day.
    later = first + 20
    for cut in (first, later):
        other = backtest.make_fold(changed_from(prices, cut), NAMES, settings, first, stop)
        for split in ("train", "val"):
            np.testing.assert_array_equal(getattr(other, split).x, getattr(fold, split).x)
            np.testing.assert_array_equal(getattr(other, split).y, getattr(fold, split).y)
        assert other.scaler == fold.scaler and (other.scale, other.mean_return) == (fold.scale, fold.mean_return)
    other = backtest.make_fold(changed_from(prices, later), NAMES, settings, first, stop)
    forecaster = model.build_forecaster(settings, fold.train.x.shape[2])
    rng = np.random.default_rng(0)
    forecaster.set_weights([rng.normal(0, 0.5, w.shape) for w in forecaster.get_weights()])
    known = later - first  # forecasts made at origins first - 1 .. later - 1 read days before `later` only
    band, other_band = (backtest.model_band(forecaster, f, settings.calibration_days) for f in (fold, other))
    np.testing.assert_allclose(other_band[:known], band[:known], rtol=1e-12)
    assert not np.allclose(other_band[known:], band[known:])  # the later forecasts do see the new days
    garch, _ = baselines.garch_band(prices.price, first, stop - 3, 2)
    other_garch, _ = baselines.garch_band(changed_from(prices, later).price, first, stop - 3, 2)
    np.testing.assert_allclose(other_garch[:known], garch[:known], rtol=1e-9)


def test_drift_and_mase_scale_come_from_the_past_by_hand(tmp_path):
    close = random_walk(500)
    fold = backtest.make_fold(load(tmp_path, close), NAMES, config(), 400, 450)
    assert fold.scale == pytest.approx(np.mean(np.abs(np.diff(close[:400]))))
    assert fold.mean_return == pytest.approx(np.log(close[399] / close[0]) / 399)
    np.testing.assert_allclose(baselines.drift(np.array([10.0]), 2, 0.01), [[10 * np.exp(0.01), 10 * np.exp(0.02)]])


# --- scores against hand-computed values -----------------------------------------------------

def test_mase_pinball_and_interval_score_match_hand_computed_values():
    actual = np.array([100.0, 102.0, 98.0])
    base = np.array([100.0, 100.0, 100.0])
    quantiles = np.array([[99.0, 100.0, 101.0], [100.0, 101.0, 103.0], [99.0, 100.0, 102.0]])
    scores = scoring.fold_scores(actual, base, np.full(3, 0.5), quantiles=quantiles)
    # Winkler, alpha 0.2: widths 2, 3, 3; the third misses by 1 below: + (2 / 0.2) * 1
    assert scores["interval_score"] == pytest.approx((2 + 3 + 3 + 10) / 3)
    assert scores["coverage"] == pytest.approx(2 / 3) and scores["width"] == pytest.approx(8 / 3)
    # median errors 0, 1, 2: MAE 1, over an in-sample day-to-day change of 0.5
    assert (scores["mae"], scores["mase"]) == (pytest.approx(1.0), pytest.approx(2.0))
    assert scores["rmse"] == pytest.approx(np.sqrt(5 / 3))
    # pinball at 10%: y - q = 1, 2, -1 -> 0.1, 0.2, 0.9; at 50%: 0, 1, -2 -> 0, 0.5, 1; at 90%: -1, -1, -4 -> 0.1 each
    assert scores["pinball_10"] == pytest.approx(0.4) and scores["pinball_90"] == pytest.approx(0.2)
    assert scores["pinball_50"] == pytest.approx(0.5) and scores["pinball"] == pytest.approx(1.1 / 3)
    # up/down calls (a median equal to today's price calls "not up"): not up, up, not up; all three right
    assert scores["direction_accuracy"] == 1.0
    persistence = scoring.fold_scores(actual, base, np.full(3, 0.5), point=base)
    assert persistence["mase"] == pytest.approx(8 / 3)  # errors 0, 2, 2 and "direction_accuracy" not in persistence


# --- baselines -------------------------------------------------------------------------------

def test_garch_band_covers_about_80_percent_of_a_garch_series_and_follows_its_volatility():
    price, sigma = garch_series(4000)  # (4001,) prices; sigma[d]: the volatility of the change into day d + 1
    band, result = baselines.garch_band(price, 3000, 3998, 2)  # origins 2999..3998, fitted on days < 3000
    actual = np.stack([price[3000:4000], price[3001:4001]], axis=1)  # (1000, 2)
    covered = (actual >= band[..., 0]) & (actual <= band[..., 2])
    assert np.all(np.abs(covered.mean(axis=0) - 0.8) < 0.04)
    assert 0.8 < result.params["beta[1]"] < 0.97  # the simulated 0.9 recovered
    width = np.log(band[:, 0, 2] / band[:, 0, 0])  # the next-day band follows the true volatility
    assert np.corrcoef(width, sigma[2999:3999])[0, 1] > 0.99


# --- several series ------------------------------------------------------------------------------

def test_each_series_is_standardised_with_its_own_training_period_for_the_global_model(tmp_path):
    calm = load(tmp_path, random_walk(600, seed=1), "calm.csv")
    wild = load(tmp_path, 2000 * np.exp(np.cumsum(np.random.default_rng(2).normal(0, 0.04, 600))), "wild.csv")
    settings = config()
    folds = [backtest.make_fold(p, NAMES, settings, 500, 560) for p in (calm, wild)]
    x, y = backtest.stacked(folds, "train")
    sizes = [len(f.train) for f in folds]
    assert len(x) == sum(sizes)
    for block in np.split(x, np.cumsum(sizes)[:-1]):  # each series' own statistics: mean 0, deviation 1
        np.testing.assert_allclose(block.reshape(-1, x.shape[2]).mean(axis=0), 0, atol=1e-4)
        np.testing.assert_allclose(block.reshape(-1, x.shape[2]).std(axis=0), 1, atol=1e-3)
    returns = np.diff(np.log(wild.price[:400]))  # the training period: before the last 20% of the past
    assert folds[1].scaler["train_sigma"] == pytest.approx(np.sqrt(np.mean(returns ** 2)))
    # Neither another series nor its own days after the training period move a series' scaler.
    again = backtest.make_fold(changed_from(wild, 400), NAMES, settings, 500, 560)
    assert again.scaler == folds[1].scaler and again.scaler != folds[0].scaler


@pytest.mark.slow
def test_global_backtest_end_to_end_writes_scores_for_every_method_and_series(tmp_path):
    paths = [prices_csv(tmp_path / f"{name}.csv", random_walk(700, seed)) for name, seed in (("a", 0), ("b", 1))]
    out = tmp_path / "run"
    metrics = train.main(["--tickers", ",".join(map(str, paths)), "--backtest", "2", "--fold-days", "60",
                          "--epochs", "2", "--calibration-days", "60", "--out", str(out), *FAST])
    saved = json.loads((out / "backtest.json").read_text())
    assert saved["series"].keys() == {"a", "b"} and len(saved["folds"]) == 2
    for name in ("a", "b"):
        day = saved["series"][name]["day_1"]
        assert len(day["folds"]) == 2 and set(day["overall"]) == {"model", "global", "persistence", "drift",
                                                                  "parkinson", "volatility_band", "garch", "always_up"}
        assert set(day["paired"]) == {"parkinson", "volatility_band", "garch"}
        for method in ("model", "global", "parkinson", "volatility_band", "garch"):
            assert 0.5 < day["overall"][method]["coverage"] < 1 and day["overall"][method]["interval_score"] > 0
        close = data.read_prices(tmp_path / f"{name}.csv").price
        persistence = np.mean(np.abs(np.diff(close[-121:])))  # the two folds' 120 next-day changes
        assert day["overall"]["persistence"]["mae"] == pytest.approx(persistence)
        assert (out / f"backtest_{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert metrics["series"]["a"]["day_1"]["overall"] == saved["series"]["a"]["day_1"]["overall"]


@pytest.mark.real_data
@pytest.mark.slow
def test_smoke_backtest_on_real_prices(real_data, tmp_path, monkeypatch):
    monkeypatch.setenv("RECIPES_DATA_DIR", str(real_data))
    metrics = train.main(["--ticker", "IBM", "--backtest", "2", "--smoke", "--out", str(tmp_path / "run")])
    day = metrics["series"]["IBM"]["day_1"]["overall"]
    assert 0.6 < day["model"]["coverage"] < 0.95 and 0.6 < day["garch"]["coverage"] < 0.95
    assert 0.9 < day["model"]["mase"] / day["persistence"]["mase"] < 1.1


# --- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("days,extra,message", [
    (700, ["--backtest", "12"], "--backtest 12 needs 12 folds x 60 days after at least 154 rows"),
    (200, ["--backtest", "2"], "shorter than one fold of 60 days"),
    (700, ["--backtest", "2", "--tickers", "{path},{tmp}/missing.csv"], "missing.csv: no such CSV file"),
    (700, ["--backtest", "2", "--tickers", "{path},{tmp}/late.csv"], "the series share no dates"),
    (700, ["--tickers", "{path}"], "add --backtest N"),
    # an option the run would ignore beside another is refused, not dropped
    (700, ["--backtest", "2", "--tickers", "{path}", "--csv", "{path}"], "--tickers and --csv both name the series"),
    (700, ["--backtest", "2", "--tickers", "{path}", "--ticker", "GOOG"], "--tickers and --ticker both name the"),
    (700, ["--backtest", "2", "--csv", "{path}", "--test-fraction", "0.2"], "--test-fraction is for one split"),
])
def test_backtest_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, days, extra, message):
    path = prices_csv(tmp_path / "p.csv", random_walk(days))
    import pandas as pd

    prices_csv(tmp_path / "late.csv", random_walk(700), dates=pd.bdate_range("2010-01-04", periods=700))
    extra = [part.format(path=path, tmp=tmp_path) for part in extra]
    source = [] if {"--tickers", "--csv"} & set(extra) else ["--csv", str(path)]  # the series, named once
    code, err = run_cli([*source, "--fold-days", "60", "--out", str(tmp_path / "out"), *FAST, *extra], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


# --- the Parkinson (range-based) band -----------------------------------------------------------

def test_parkinson_volatility_by_hand_reads_ranges_up_to_the_day_and_skips_days_without_one():
    c = 4 * np.log(2)
    high = np.exp([0.0, 0.2, 0.1, 0.0, 0.0, 0.3])  # days 0, 3 and 4: High == Low, no range
    volatility = baselines.parkinson_volatility(high, np.ones(6), 2)  # mean over days t-1, t
    expected = [np.nan, np.sqrt(0.04 / c), np.sqrt((0.04 + 0.01) / 2 / c), np.sqrt(0.01 / c), np.nan,
                np.sqrt(0.09 / c)]
    np.testing.assert_allclose(volatility, expected, rtol=1e-12)
    later = high.copy()
    later[4:] *= 2  # wider ranges from day 4 on move nothing before day 4
    np.testing.assert_allclose(baselines.parkinson_volatility(later, np.ones(6), 2)[:4], expected[:4], rtol=1e-12)


def with_ranges(prices, seed=2, start=0, factor=1.0):
    """`prices` with random daily ranges; ranges from day `start` on multiplied by `factor`."""
    spread = np.abs(np.random.default_rng(seed).normal(0, 0.01, len(prices))) + 1e-4
    spread[start:] *= factor
    columns = {**prices.columns, "high": prices.price * np.exp(spread), "low": prices.price.copy()}
    return data.Prices(prices.dates, columns, prices.target, prices.source, [])


def test_parkinson_band_reads_ranges_to_its_origin_and_calibrates_on_training_windows_only(tmp_path):
    prices = with_ranges(load(tmp_path, random_walk(700)))
    first, stop, settings = 580, 640, config()
    fold = backtest.make_fold(prices, NAMES, settings, first, stop)
    band = backtest.forecasts(prices, fold, 2, 5)["parkinson"]
    # calibration: the training windows' log-returns over their origin's Parkinson volatility, by hand
    origins = np.searchsorted(prices.dates, fold.train.end_dates)
    volatility = baselines.parkinson_volatility(prices.columns["high"], prices.columns["low"], 5)[origins]
    ahead = np.log(prices.price[origins + 1] / prices.price[origins]) / volatility
    expected = np.quantile(ahead, [0.1, 0.5, 0.9])
    np.testing.assert_allclose(baselines.parkinson_quantiles(fold.train, volatility)[0], expected, rtol=1e-9)
    low = fold.test.base * np.exp(expected[0] * baselines.parkinson_of(prices, fold.test, 5))
    np.testing.assert_allclose(band[:, 0, 0], low, rtol=1e-9)
    # ranges changed from the validation period on: the calibration (training windows) does not move;
    # ranges changed from day `later` on: forecasts at origins before `later` do not move, the one at `later` does
    for start in (first - round(first * settings.val_fraction), first + 20):  # validation's first day; later
        other = with_ranges(prices, start=start, factor=1.5)
        other_fold = backtest.make_fold(other, NAMES, settings, first, stop)
        train_volatility = baselines.parkinson_of(other, other_fold.train, 5)
        np.testing.assert_allclose(baselines.parkinson_quantiles(other_fold.train, train_volatility)[0], expected,
                                   rtol=1e-9)
    other_band = backtest.forecasts(other, other_fold, 2, 5)["parkinson"]
    known = 21  # origins first - 1 .. first + 19 read ranges before day first + 20
    np.testing.assert_allclose(other_band[:known], band[:known], rtol=1e-12)
    assert not np.allclose(other_band[known, 0], band[known, 0])


def test_parkinson_band_falls_back_to_the_volatility_band_where_no_range_is_known(tmp_path):
    prices = load(tmp_path, random_walk(400))
    fold = backtest.make_fold(prices, ["return"], config(), 300, 350)
    volatility = np.full(len(fold.test), np.nan)
    np.testing.assert_allclose(
        baselines.parkinson_band(fold.test, volatility, np.array([[-1.0, 0.0, 1.0]] * 2), fold.scaler["naive_quantiles"]),
        baselines.volatility_band(fold.test, fold.scaler["naive_quantiles"]))
