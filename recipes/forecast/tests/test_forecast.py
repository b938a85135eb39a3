import json

import numpy as np
import pandas as pd
import pytest

from shared.artifacts import load_model, publish
from shared.errors import UserError
from shared.testing import check_recipe, write_csv

from .. import __main__ as cli
from .. import baselines, data, model, predict, scoring, train, windows

FAST = ["--units", "16", "--window", "20", "--vol-window", "10", "--batch-size", "64", "--lr", "0.01"]


def prices_csv(path, close, volume=None, dates=None):
    """A Yahoo-style CSV of the given closing prices, with High/Low around them."""
    close = np.asarray(close, dtype=float)
    dates = pd.bdate_range("2000-01-03", periods=len(close)) if dates is None else dates
    volume = np.full(len(close), 1000.0) if volume is None else volume
    frame = pd.DataFrame({"Date": pd.DatetimeIndex(dates).strftime("%Y-%m-%d"), "Open": close,
                          "High": close * 1.01, "Low": close * 0.99, "Close": close, "Adj Close": close,
                          "Volume": volume})
    frame.to_csv(path, index=False)
    return path


def random_walk(days, seed=0):
    rng = np.random.default_rng(seed)
    return 50 * np.exp(np.cumsum(rng.normal(0.0005, 0.015, days)))


def structured(days, seed=0):
    """Log-returns with a 10-day cycle plus AR(1) noise: the past says much about tomorrow."""
    rng = np.random.default_rng(seed)
    noise = np.zeros(days)
    for day in range(1, days):
        noise[day] = 0.4 * noise[day - 1] + rng.normal(0, 0.006)
    returns = 0.015 * np.sin(2 * np.pi * np.arange(days) / 10) + noise
    return 40 * np.exp(np.cumsum(returns))


