"""The statistics read model: `view` (counters per unit and month, the formulas) and
`queries` (the figures of a unit's subtree and children)."""

from projections.stats.view import StatsView

__all__ = ["StatsView"]
