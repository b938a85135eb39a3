"""Progress: the bar on a terminal, one line per epoch in a log, the budget left, counts of long jobs."""
import csv
import io

import pytest
from tiny import TinyConfig, config_compile, config_fit, config_setup, tiny_gru, tiny_problem

from shared.progress import Progress, fit_verbosity


class Terminal(io.StringIO):
    def isatty(self):
        return True


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_fit_shows_the_bar_on_a_terminal_and_one_line_per_epoch_elsewhere():
    assert fit_verbosity(Terminal()) == 1
    assert fit_verbosity(io.StringIO()) == 2
    assert fit_verbosity(object()) == 2  # no isatty at all: a log


def batches(x, y):
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices((x, y)).batch(16)


@pytest.mark.parametrize("budget", [0, 600])
def test_the_epoch_line_says_how_much_of_the_budget_is_left_and_the_log_keeps_its_columns(tmp_path, capsys, budget):
    config = TinyConfig(epochs=2)
    x, y = tiny_problem()
    config_setup(config)
    model = tiny_gru()
    config_compile(model, config, loss="binary_crossentropy")
    # verbose left to fit: pytest's captured stdout is no terminal, so one line per epoch.
    config_fit(model, batches(x, y), batches(x, y), config, tmp_path, budget_seconds=budget)
    lines = [line for line in capsys.readouterr().out.splitlines() if " - loss:" in line]
    assert len(lines) == 2, lines  # one line per epoch, no redrawn bar
    assert all("\r" not in line and "\x1b" not in line for line in lines)
    if budget:
        left = [float(line.split("budget_left_min: ")[1].split()[0]) for line in lines]
        assert 9.0 < left[1] <= left[0] < 10.0  # 10 minutes, a few seconds spent
    else:
        assert not any("budget_left" in line for line in lines)
    with (tmp_path / "unfinished" / "training_log.csv").open(newline="") as handle:
        assert "budget_left_min" not in next(csv.reader(handle))  # the progress line's, not the log's


def test_a_short_job_prints_nothing():
    stream, clock = io.StringIO(), Clock()
    progress = Progress(100, "sentences", "translate", stream=stream, clock=clock)
    for _ in range(100):
        clock.now += 0.01
        progress.update()
    progress.done()
    assert stream.getvalue() == ""


def test_a_long_job_in_a_log_reports_a_line_every_30_seconds_and_the_final_count():
    stream, clock = io.StringIO(), Clock()
    progress = Progress(1000, "characters", "generate", stream=stream, clock=clock)
    for _ in range(1000):
        clock.now += 0.1  # 100 s in all
        progress.update()
    progress.done()
    lines = stream.getvalue().splitlines()
    # first past 3 s, then every 30 s, then the final count
    assert lines[0] == "generate: 30/1,000 characters, 3 s, about 97 s left"
    assert len(lines) == 1 + 3 + 1 and "\r" not in stream.getvalue()
    assert lines[-1] == "generate: 1,000/1,000 characters, 100 s"


def test_on_a_terminal_the_count_rewrites_one_line():
    stream, clock = Terminal(), Clock()
    progress = Progress(50, "characters", "generate", stream=stream, clock=clock)
    for _ in range(50):
        clock.now += 0.5
        progress.update()
    progress.done()
    text = stream.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")  # one line, ended once the job is done
    assert text.count("\r") >= 20  # rewritten about every second
    assert text.rstrip().endswith("generate: 50/50 characters, 25 s")


class FakeGenerator:
    def characters(self, prompt, length, temperature, top_k, seed, top_p=1.0):
        yield from "ab" * (length // 2)


def test_generating_into_a_file_counts_on_stderr_and_into_a_terminal_not(monkeypatch, capsys):
    from functools import partial

    from recipes.textgen import generate

    monkeypatch.setattr(generate, "Progress", partial(Progress, after=0.0, every=0.0))  # report every character
    out = io.StringIO()
    assert generate.stream(FakeGenerator(), "x", 6, 1.0, out=out) == "ababab"
    assert out.getvalue() == "xababab\n"  # the text alone
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "python -m recipes.textgen generate: 1/6 characters, 0 s, about 0 s left"
    assert err[-1] == "python -m recipes.textgen generate: 6/6 characters, 0 s"
    generate.stream(FakeGenerator(), "x", 6, 1.0, out=Terminal())  # the characters themselves show progress
    assert capsys.readouterr().err == ""


def test_translating_counts_sentences_batch_by_batch():
    from types import SimpleNamespace

    from recipes.translate.translator import Translator

    fake = SimpleNamespace(greedy=lambda group: ([[7] * len(ids) for ids in group], None))
    stream, clock = io.StringIO(), Clock()
    progress = Progress(5, "sentences", "translate", stream=stream, clock=clock, after=0.0, every=0.0)
    results = Translator.translate_ids(fake, [[1], [1, 2], [1], [1, 2, 3], [2]], batch_size=2, progress=progress)
    assert results == [[7], [7, 7], [7], [7, 7, 7], [7]]
    counts = [line.split()[1] for line in stream.getvalue().splitlines()]
    assert counts == ["2/5", "4/5", "5/5", "5/5"]  # after each batch of 2, then the final count
