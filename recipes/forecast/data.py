"""Read daily prices (or any positive daily series) from messy CSVs into one clean, date-sorted table.

Sources, in order: `--csv PATH`; RECIPES_DATA_DIR/stocks/TICKER.csv; the daily
history of TICKER from Stooq (https://stooq.com, free, no key), downloaded once
a day into the data cache. Handled quirks: ISO or US dates (`1/3/2012`), numbers
with thousands separators inside quotes (`"7,380,500"`), rows of `null`,
unsorted or repeated dates (the last row of a date wins), missing trading days
(the series steps from one trading day to the next) and zero volume. Refused at their line: day-first
dates (13/01/2012, which the reader would take month-first), and prices whose log changes, ranges or squared
errors overflow. Warned about, with the count and the first line: High below Low, Open or Close outside them.

The column forecast is `--target`: by default Adj Close where present, else Close; any other
numeric column works (Volume, or `value` in a plain `date,value` file) if all its values are above
zero, since the model forecasts log changes.
"""
import dataclasses
import datetime
import io
import re
from pathlib import Path

import numpy as np

from shared.data import fetch_file, locate, read_text
from shared.errors import UserError

STOOQ_URL = "https://stooq.com/q/d/l/?s={symbol}&i=d"
STOOQ_SYMBOLS = {"GSPC": "^spx", "DJI": "^dji", "IXIC": "^ndq"}  # Yahoo index names -> Stooq's
MISSING = {"", "null", "nan", "na", "n/a", "none", "-"}
DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%Y/%m/%d", "%m/%d/%y", "%d.%m.%Y")
DATES_READ = "ISO YYYY-MM-DD (2012-01-13), month-first M/D/YYYY or M/D/YY (1/13/2012), YYYY/MM/DD or D.M.YYYY"
DAY_FIRST = re.compile(r"(\d{1,2})([/-])(\d{1,2})\2(\d{2}|\d{4})")  # 13/01/2012: read month-first, it cannot be
VALUE_LIMIT = 1e100  # prices beyond it (or positive ones below 1/VALUE_LIMIT) overflow squared errors and ratios
PRICE_COLUMNS = ("open", "high", "low", "close", "adjclose")  # keys of the columns that are prices


def key(name):
    """Column names compared without case, spaces or punctuation: 'Adj Close' == 'adj_close'."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


@dataclasses.dataclass
class Prices:
    dates: np.ndarray  # (days,) datetime64[D], increasing, unique
    columns: dict  # key(name) -> (days,) float64, NaN where the file had no value
    target: str  # key of the column that is forecast
    source: str
    notes: list  # what was cleaned, for the log
    label: str = ""  # that column's name in the file ("Adj Close", "Volume", "value")
    warnings: list = dataclasses.field(default_factory=list)  # what the data lacks, for stderr

    def __len__(self):
        return len(self.dates)

    @property
    def price(self):
        """(days,) the series forecast: a price by default, or any positive column chosen with --target."""
        return self.columns[self.target]

    @property
    def noun(self):
        """What messages call the series: "price", or the column's own name when it is no price."""
        return "price" if self.target in PRICE_COLUMNS else (self.label or self.target)


def _parse_dates(raw, path, first_line):
    import pandas as pd  # here, like every pandas use: `--help` answers before pandas loads (~0.5 s)

    text = raw.astype(str).str.strip()
    for at, value in enumerate(text):  # a day-first file: refused whole, since its days up to 12 would read wrong
        parts = DAY_FIRST.fullmatch(value)
        if parts and 12 < int(parts.group(1)) <= 31 and 1 <= int(parts.group(3)) <= 12:
            raise UserError(f"{path}: line {at + first_line}: date {value!r} looks day-first (day {parts.group(1)}, "
                            f"month {parts.group(3)}); dates are read as {DATES_READ}: write the column as ISO "
                            f"dates (e.g. {parts.group(4) if len(parts.group(4)) == 4 else '20' + parts.group(4)}-"
                            f"{int(parts.group(3)):02d}-{int(parts.group(1)):02d})")
    for fmt in DATE_FORMATS:
        parsed = pd.to_datetime(text, format=fmt, errors="coerce")
        if parsed.notna().mean() > 0.5:  # the format most rows follow; the others are errors
            bad = parsed.isna() & ~text.str.lower().isin(MISSING)
            if bad.any():
                at = int(np.flatnonzero(bad.to_numpy())[0])
                raise UserError(f"{path}: line {at + first_line}: date {text.iloc[at]!r} does not match "
                                f"the file's other dates ({fmt})")
            return parsed
    raise UserError(f"{path}: line {first_line}: date {text.iloc[0]!r} is not a date the reader knows: {DATES_READ}")


