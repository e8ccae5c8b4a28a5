"""ranksim's simulator: the world, the behaviour model, the feed loop, metrics, reports.

Imports ``ranker``; ``ranker`` never imports ``sim``.
"""

from importlib.metadata import PackageNotFoundError, version

try:  # one source of the version: setup.cfg, as installed
    __version__ = version("ranksim")
except PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
    __version__ = "0+unknown"
