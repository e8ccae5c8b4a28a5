"""Progress reports that suit where the output goes.

On a terminal, a tqdm bar (redrawn in place with ``\\r``). Anywhere else (a
pipe, a log file, a notebook, a batch job), one plain line per step, so logs
hold readable lines instead of carriage-return frames.
"""

from __future__ import annotations

import sys


def _is_tty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or stream-like objects without isatty
        return False


class Progress:
    """A bar on a TTY, a plain line per :meth:`update` elsewhere, nothing when disabled.

    Parameters
    ----------
    total : int
        Steps expected.
    desc : str
        What is progressing (the line's prefix).
    unit : str
        Name of one step (``"day"``, ``"run"``).
    enabled : bool
        ``False``: print nothing at all.
    stream : file-like, optional
        Where to write (default ``sys.stderr``, looked up at construction).
    initial : int
        Steps already done (e.g. runs reused).
    lines : int, optional
        Off a terminal, at most about this many lines (every ``total // lines`` steps and the last);
        default: one per step.
    """

    def __init__(self, total: int, desc: str, unit: str, *, enabled: bool = True, stream=None, initial: int = 0,
                 lines: int | None = None):
        self.stream = sys.stderr if stream is None else stream
        self.total, self.desc, self.unit = int(total), desc, unit
        self.n = int(initial)
        self.enabled = bool(enabled)
        self.every = max(1, self.total // lines) if lines else 1
        self.bar = None
        if self.enabled and _is_tty(self.stream):
            from tqdm import tqdm  # plain tqdm: a terminal, never a notebook widget

            self.bar = tqdm(total=self.total, initial=self.n, desc=desc, unit=unit, leave=False, file=self.stream)

    @property
    def is_bar(self) -> bool:
        return self.bar is not None

    def update(self, n: int = 1, **postfix) -> None:
        """``n`` more steps done; ``postfix`` values are shown beside the count."""
        self.n += n
        if self.bar is not None:
            self.bar.update(n)
            if postfix:
                self.bar.set_postfix(**postfix)
        elif self.enabled and (self.n % self.every == 0 or self.n >= self.total):
            extra = "".join(f", {k} {v}" for k, v in postfix.items())
            print(f"{self.desc}: {self.unit} {self.n}/{self.total}{extra}", file=self.stream, flush=True)

    def set_postfix(self, **postfix) -> None:
        """Shown beside the bar on a terminal (off a terminal, :meth:`update` prints them)."""
        if self.bar is not None:
            self.bar.set_postfix(**postfix)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def tqdm_like(total: int, desc: str, disable: bool = False, leave: bool = False, unit: str = "step",
              lines: int | None = 10) -> Progress:
    """A :class:`Progress` made with tqdm's keywords (``disable``, ``leave`` is ignored: bars never stay)."""
    return Progress(total, desc, unit, enabled=not disable, lines=lines)
