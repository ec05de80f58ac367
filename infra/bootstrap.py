"""The composition root: settings → database → application, views and directory."""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.application import LinkageApp
from infra.database import Database, open_database
from infra.settings import Settings
from projections.units import CachedUnitDirectory, UnitsView


@dataclass
class Runtime:
    """Everything a command-line command or a server needs, wired once."""

    settings: Settings
    database: Database
    app: LinkageApp
    units_view: UnitsView
    units: CachedUnitDirectory
    _closed: bool = field(default=False, repr=False)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.app.close()
            self.units_view.datastore.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build_runtime(
    database: Database, settings: Settings | None = None, pool_size: int = 5
) -> Runtime:
    """Wire the application and views on `database`, creating tables if missing."""
    units_view = UnitsView(database.datastore())
    units_view.create_table()
    units = CachedUnitDirectory(units_view)
    app = LinkageApp(env=database.eventsourcing_env(pool_size), units=units)
    return Runtime(settings or Settings.from_env(), database, app, units_view, units)


def bootstrap(settings: Settings | None = None) -> Runtime:
    """The runtime the environment selects (embedded PostgreSQL when nothing is set)."""
    settings = settings or Settings.from_env()
    return build_runtime(open_database(settings), settings)
