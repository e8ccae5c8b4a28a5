"""ranksim's ranking library: signals, scoring, boosting policies, learned weights.

Usable on real logs without the simulator: this package never imports ``sim``.
"""

__version__ = "0.1.0"