def _parse_number(raw, name, path, first_line):
    import pandas as pd

    text = raw.astype(str).str.strip().str.replace(",", "", regex=False)  # "7,380,500" -> 7380500
    values = pd.to_numeric(text, errors="coerce")
    bad = values.isna() & ~text.str.lower().isin(MISSING) & raw.notna()
    if bad.any():
        at = int(np.flatnonzero(bad.to_numpy())[0])
        raise UserError(f"{path}: line {at + first_line}: {name} {raw.iloc[at]!r} is not a number")
    infinite = np.isinf(values.to_numpy(dtype="float64"))  # "inf", "1e999": numbers, but no price
    if infinite.any():
        at = int(np.flatnonzero(infinite)[0])
        raise UserError(f"{path}: line {at + first_line}: {name} {raw.iloc[at]!r} is not a finite number")
    return values.astype("float64")


def read_prices(path, target=""):
    """Prices from a CSV with a date column and the column to forecast; UserErrors name the file and line."""
    import pandas as pd

    path = Path(path)
    text = read_text(path, what="CSV file")
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, ValueError) as error:
        raise UserError(f"{path}: not a readable CSV ({str(error).strip().splitlines()[0]})") from None
    names = {key(name): name for name in frame.columns}
    date_name = names.get("date") or names.get("datetime") or names.get("timestamp")
    if date_name is None:
        raise UserError(f"{path}: line 1: no Date column (found {', '.join(map(str, frame.columns))})")
    wanted = key(target) if target else ("adjclose" if "adjclose" in names else "close")
    if wanted not in names:
        raise UserError(f"{path}: line 1: no column {target or 'Close'!r} to forecast; choose one with --target "
                        f"(columns: {', '.join(map(str, frame.columns))})")
    if frame.empty:
        raise UserError(f"{path}: no rows after the header")
    first_line = 2  # the header is line 1
    dates = _parse_dates(frame[date_name], path, first_line)
    columns = {}
    for name_key, name in names.items():
        if name != date_name and name_key in ("open", "high", "low", "close", "adjclose", "volume", wanted):
            columns[name_key] = _parse_number(frame[name], name, path, first_line)
    table = pd.DataFrame(columns)
    table.insert(0, "date", dates)
    notes = []
    empty = table["date"].isna() | table[wanted].isna()
    if empty.any():
        notes.append(f"{int(empty.sum())} rows without a date or {names[wanted]} dropped")
        table = table[~empty]
    if (table[wanted] <= 0).any():  # the model forecasts log changes: log(0) has none
        at = int(np.flatnonzero((table[wanted] <= 0).to_numpy())[0])
        what = ("is not a positive price" if wanted in PRICE_COLUMNS else
                f"is not positive: the model forecasts log changes of {names[wanted]}, which need values above 0 "
                "(drop or fill those rows, or choose another column with --target)")
        raise UserError(f"{path}: line {table.index[at] + first_line}: {names[wanted]} {table[wanted].iloc[at]} {what}")
    check_computable(table, names, wanted, path, first_line)
    if not table["date"].is_monotonic_increasing:
        notes.append("rows sorted by date")
    table = table.sort_values("date", kind="stable")
    repeated = table["date"].duplicated(keep="last")
    if repeated.any():
        notes.append(f"{int(repeated.sum())} repeated dates: the last row of each kept")
        table = table[~repeated]
    if "volume" in table and (table["volume"] == 0).any():
        notes.append(f"{int((table['volume'] == 0).sum())} days with zero volume")
    if len(table) and table[wanted].nunique() == 1:
        raise UserError(f"{path}: {names[wanted]} is constant ({table[wanted].iloc[0]}): nothing to forecast")
    prices = Prices(table["date"].to_numpy().astype("datetime64[D]"),
                    {k: table[k].to_numpy() for k in columns}, wanted, str(path), notes, names[wanted])
    prices.warnings.extend(order_warnings(prices, table.index.to_numpy() + first_line, names))
    prices.warnings.extend(range_warnings(prices))
    return prices


def check_computable(table, names, wanted, path, first_line):
    """A UserError at the first value whose log change, high-low range or squared error would not be a finite
    number: a price (or the target) beyond VALUE_LIMIT either way, or High or Low at or below 0."""
    for name_key in dict.fromkeys((*PRICE_COLUMNS, wanted)):
        if name_key not in table:
            continue
        values = table[name_key].to_numpy()
        with np.errstate(invalid="ignore"):
            huge = (np.abs(values) > VALUE_LIMIT) | ((values > 0) & (values < 1 / VALUE_LIMIT))
            bad = huge | ((values <= 0) if name_key in ("high", "low") else False)
        if bad.any():
            at = int(np.flatnonzero(bad)[0])
            why = (f"is out of range: values beyond {VALUE_LIMIT:.0e} (or below {1 / VALUE_LIMIT:.0e}) overflow the "
                   "log changes, ranges and squared errors; rescale the column" if huge[at] else
                   "is not a positive price: the range log(High / Low) needs High and Low above 0")
            raise UserError(f"{path}: line {table.index[at] + first_line}: {names[name_key]} {values[at]:g} {why}")


