"""Errors a user can fix, and the one place that turns them into a one-line message."""
import contextlib
import sys


class UserError(Exception):
    """Bad input or options: reported as one line on stderr, exit status 2."""


class TrainingError(Exception):
    """Training itself failed (say the loss became NaN): one line, exit status 1."""


MESSAGE_LIMIT = 400  # characters of a one-line message; quoted input beyond it is cut in the middle


def readable(message, limit=MESSAGE_LIMIT):
    """One line of at most about `limit` characters: a message quoting a 100,000-column header stays readable."""
    message = " ".join(message.split())
    if len(message) <= limit:
        return message
    keep = limit // 2
    return f"{message[:keep]} [... {len(message) - 2 * keep:,} characters cut ...] {message[-keep:]}"


@contextlib.contextmanager
def reported(prog):
    """Run a command body so that user mistakes end in one line, never a traceback."""
    try:
        yield
    except UserError as error:
        print(f"{prog}: error: {readable(str(error))}", file=sys.stderr)
        raise SystemExit(2) from None
    except TrainingError as error:
        print(f"{prog}: training failed: {readable(str(error))}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; run the same command again to resume", file=sys.stderr)
        raise SystemExit(130) from None
