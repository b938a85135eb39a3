"""Progress of long inference jobs on stderr, and how verbose a training run's output is.

    progress = Progress(total=10000, unit="characters", prog="generate")
    for ... :
        progress.update(1)
    progress.done()

A job that finishes within `after` seconds (3) prints nothing. Past that: on a terminal one line
that rewrites itself (at most every second); in a file or CI log one line every `every` seconds
(30), so a log holds a count, not a stream of redrawn bars. Always on stderr: stdout stays the
job's output (a generated text, translations).
"""
import sys
import time


def fit_verbosity(stream=None):
    """Keras's `verbose` for fit: 1 (the progress bar within each epoch) on a terminal, 2 (one line
    per epoch) in a file or CI log, where the bar's redraws would each become a line."""
    stream = sys.stdout if stream is None else stream
    return 1 if is_terminal(stream) else 2


def is_terminal(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or file-like object without isatty
        return False


class Progress:
    """Counts items of a job of `total` and reports on `stream` past `after` seconds (see the module doc)."""

    def __init__(self, total, unit, prog, *, stream=None, after=3.0, every=30.0, clock=time.monotonic):
        self.total, self.unit, self.prog = total, unit, prog
        self.stream = sys.stderr if stream is None else stream
        self.terminal = is_terminal(self.stream)
        self.after, self.every = after, (1.0 if self.terminal else every)
        self.clock = clock
        self.started = clock()
        self.count, self.last_report, self.reported = 0, None, False

    def line(self):
        seconds = self.clock() - self.started
        text = f"{self.prog}: {self.count:,}/{self.total:,} {self.unit}, {seconds:.0f} s"
        if 0 < self.count < self.total:
            text += f", about {seconds * (self.total - self.count) / self.count:.0f} s left"
        return text

    def update(self, count=1):
        self.count += count
        now = self.clock()
        if now - self.started < self.after:
            return
        if self.last_report is not None and now - self.last_report < self.every:
            return
        self._write(self.line())
        self.last_report, self.reported = now, True

    def done(self):
        """The final count, if anything was reported (a short job stays silent)."""
        if self.reported:
            self._write(self.line())
            if self.terminal:
                self.stream.write("\n")
                self.stream.flush()

    def _write(self, text):
        # A terminal: the line rewrites itself (\r, then spaces over a longer earlier line).
        self.stream.write(f"\r{text:<79}" if self.terminal else text + "\n")
        self.stream.flush()