def order_warnings(prices, lines, names):
    """[line] on the days where High is below Low, or Open or Close lies outside Low..High: the first such
    line of the file and the count. Days with High below Low count as days without a range (no_range)."""
    if "high" not in prices.columns or "low" not in prices.columns:
        return []
    high, low = prices.columns["high"], prices.columns["low"]
    with np.errstate(invalid="ignore"):
        inverted = high < low
        outside = {k: ~inverted & ((prices.columns[k] < low) | (prices.columns[k] > high))
                   for k in ("open", "close") if k in prices.columns}
        if "open" in outside:
            outside["open"] &= prices.columns["open"] > 0  # Open 0: not recorded (GSPC before 1962)
    odd = np.logical_or.reduce([inverted, *outside.values()])
    if not odd.any():
        return []
    first = int(np.argmin(np.where(odd, lines, np.iinfo(lines.dtype).max)))  # the first in the file's order
    high_low = f"{names['high']} {high[first]:g}", f"{names['low']} {low[first]:g}"
    if inverted[first]:
        what = f"{high_low[0]} below {high_low[1]}"
    else:
        column = next(k for k in outside if outside[k][first])
        what = f"{names[column]} {prices.columns[column][first]:g} outside {high_low[1]} .. {high_low[0]}"
    parts = [f"{label} {int(mask.sum()):,}" for label, mask in
             [("High below Low", inverted)] + [(f"{names[k]} outside Low .. High", m) for k, m in outside.items()]
             if mask.any()]
    line = (f"{prices.source}: line {lines[first]}: {what} ({prices.dates[first]}); {int(odd.sum()):,} of "
            f"{len(prices):,} rows have such prices ({', '.join(parts)}): check the file's columns")
    if inverted.any():
        line += "; days with High below Low are read as days without a range"
    return [line]


def no_range(prices):
    """(days,) True where the day has no high-low range: High <= Low (a file that repeats the close), or missing."""
    with np.errstate(invalid="ignore"):
        return ~(prices.columns["high"] > prices.columns["low"])


def first_range_day(prices):
    """Index of the first day with a high-low range (0 without High and Low: nothing to skip; len if none)."""
    if "high" not in prices.columns or "low" not in prices.columns:
        return 0
    real = np.flatnonzero(~no_range(prices))
    return int(real[0]) if len(real) else len(prices)


def range_warnings(prices):
    """[line] on the days without a high-low range: the range feature and the Parkinson band read 0 or nothing."""
    if "high" not in prices.columns or "low" not in prices.columns:
        return []
    missing = np.flatnonzero(no_range(prices))
    if len(missing) == 0:
        return []
    line = (f"{prices.source}: {len(missing):,} of {len(prices):,} rows have no high-low range (High not above Low, "
            f"or missing), {prices.dates[missing[0]]} .. {prices.dates[missing[-1]]}")
    first = first_range_day(prices)
    if first:
        line += (f"; the first {first:,} ({prices.dates[0]} .. {prices.dates[first - 1]}) come before any range: "
                 "with the range feature, windows start after them, and the Parkinson band uses none of them")
    if len(missing) > first:
        line += (f"; {'the other ' if first else ''}{len(missing) - first:,} days inside the history read a range of 0 "
                 "as the model's input (the Parkinson band leaves them out)")
    return [line]


def last_rows(prices, rows):
    """The last `rows` days of `prices` (a --smoke run), the cut noted."""
    if len(prices) <= rows:
        return prices
    return Prices(prices.dates[-rows:], {k: v[-rows:] for k, v in prices.columns.items()}, prices.target,
                  prices.source, prices.notes + [f"smoke: last {rows} rows"], prices.label, prices.warnings)


def stooq_symbol(ticker):
    return STOOQ_SYMBOLS.get(ticker.upper(), ticker.lower() if "." in ticker else f"{ticker.lower()}.us")


def _fetcher(ticker):
    def fetch(cache):
        url = STOOQ_URL.format(symbol=stooq_symbol(ticker))
        path = cache / "stocks" / f"{ticker.upper()}-{datetime.date.today().isoformat()}.csv"
        if not path.is_file():
            try:
                fetch_file(url, path.name, path.parent)  # no hash: the file grows every trading day
            except UserError as error:
                reason = re.search(r"\((.*)\);", str(error))  # shared.data's message: URL (reason); advice
                raise UserError(f"could not download {ticker} from Stooq ({url}: "
                                f"{reason.group(1) if reason else 'failed'}); offline, pass a CSV "
                                "with --csv PATH or set RECIPES_DATA_DIR to a folder laid out like the data README "
                                "(stocks/TICKER.csv)") from None
            if not path.read_text(encoding="utf-8", errors="replace").lower().startswith("date"):
                answer = path.read_text(encoding="utf-8", errors="replace").strip()[:80]
                path.unlink()
                raise UserError(f"Stooq ({url}) has no prices for ticker {ticker}: {answer!r}; "
                                "check the ticker, or pass a CSV with --csv PATH")
        return path
    return fetch


def load(csv_path, ticker, target=""):
    """Prices from --csv, else RECIPES_DATA_DIR/stocks/TICKER.csv, else Stooq."""
    if csv_path:
        return read_prices(csv_path, target)
    if not re.fullmatch(r"[A-Za-z0-9^.\-]{1,20}", ticker or ""):
        raise UserError(f"--ticker {ticker!r} is not a ticker symbol like GOOG")
    return read_prices(locate(f"stocks/{ticker.upper()}.csv", _fetcher(ticker)), target)
