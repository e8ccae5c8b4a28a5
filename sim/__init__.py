"""ranksim's simulator: the world, the behaviour model, the feed loop, metrics, reports.

Imports ``ranker``; ``ranker`` never imports ``sim``.
"""

__version__ = "0.1.0"
