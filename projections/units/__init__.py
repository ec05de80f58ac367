"""The units read model: `view` (the hierarchy with each unit's path, and the cached
`UnitDirectory` over it) and `queries` (units by code, in sight, children pages)."""

from projections.units.view import CachedUnitDirectory, UnitsView

__all__ = ["CachedUnitDirectory", "UnitsView"]
