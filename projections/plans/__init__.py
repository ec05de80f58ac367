"""The plans read model: `view` (the annual consultation plans, their items, links,
adjustments and the held deliberations that complete meeting kinds) and `queries`
(a unit's plan, its progress, and the roll-up over child units)."""

from projections.plans.view import PlansView

__all__ = ["PlansView"]