def run_cli(argv, capsys):
    """Exit code and stderr of the command line, as a user would see them."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    return exit_info.value.code, capsys.readouterr().err


# --- reading real-world CSVs ---------------------------------------------------------------

def test_us_dates_and_quoted_thousands_load(tmp_path):
    path = tmp_path / "g.csv"
    path.write_text('Date,Open,High,Low,Close,Volume\n1/3/2012,325.25,332.83,324.97,663.59,"7,380,500"\n'
                    '1/4/2012,331.27,333.87,329.08,"1,666.45","5,749,400"\n')
    prices = data.read_prices(path)
    assert prices.target == "close" and list(prices.dates.astype(str)) == ["2012-01-03", "2012-01-04"]
    assert list(prices.columns["volume"]) == [7380500, 5749400] and prices.price[1] == 1666.45


def test_null_rows_unsorted_repeated_dates_and_zero_volume(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("Date,Open,High,Low,Close,Adj Close,Volume\n2020-01-03,1,1,1,3,3,0\n"
                    "2020-01-02,null,null,null,null,null,null\n2020-01-01,1,1,1,1,1,0\n"
                    "2020-01-03,1,1,1,4,4,0\n2020-01-06,1,1,1,5,5,10\n")
    prices = data.read_prices(path)
    assert list(prices.dates.astype(str)) == ["2020-01-01", "2020-01-03", "2020-01-06"]
    assert list(prices.price) == [1, 4, 5]  # the later row of a repeated date wins
    assert any("null" in note or "dropped" in note for note in prices.notes)
    assert any("zero volume" in note for note in prices.notes)
    features = windows.day_features(prices, ["return", "range", "volume"])
    assert np.isfinite(features[1:]).all()


@pytest.mark.real_data
def test_classic_google_files_and_yahoo_exports_load_as_is(real_data):
    stocks = real_data / "stocks"
    train_part = data.read_prices(stocks / "Google_Stock_Price_Train.csv")
    test_part = data.read_prices(stocks / "Google_Stock_Price_Test.csv")
    assert (len(train_part), len(test_part)) == (1258, 20)
    assert train_part.columns["volume"][0] == 7380500 and str(test_part.dates[0]) == "2017-01-03"
    apple = data.read_prices(stocks / "AAPL.csv")
    assert apple.target == "adjclose" and np.isfinite(apple.price).all() and len(apple) == 10086
    assert apple.notes == ["1 rows without a date or Adj Close dropped"]  # the 1981-08-10 row of nulls
    index = data.read_prices(stocks / "GSPC.csv")
    assert index.columns["volume"][0] == 0 and np.all(np.diff(index.dates.astype(int)) > 0)
    # High == Low (no range) on 8,547 rows up to 1983-06-30, the first 8,509 before any range (1962-01-02)
    assert len(index.warnings) == 1 and "8,547 of 24,114 rows" in index.warnings[0]
    assert "1927-12-30 .. 1983-06-30" in index.warnings[0] and str(index.dates[data.first_range_day(index)]) == "1962-01-02"
    assert apple.warnings and "27 days" in apple.warnings[0]  # 1984-85


# --- windows, splits and scaling -----------------------------------------------------------

def load_synthetic(tmp_path, close, **kwargs):
    return data.read_prices(prices_csv(tmp_path / "s.csv", close, **kwargs))


def test_days_without_a_range_are_reported_and_range_windows_start_where_ranges_do(tmp_path):
    close = random_walk(400)
    path = prices_csv(tmp_path / "s.csv", close)
    frame = pd.read_csv(path)
    for column in ("High", "Low"):
        frame.loc[:99, column] = close[:100]  # days 0-99: High == Low == Close, as GSPC before 1962
        frame.loc[250, column] = close[250]  # one more inside the history
    frame.to_csv(path, index=False)
    prices = data.read_prices(path)
    assert prices.warnings == [f"{path}: 101 of 400 rows have no high-low range (High not above Low, or missing), "
                               f"{prices.dates[0]} .. {prices.dates[250]}; the first 100 ({prices.dates[0]} .. "
                               f"{prices.dates[99]}) come before any range: with the range feature, windows start "
                               "after them, and the Parkinson band uses none of them; the other 1 days inside the "
                               "history read a range of 0 as the model's input (the Parkinson band leaves them out)"]
    (train_part, val, test), scaler, _ = windows.build(prices, ["return", "range"], 15, 1, 5, (0.2, 0.2))
    assert train_part.end_dates[0] == prices.dates[100 + 14]  # the first window whose inputs all have a range
    assert len(val) == len(windows.build(prices, ["return"], 15, 1, 5, (0.2, 0.2))[0][1])  # later splits whole
    everything, plain, _ = windows.build(prices, ["return"], 15, 1, 5, (0.2, 0.2))
    assert len(everything[0]) > len(train_part) and plain["naive_quantiles"] == scaler["naive_quantiles"]
    assert np.all(train_part.x[:, :, 1] > 0)  # no window reads the missing stretch's zero range
    for column in ("High", "Low"):
        frame.loc[:300, column] = close[:301]  # no range in the whole training period
    frame.to_csv(path, index=False)
    with pytest.raises(UserError, match="the train period has no window whose days all have a high-low range"):
        windows.build(data.read_prices(path), ["return", "range"], 15, 1, 5, (0.2, 0.2))


def test_days_with_high_below_low_or_a_close_outside_the_range_are_warned_once_with_the_first_line(tmp_path):
    close = random_walk(300)
    path = prices_csv(tmp_path / "s.csv", close)
    frame = pd.read_csv(path)
    frame.loc[[40, 90], ["High", "Low"]] = frame.loc[[40, 90], ["Low", "High"]].to_numpy()  # swapped columns
    frame.loc[60, "Close"] = frame.loc[60, "High"] * 2  # a close far above the day's high
    frame = frame.iloc[::-1]  # newest first, as some exports are: the first line is the file's, not by date
    frame.to_csv(path, index=False)
    prices = data.read_prices(path)
    line = 300 - 90 + 1  # row 90 is the file's first odd line (header: line 1)
    assert prices.warnings[0] == (
        f"{path}: line {line}: High {close[90] * 0.99:g} below Low {close[90] * 1.01:g} ({prices.dates[90]}); 3 of 300 "
        "rows have such prices (High below Low 2, Close outside Low .. High 1): check the file's columns; days with "
        "High below Low are read as days without a range")
    assert "2 of 300 rows have no high-low range (High not above Low, or missing)" in prices.warnings[1]
    features = windows.day_features(prices, ["return", "range"])
    assert features[40, 1] == features[90, 1] == 0 and np.all(np.delete(features[:, 1], [40, 90]) > 0)
    volatility = baselines.parkinson_volatility(prices.columns["high"], prices.columns["low"], 1)
    assert np.isnan(volatility[[40, 90]]).all() and np.isfinite(np.delete(volatility, [40, 90])).all()
    assert data.read_prices(prices_csv(tmp_path / "fine.csv", close)).warnings == []


def test_paired_ratio_of_interval_scores():
    other = np.random.default_rng(0).uniform(1, 2, 500)
    same = scoring.paired_ratio(other, other)
    assert (same["ratio"], same["low"], same["high"]) == (1.0, 1.0, 1.0) and scoring.verdict(same) == "level"
    half = scoring.paired_ratio(other / 2, other)
    assert half["ratio"] == pytest.approx(0.5) and half["high"] < 1 and scoring.verdict(half) == "better"
    noisy = scoring.paired_ratio(other * np.random.default_rng(1).uniform(0.9, 1.11, 500), other)
    assert noisy["low"] < noisy["ratio"] < noisy["high"]


def test_windows_stay_inside_their_split_and_never_look_ahead(tmp_path):
    prices = load_synthetic(tmp_path, random_walk(400), volume=np.arange(400) * 10.0)
    names = ["return", "range", "volume"]
    parts, _, bounds = windows.build(prices, names, 15, 3, 5, (0.2, 0.2))
    for part, (start, stop) in zip(parts, bounds):
        first, last = prices.dates[start], prices.dates[stop - 1]
        assert part.end_dates.min() >= prices.dates[start + 15]  # inputs start after the split's first day
        assert part.target_dates.max() <= last and part.end_dates.min() > first
        assert np.all(part.target_dates[:, 0] > part.end_dates)
    # Changing every price after a window's last input day changes its targets, never its inputs
    # (a test window: the scaler, fitted on the earlier training period, stays the same).
    index = 10
    end = int(np.searchsorted(prices.dates, parts[2].end_dates[index]))
    changed = data.Prices(prices.dates, {k: v.copy() for k, v in prices.columns.items()}, prices.target, "", [])
    for column in changed.columns.values():
        column[end + 1:] *= 1.5
    again = windows.build(changed, names, 15, 3, 5, (0.2, 0.2))[0][2]
    np.testing.assert_array_equal(again.x[index], parts[2].x[index])
    assert again.sigma[index] == parts[2].sigma[index] and not np.allclose(again.y[index], parts[2].y[index])
    # Day by day, no feature of day d reads a value after d.
    np.testing.assert_array_equal(windows.day_features(changed, names)[: end + 1],
                                  windows.day_features(prices, names)[: end + 1])


def test_scaler_comes_from_the_training_period_only(tmp_path):
    close = random_walk(500)
    prices = load_synthetic(tmp_path, close)
    parts, scaler, bounds = windows.build(prices, ["return", "range"], 20, 1, 10, (0.15, 0.15))
    wild = close.copy()
    wild[bounds[1][0]:] *= np.exp(np.random.default_rng(1).normal(0, 0.2, len(close) - bounds[1][0]))
    (train_again, *_), scaler_again, _ = windows.build(load_synthetic(tmp_path, wild), ["return", "range"],
                                                       20, 1, 10, (0.15, 0.15))
    assert scaler_again == scaler
    np.testing.assert_array_equal(train_again.x, parts[0].x)


def test_return_to_price_reconstruction_is_exact(tmp_path):
    parts, _, _ = windows.build(load_synthetic(tmp_path, random_walk(300)), ["return"], 10, 4, 5, (0.2, 0.2))
    test = parts[2]
    np.testing.assert_allclose(windows.to_prices(test.base, test.y, test.sigma), test.future, rtol=1e-12)
    stacked = np.repeat(test.y[..., None], 3, axis=2)  # (n, horizon, 3) like the model's output
    np.testing.assert_allclose(windows.to_prices(test.base, stacked, test.sigma)[..., 1], test.future, rtol=1e-12)


def test_scores_perfect_forecasts_and_widen_the_naive_band_with_the_horizon(tmp_path):
    parts, scaler, _ = windows.build(load_synthetic(tmp_path, random_walk(300)), ["return"], 10, 2, 5, (0.2, 0.2))
    test = parts[2]
    scaler["naive_quantiles"] = [[-1.0, 0.0, 1.0]] * 2
    perfect = test.y[..., None] + np.array([-0.01, 0.0, 0.01])  # (n, horizon, 3), a thin band round the truth
    results, _ = scoring.score(test, perfect, scaler)
    assert results["day_2"]["model"]["mae"] < 1e-9 and results["day_1"]["model"]["direction_accuracy"] == 1
    assert results["day_1"]["model"]["coverage"] == 1 and results["day_1"]["persistence"]["mae"] > 0
    ratio = results["day_2"]["naive_interval"]["width"] / results["day_1"]["naive_interval"]["width"]
    assert 1.35 < ratio < 1.5  # sqrt(2): two days of volatility, not one
    # bands are compared by interval score: the thin band round the truth beats the naive band, paired
    day = results["day_1"]
    assert day["model"]["interval_score"] == pytest.approx(day["model"]["width"])  # no misses: width only
    assert day["paired"]["naive_interval"]["high"] < 1


# --- the model -----------------------------------------------------------------------------

def tiny_forecaster(horizon=3, features=3):
    config = train.Config(window=8, horizon=horizon, units=4, dropout=0.0)
    forecaster = model.build_forecaster(config, features)
    rng = np.random.default_rng(0)
    forecaster.set_weights([rng.normal(0, 2, w.shape) for w in forecaster.get_weights()])
    return forecaster


def test_quantiles_never_cross_and_pinball_loss_is_lowest_at_the_true_quantiles():
    out = np.asarray(tiny_forecaster()(np.random.default_rng(1).normal(0, 3, (64, 8, 3)).astype("float32")))
    assert out.shape == (64, 3, 3) and np.all(out[..., 0] <= out[..., 1]) and np.all(out[..., 1] <= out[..., 2])
    samples = np.random.default_rng(2).normal(size=(20000, 1)).astype("float32")
    def loss(low, mid, high):
        return float(np.mean(model.pinball_loss(samples, np.broadcast_to(
            np.array([low, mid, high], "float32"), (len(samples), 1, 3)))))
    assert loss(-1.28, 0, 1.28) < loss(-0.8, 0, 0.8) and loss(-1.28, 0, 1.28) < loss(-1.28, 0.3, 1.28)


def test_validation_calibration_makes_the_band_cover_80_percent_and_keeps_the_order():
    rng = np.random.default_rng(4)
    y = rng.standard_t(3, size=(1000, 2))  # heavier tails than the normal band assumes
    band = np.broadcast_to(np.array([-1.0, 0.1, 0.9]), (1000, 2, 3))
    scales = windows.interval_scales(y, band)
    widened = windows.widen(band, scales)
    covered = (y >= widened[..., 0]) & (y <= widened[..., 2])
    assert np.all(np.abs(covered.mean(axis=0) - 0.8) < 0.005) and np.all(scales > 1)
    assert np.all(np.diff(widened, axis=-1) >= 0) and np.array_equal(widened[..., 1], band[..., 1])


def test_rolling_calibration_uses_only_known_outcomes_and_follows_a_change_in_volatility():
    rng = np.random.default_rng(5)
    known = np.abs(rng.normal(size=(300, 2)))
    new = np.abs(rng.normal(size=(400, 2))) * np.where(np.arange(400) < 200, 1.0, 3.0)[:, None]
    scales = windows.rolling_scales(known, new, days=100)
    # No look-ahead: changing the future (and today's own outcome) changes no factor up to today.
    later = new.copy()
    later[150:] *= 50
    np.testing.assert_array_equal(windows.rolling_scales(known, later, days=100)[:151, 0], scales[:151, 0])
    np.testing.assert_array_equal(windows.rolling_scales(known, later, days=100)[:152, 1], scales[:152, 1])
    assert scales[0, 0] == np.quantile(known[-100:, 0], 0.8, method="higher")
    # Three times the spread: the band follows within the 100-day memory, a fixed factor does not.
    assert 2.5 < scales[-1, 0] / scales[150, 0] < 3.5
    y = new[:, None, :1] * np.sign(rng.normal(size=(400, 1, 1)))  # (n, horizon 1, 1) around median 0
    band = np.broadcast_to(np.array([-1.0, 0.0, 1.0]), (400, 1, 3))
    rolled = windows.widen(band, scales[:, :1])
    covered = (y[..., 0] >= rolled[..., 0]) & (y[..., 0] <= rolled[..., 2])
    assert 0.75 < covered[300:].mean() < 0.85


def test_saved_model_reloads_with_identical_forecasts(tmp_path):
    forecaster = tiny_forecaster()
    publish(tmp_path, {}, model=forecaster)
    inputs = np.random.default_rng(3).normal(size=(5, 8, 3)).astype("float32")
    np.testing.assert_array_equal(np.asarray(load_model(tmp_path)(inputs)), np.asarray(forecaster(inputs)))


def test_keras_names_come_from_this_module_so_a_copy_keeps_its_own_classes(tmp_path):
    import zipfile

    import keras

    # Registered under the module's path (model.__name__; recipes.mine.model in a copy), not a fixed
    # recipe name: a copied recipe imported beside this one must not take over these names.
    for name, obj in (("OrderedQuantiles", model.OrderedQuantiles), ("pinball_loss", model.pinball_loss)):
        assert keras.saving.get_registered_name(obj) == f"{model.__name__}>{name}"
        assert keras.saving.get_registered_object(f"{model.__name__}>{name}") is obj
    publish(tmp_path, {}, model=tiny_forecaster())
    with zipfile.ZipFile(tmp_path / "model.keras") as archive:
        saved = archive.read("config.json").decode()
    assert f'"registered_name": "{model.__name__}>OrderedQuantiles"' in saved
    reloaded = load_model(tmp_path)
    assert type(reloaded.get_layer("quantiles")) is model.OrderedQuantiles


@pytest.mark.slow
def test_beats_persistence_on_structured_series_and_predicts_from_the_saved_model(tmp_path, capsys, monkeypatch):
    csv_path = prices_csv(tmp_path / "cycle.csv", structured(1500))
    out = tmp_path / "run"
    metrics = train.main(["--csv", str(csv_path), "--out", str(out), "--horizon", "2", "--epochs", "12", *FAST])
    day = metrics["test"]["day_1"]
    assert day["model"]["mae"] < 0.8 * day["persistence"]["mae"]
    assert day["model"]["direction_accuracy"] > day["always_up"]["direction_accuracy"] + 0.1
    assert 0.6 < day["model"]["coverage"] < 0.97 and day["model"]["width"] < day["naive_interval"]["width"]
    assert json.loads((out / "metrics.json").read_text())["test"]["day_2"]["model"]["mae"] > 0
    assert (out / "test_forecast.png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    cli.main(["predict", "--model", str(out), "--csv", str(csv_path), "--json"])
    shown = json.loads(capsys.readouterr().out)
    assert [row["day"] for row in shown["forecasts"]] == [1, 2] and shown["forecasts"][0]["date"] > shown["last_date"]
    assert all(row["low"] <= row["median"] <= row["high"] for row in shown["forecasts"])
    forecaster, config, scaler = predict.load(out)
    again, calibration = predict.forecast(forecaster, data.read_prices(csv_path), config, scaler)
    assert again == shown["forecasts"] and calibration == shown["interval_calibrated_on"]
    assert "last 250 known outcomes" in calibration  # 1,500 rows: enough recent history to recalibrate
    (tmp_path / "data" / "stocks").mkdir(parents=True)  # a ticker's prices, found as training finds them
    (tmp_path / "data" / "stocks" / "CYC.csv").write_bytes(csv_path.read_bytes())
    monkeypatch.setenv("RECIPES_DATA_DIR", str(tmp_path / "data"))
    cli.main(["predict", "--model", str(out), "--ticker", "cyc", "--json"])
    assert json.loads(capsys.readouterr().out)["forecasts"] == shown["forecasts"]


# --- bad input -----------------------------------------------------------------------------

@pytest.mark.parametrize("content,extra,message", [
    ("Day,Close\n1,2\n", [], "no Date column"),
    ("Date,Open\n2020-01-01,2\n", [], "no column 'Close' to forecast; choose one with --target (columns: Date, Open)"),
    ("date,value\n2020-01-01,2\n", ["--target", "amount"],
     "no column 'amount' to forecast; choose one with --target (columns: date, value)"),
    ("Date,Close\n2020-01-01,2\n2020-01-02,abc\n", [], "line 3: Close 'abc' is not a number"),
    ("Date,Close\n2020-01-01,2\n2020-01-02,inf\n2020-01-03,3\n", [], "line 3: Close 'inf' is not a finite number"),
    ("Date,Close\n2020-01-01,2\n2020-13-45,3\n2020-01-03,3\n", [], "line 3: date '2020-13-45'"),
    ("Date,Close\n" + "".join(f"2020-01-{d:02d},{d}\n" for d in range(1, 29)), ["--features", "return"],
     "no train window"),
    ("Date,Close\n" + "".join(f"2020-01-{d:02d},7\n" for d in range(1, 29)), [], "is constant"),
    ("Date,Close\n2020-01-01,0\n2020-01-02,1\n", [], "line 2: Close 0.0 is not a positive price"),
    ("Date,Close\n2020-01-01,1\n", ["--window", "0"], "--window must be in"),
    ("Date,Close\n2020-01-01,1\n", ["--horizon", "0"], "--horizon must be in"),
    ("Date,Close\n2020-01-01,1\n", ["--features", "sentiment"], "unknown feature 'sentiment'"),
    ("Date,Close\n" + "".join(f"2020-{m:02d}-{d:02d},{d + m}\n" for m in range(1, 13) for d in range(1, 29)),
     [], "feature 'range' needs High and Low"),
    # two options that name the same thing: refused, not one silently dropped
    ("Date,Close\n2020-01-01,1\n", ["--ticker", "AAPL"], "--ticker AAPL and --csv "),
    ("Date,Close\n2020-01-01,1\n", ["--ticker", "GOOG"], "both name the series: give one"),  # GOOG is the default
    ("Date,Close\n2020-01-01,1\n", ["--fold-days", "100"], "--fold-days is for the backtest: add --backtest N"),
    # values whose log changes, ranges or squared errors overflow float64: refused at their line and column
    ("Date,Close\n2020-01-01,1.5e308\n2020-01-02,1.7e308\n", [], "line 2: Close 1.5e+308 is out of range"),
    ("Date,High,Low,Close\n2020-01-01,2,1,1.5\n2020-01-02,1e300,1e-10,5\n", [], "line 3: High 1e+300 is out of range"),
    ("Date,Close\n2020-01-01,1\n2020-01-02,1e-200\n", [], "line 3: Close 1e-200 is out of range"),
    ("Date,High,Low,Close\n2020-01-01,2,1,1.5\n2020-01-02,2,0,1.5\n", [], "line 3: Low 0 is not a positive price"),
    # day-first dates: the formats read, and what the value looks like
    ("Date,Close\n31/12/2011,1\n01/01/2012,2\n", [], "line 2: date '31/12/2011' looks day-first (day 31, month 12); "
                                                        "dates are read as ISO YYYY-MM-DD (2012-01-13), month-first "
                                                        "M/D/YYYY"),
    ("Date,Close\n01/02/2012,1\n01/03/2012,2\n13/01/2012,3\n", [], "line 4: date '13/01/2012' looks day-first "
                                                                      "(day 13, month 01)"),
    ("Date,Close\nJan 3rd,1\n", [], "line 2: date 'Jan 3rd' is not a date the reader knows: ISO YYYY-MM-DD"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, content, extra, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    code, err = run_cli(["--csv", str(path), "--out", str(tmp_path / "out"), *extra], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("content,target,message,absent", [
    ("date,value\n2020-01-01,3\n2020-01-02,0\n2020-01-03,4\n", "value",
     "line 3: value 0.0 is not positive: the model forecasts log changes of value, which need values above 0", "price"),
    ("Date,Close,Volume\n2020-01-01,3,10\n2020-01-02,4,-5\n", "Volume",
     "line 3: Volume -5.0 is not positive: the model forecasts log changes of Volume", "price"),
    ("Date,Close,Volume\n2020-01-01,0,10\n2020-01-02,1,0\n", "", "line 2: Close 0.0 is not a positive price", "value"),
])
def test_zero_or_negative_values_are_refused_in_the_words_of_their_column(tmp_path, capsys, content, target,
                                                                          message, absent):
    path = tmp_path / "zero.csv"
    path.write_text(content)
    code, err = run_cli(["--csv", str(path), *(["--target", target] if target else []),
                         "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert absent not in err.replace(str(tmp_path), "").lower(), err  # a volume is no price, a price no "value"
    assert not (tmp_path / "out").exists()


def test_any_numeric_column_can_be_the_target_and_messages_name_it(tmp_path):
    path = prices_csv(tmp_path / "p.csv", random_walk(60), volume=np.arange(1, 61) * 100.0)
    volume = data.read_prices(path, "Volume")
    assert volume.target == "volume" and volume.noun == "Volume" and list(volume.price[:2]) == [100, 200]
    assert data.read_prices(path).noun == "price" and data.read_prices(path, "Open").noun == "price"
    flat = write_csv(tmp_path / "flat.csv", ["date", "value"], [(f"2020-01-{d:02d}", 5) for d in range(1, 29)])
    with pytest.raises(UserError, match="value is constant"):
        data.read_prices(flat, "value")
    still = data.Prices(volume.dates, {"volume": np.full(60, 7.0)}, "volume", "v.csv", [], "Volume")
    with pytest.raises(UserError, match="the Volume does not move in the training period"):
        windows.training_volatility(still, 0, 40)


@pytest.mark.real_data
def test_a_volume_with_zero_days_is_refused_with_its_line(real_data, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RECIPES_DATA_DIR", str(real_data))  # GSPC's Volume is 0 before 1950
    code, err = run_cli(["--ticker", "GSPC", "--target", "Volume", "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and "GSPC.csv: line 2: Volume 0.0 is not positive" in err and "price" not in err, err


@pytest.mark.slow
def test_a_plain_date_value_series_trains_predicts_and_speaks_of_values(tmp_path, capsys):
    value = structured(600)
    value[450] *= 50  # one day typed 50x too high: the warning must call it a value, not a price
    dates = pd.bdate_range("2000-01-03", periods=len(value)).strftime("%Y-%m-%d")
    path = write_csv(tmp_path / "series.csv", ["date", "value"], zip(dates, value))
    seen = {}

    def infer(out):
        seen.setdefault("training", capsys.readouterr())  # what training printed
        cli.main(["predict", "--model", str(out), "--csv", str(path), "--json"])
        return json.loads(capsys.readouterr().out)["forecasts"]

    metrics, rows = check_recipe(train.main, tmp_path / "run", ["--csv", str(path), "--target", "value",
                                                                "--features", "return", *FAST], infer=infer,
                                 files=("scaler.json", "test_forecast.png"))
    assert metrics["target"] == "value" and metrics["smoke"] is True
    assert all(np.isfinite(row["median"]) and 0 < row["low"] <= row["median"] <= row["high"] for row in rows)
    err = seen["training"].err.replace(str(tmp_path), "")
    assert f"the value moves {value[450] / value[449] - 1:+.0%} in a day" in err and "price" not in err, err
    assert "forecasting value" in seen["training"].out
    cli.main(["predict", "--model", str(tmp_path / "run"), "--csv", str(path)])
    assert f"value {value[-1]:.2f}" in capsys.readouterr().out.splitlines()[0]


def test_failed_download_names_the_source_and_suggests_csv(tmp_path, capsys, monkeypatch):
    import urllib.error
    import urllib.request

    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.delenv("RECIPES_DATA_DIR", raising=False)
    monkeypatch.setenv("RECIPES_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    code, err = run_cli(["--ticker", "NOSUCH", "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and "Stooq" in err and "--csv" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() and not list((tmp_path / "cache").rglob("*.csv"))


def test_predict_refuses_a_folder_that_is_no_model(tmp_path, capsys):
    path = prices_csv(tmp_path / "p.csv", random_walk(60))
    code, err = run_cli(["predict", "--model", str(tmp_path), "--csv", str(path)], capsys)
    assert code == 2 and "not a model directory" in err


@pytest.mark.parametrize("argv, says", [(["--csv", "p.csv", "--ticker", "GOOG"], "argument --ticker: not allowed with "
                                                                              "argument --csv"),
                                        ([], "one of the arguments --csv --ticker is required")])
def test_predict_takes_one_history_csv_or_ticker(tmp_path, capsys, argv, says):
    code, err = run_cli(["predict", "--model", str(tmp_path), *argv], capsys)
    assert code == 2 and err == f"python -m recipes.{cli.__package__.split('.')[-1]} predict: error: {says}\n"


def test_predict_json_writes_a_nan_forecast_as_null_and_is_always_json():
    from types import SimpleNamespace

    prices = SimpleNamespace(dates=np.array(["2020-01-02", "2020-01-03"], dtype="datetime64[D]"),
                             price=np.array([10.0, np.nan]), target="price")
    rows = [{"day": 1, "date": "2020-01-06", "low": np.float64("nan"), "median": float("inf"), "high": 11.0}]
    text = predict.forecast_json(prices, rows, "the validation period of training")
    shown = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))
    assert shown["last_price"] is None and shown["last_date"] == "2020-01-03"
    assert shown["forecasts"] == [{"day": 1, "date": "2020-01-06", "low": None, "median": None, "high": 11.0}]


@pytest.mark.slow
def test_mixed_precision_trains_saves_reloads_and_forecasts(tmp_path, capsys):
    csv_path = prices_csv(tmp_path / "cycle.csv", structured(600))
    out = tmp_path / "run"
    try:
        train.main(["--csv", str(csv_path), "--out", str(out), "--epochs", "2", *FAST, "--mixed-precision"])
        capsys.readouterr()
        cli.main(["predict", "--model", str(out), "--csv", str(csv_path), "--json"])
        shown = json.loads(capsys.readouterr().out)["forecasts"]
        forecaster, config, scaler = predict.load(out)
        assert predict.forecast(forecaster, data.read_prices(csv_path), config, scaler)[0] == shown
        assert all(np.isfinite(row["median"]) and row["low"] <= row["median"] <= row["high"] for row in shown)
    finally:
        import keras
        keras.config.set_dtype_policy("float32")


@pytest.mark.slow
def test_a_failure_while_scoring_keeps_the_trained_model_and_no_stale_figures(tmp_path, monkeypatch):
    csv_path = prices_csv(tmp_path / "cycle.csv", structured(600))
    out = tmp_path / "run"
    train.main(["--csv", str(csv_path), "--out", str(out), "--epochs", "2", *FAST])
    assert (out / "metrics.json").is_file()

    def broken(*args, **kwargs):
        raise RuntimeError("scoring failed")

    monkeypatch.setattr(train.scoring, "score", broken)
    with pytest.raises(RuntimeError, match="scoring failed"):
        train.main(["--csv", str(csv_path), "--out", str(out), "--epochs", "3", *FAST])
    _, config, scaler = predict.load(out)  # the new run's model, usable
    assert config["epochs"] == 3 and "interval_scales" in scaler
    assert not (out / "metrics.json").exists()  # the first run's figures no longer describe this model


@pytest.mark.slow
def test_recipe_contract(tmp_path, capsys):
    csv_path = prices_csv(tmp_path / "cycle.csv", structured(600))

    def infer(out):
        capsys.readouterr()  # what training printed
        cli.main(["predict", "--model", str(out), "--csv", str(csv_path), "--json"])
        return json.loads(capsys.readouterr().out)["forecasts"]

    check_recipe(train.main, tmp_path / "run", ["--csv", str(csv_path), "--epochs", "2", *FAST], infer=infer,
                 files=("scaler.json", "test_forecast.png"))


def test_a_price_typed_in_the_wrong_unit_is_named_with_its_date(tmp_path):
    close = structured(600)
    close[450] *= 1000  # one day typed 1000x too high
    prices = data.read_prices(prices_csv(tmp_path / "typo.csv", close))
    _, _, bounds = windows.build(prices, ["return"], 20, 1, 10, (0.15, 0.15))
    jumps = windows.implausible_jumps(prices, bounds[0])
    assert [date for date, _ in jumps] == [str(prices.dates[450]), str(prices.dates[451])]  # up, then back down
    assert jumps[0][1] > 500 and jumps[1][1] < -0.99
    assert windows.implausible_jumps(data.read_prices(prices_csv(tmp_path / "fine.csv", structured(600))),
                                     bounds[0]) == []


def test_the_readme_commands_need_no_data_folder():
    """A user who cloned only the project has no RECIPES_DATA_DIR: the commands find prices by ticker (the data
    folder when set, else a download) or read files they wrote (tests/test_readme.py runs them)."""
    import re
    from pathlib import Path

    readme = (Path(data.__file__).parent / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```(?:sh|python)\n(.*?)^```", readme, re.S | re.M)
    code = [re.sub(r"#.*", "", line) for block in blocks for line in block.splitlines()]
    assert code and not [line for line in code if "RECIPES_DATA_DIR" in line or "shared/data" in line]
