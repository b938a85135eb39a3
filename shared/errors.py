"""Errors a user can fix, and the one place that turns them into a one-line message."""
import contextlib
import errno
import signal
import sys
import threading


class UserError(Exception):
    """Bad input or options: reported as one line on stderr, exit status 2."""


class TrainingError(Exception):
    """Training itself failed (say the loss became NaN): one line, exit status 1."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, a scheduler's time limit) while a command runs: handled like Ctrl-C, exit status 143."""


# What an interrupted command says after "interrupted; " (reported's `after_interrupt`). Only a training run
# with a backup can resume (shared.run.TrainingRun says which); every other command writes its files whole
# or not at all.
RESUME = "run the same command again to resume"
NOTHING_WRITTEN = "nothing was written"

MESSAGE_LIMIT = 400  # characters of a one-line message; quoted input beyond it is cut in the middle
FULL_DISK = (errno.ENOSPC, errno.EDQUOT)

# Set by reported() when the command ends in a way that must not wait for anything (Ctrl-C, SIGTERM, a full
# disk): shared.entry.dispatch then leaves the process at once, without joining a download's worker threads
# or running the finalizers that crash on a half-written HDF5 file.
leave_at_once = False


def readable(message, limit=MESSAGE_LIMIT):
    """One line of at most about `limit` characters: a message quoting a 100,000-column header stays readable."""
    message = " ".join(message.split())
    if len(message) <= limit:
        return message
    keep = limit // 2
    return f"{message[:keep]} [... {len(message) - 2 * keep:,} characters cut ...] {message[-keep:]}"


def is_full_disk(error):
    """Whether `error` says the disk (or the user's quota) is full: an OSError's errno, or h5py's and
    TensorFlow's messages, which carry the errno only in their text."""
    if isinstance(error, OSError) and error.errno in FULL_DISK:
        return True
    text = str(error)
    return "No space left on device" in text or "errno = 28" in text or "Disk quota exceeded" in text


@contextlib.contextmanager
def writing(path):
    """Name `path` in a full-disk error raised inside: OSError(ENOSPC, ..., path), whatever raised it."""
    try:
        yield
    except Exception as error:
        if not is_full_disk(error) or (isinstance(error, OSError) and error.filename):
            raise  # another error, or one that names its file already (an inner writing())
        raise OSError(errno.ENOSPC, "No space left on device", str(path)) from None


@contextlib.contextmanager
def _sigterm_interrupts():
    """SIGTERM raises Terminated (a KeyboardInterrupt) in the main thread while the body runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum, frame):
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def reported(prog, after_interrupt=NOTHING_WRITTEN):
    """Run a command body so that user mistakes end in one line, never a traceback.

    after_interrupt: what Ctrl-C or SIGTERM is answered with, after "interrupted; ": a text, or a function
    that returns it then (a training run: RESUME once it has a backup).
    """
    global leave_at_once
    try:
        with _sigterm_interrupts():
            yield
    except UserError as error:
        print(f"{prog}: error: {readable(str(error))}", file=sys.stderr)
        raise SystemExit(2) from None
    except TrainingError as error:
        print(f"{prog}: training failed: {readable(str(error))}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt as error:
        leave_at_once = True
        what = "terminated" if isinstance(error, Terminated) else "interrupted"
        said = after_interrupt() if callable(after_interrupt) else after_interrupt
        print(f"{prog}: {what}; {said}", file=sys.stderr)
        raise SystemExit(143 if isinstance(error, Terminated) else 130) from None
    except Exception as error:
        if not is_full_disk(error):
            raise
        leave_at_once = True
        where = getattr(error, "filename", None) or "a file (the message did not say which)"
        print(f"{prog}: error: no space left on device while writing {where}; free some space and run the "
              "same command again (finished results were left as they were)", file=sys.stderr)
        raise SystemExit(1) from None
