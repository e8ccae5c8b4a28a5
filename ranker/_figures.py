"""Figures without pyplot, so that ranksim never switches the caller's matplotlib backend.

A researcher's notebook draws with its own (inline) backend; the report and
the learned-weights plot used to force ``Agg`` for their files, after which the
notebook's own ``plt.show()`` drew nothing. A :class:`matplotlib.figure.Figure`
made directly needs no backend and no pyplot state (matplotlib's advice for
code that only writes files); this module offers the two pyplot calls ranksim
uses, with the same signatures, on such figures.
"""

from __future__ import annotations


def subplots(nrows: int = 1, ncols: int = 1, *, figsize=None, **kwargs):
    """Like :func:`matplotlib.pyplot.subplots`, on a figure unknown to pyplot."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def close(fig) -> None:
    """Release a figure's artists (pyplot never held it, so there is nothing else to do)."""
    fig.clear()
