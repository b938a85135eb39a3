"""Daily stock prices: an RNN forecasts the next days' log-returns as quantiles, scored against naive forecasts."""
