"""The recipe's settings: every training option, with its default and help (`--help` lists them).

Imports nothing of the recipe, so training, the backtest and inference all read it without a circle.
"""
import dataclasses

from shared.errors import UserError
from shared.run import TrainConfig, option

SMOKE = {"rows": 1500}  # a --smoke run: the last rows of the file
SMOKE_CAPS = {"epochs": 2, "backtest": 2, "fold_days": 100}  # two epochs (and two short backtest folds)


@dataclasses.dataclass
class Config(TrainConfig):
    ticker: str = option("GOOG", "ticker: RECIPES_DATA_DIR/stocks/TICKER.csv, else downloaded from Stooq")
    csv: str = option("", "a CSV with a Date column and the column to forecast, instead of --ticker")
    target: str = option("", "column to forecast, any positive series such as Volume or value (default: Adj "
                              "Close where present, else Close)")
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

    def check_given(self, given):
        """Refuse an option the run would ignore beside another (shared.config.parse calls this with the
        options the command line names), rather than say nothing and use the other."""
        if self.tickers and given & {"ticker", "csv"}:
            name = "--ticker" if "ticker" in given else "--csv"
            raise UserError(f"--tickers and {name} both name the series: give one (--tickers takes tickers and "
                            "CSV paths, comma-separated)")
        if self.csv and "ticker" in given:
            raise UserError(f"--ticker {self.ticker} and --csv {self.csv} both name the series: give one (--csv "
                            "reads that file; --ticker reads RECIPES_DATA_DIR/stocks/TICKER.csv or downloads it)")
        if self.backtest and "test_fraction" in given:
            raise UserError("--test-fraction is for one split: with --backtest the test periods are the folds "
                            "(--fold-days days each); leave out --test-fraction")
        if not self.backtest and "fold_days" in given:
            raise UserError("--fold-days is for the backtest: add --backtest N, or leave out --fold-days")
