"""Exit codes and one-line messages, the same for every ``ranksim`` command.

=========  ====================================================================
exit code  meaning
=========  ====================================================================
0          success
1          runtime failure: the command was valid but failed while running: an
           OS error (permission denied, read-only file system, disk full,
           broken pipe, I/O error), a run that raised, another process holding
           the output's lock, a cluster that cannot run it, out of memory
2          usage error: the command cannot run as given: an unknown or
           malformed option, an invalid config value, a missing, malformed or
           unsafe input file or model directory, an output that exists (without
           ``--overwrite``) or may not be replaced, a config too large for
           this machine's memory. Checked before any work; nothing is written
130        interrupted (Ctrl-C, SIGTERM)
=========  ====================================================================

Every error is one line on stderr, ``ranksim COMMAND: error: ...``, never a
traceback (set ``RANKSIM_DEBUG=1`` to see one).
"""

from __future__ import annotations

import os
import signal
import sys

OK, RUNTIME, USAGE, INTERRUPTED = 0, 1, 2, 130
#: OS errors about a path the user named: usage errors.
_PATH_ERRORS = (FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError)


class UsageError(ValueError):
    """The command cannot run as given (exit 2)."""


def exit_code(exc: BaseException) -> int:
    """The exit code for an exception that ended a command (see the module docstring)."""
    if isinstance(exc, KeyboardInterrupt):
        return INTERRUPTED
    if isinstance(exc, _PATH_ERRORS):
        return USAGE
    if isinstance(exc, OSError):
        return RUNTIME
    if isinstance(exc, (ValueError, TypeError)):
        return USAGE
    return RUNTIME


def message(exc: BaseException) -> str:
    """The exception as one line (an OS error as ``path: reason``)."""
    if isinstance(exc, MemoryError):
        text = f"out of memory{': ' + str(exc) if str(exc) else ''}"
    elif isinstance(exc, OSError) and exc.strerror and not (exc.args and len(exc.args) == 1):
        where = exc.filename if exc.filename is not None else ""
        text = f"{where}: {exc.strerror}" if where else exc.strerror
        if exc.filename2 is not None:
            text += f" (-> {exc.filename2})"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def _silence_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so that the exit flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def run_command(prog: str, command: str, fn, args) -> int:
    """Run ``fn(args)`` and turn whatever it raises into one line on stderr and an exit code.

    SIGTERM is handled as Ctrl-C while the command runs (so workers and
    temporary files are cleaned up the same way).
    """
    old = None
    try:
        old = signal.signal(signal.SIGTERM, _interrupt)
    except ValueError:  # not the main thread
        old = None
    try:
        return int(fn(args) or 0)
    except BrokenPipeError:
        _silence_stdout()
        print(f"{prog} {command}: error: the output was closed before the end (broken pipe)", file=sys.stderr)
        return RUNTIME
    except KeyboardInterrupt:
        print(f"{prog} {command}: interrupted", file=sys.stderr)
        return INTERRUPTED
    except (OSError, ValueError, TypeError, RuntimeError, MemoryError) as e:
        if os.environ.get("RANKSIM_DEBUG"):
            raise
        print(f"{prog} {command}: error: {message(e)}", file=sys.stderr)
        return exit_code(e)
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)
