"""The composition root: settings → database → application, views and directory."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from domain.application import LinkageApp
from domain.clock import use_display_zone
from infra.database import Database, open_database
from infra.pools import harden
from infra.privacy import PersonalDataVault
from infra.secret import signing_secret
from infra.settings import Settings
from infra.stream.state import Watermark
from projections.base import View
from projections.runner import ProjectionRunner
from projections.units import CachedUnitDirectory, UnitsView


@dataclass
class Runtime:
    """Everything a command-line command or a server needs, wired once."""

    settings: Settings
    database: Database
    app: LinkageApp
    units_view: UnitsView
    units: CachedUnitDirectory
    vault: PersonalDataVault
    _closed: bool = field(default=False, repr=False)
    _read_models: ProjectionRunner | None = field(default=None, repr=False)
    _opening: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def open_read_models(self) -> ProjectionRunner:
        """Open the read models of DESIGN §5 and their runner, creating their tables if
        missing; idempotent (every call returns the same runner)."""
        with self._opening:
            if self._read_models is None:
                views = [
                    cls(self.database.datastore(pool_size=1), self.units) for cls in view_classes()
                ]
                runner = ProjectionRunner(
                    self.app, views, self.database.conninfo, fed_up_to=self.kafka_watermark
                )
                runner.create_tables()
                self._read_models = runner
            return self._read_models

    @property
    def projections(self) -> ProjectionRunner:
        """The read models' runner (`open_read_models`, which opens them on first use)."""
        return self.open_read_models()

    @cached_property
    def kafka_watermark(self) -> Watermark | None:
        """Distributed mode: how far the Kafka projectors have fed the read models."""
        if not self.settings.distributed:
            return None
        return Watermark(self.database.datastore(pool_size=1), self.settings.kafka_topic)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self.__dict__.get("kafka_watermark") is not None:
                self.kafka_watermark.datastore.close()  # type: ignore[union-attr]
            if self._read_models is not None:
                self._read_models.close()
                for view in self._read_models.views.values():
                    view.datastore.close()
            self.app.close()
            self.units_view.datastore.close()
            self.vault.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def view_classes() -> list[type[View]]:
    from projections.plans import PlansView
    from projections.stats import StatsView
    from projections.timeline import TimelineView
    from projections.topics import TopicsView

    return [TopicsView, TimelineView, StatsView, PlansView]


def build_runtime(
    database: Database, settings: Settings | None = None, pool_size: int = 5
) -> Runtime:
    """Wire the application and views on `database`, creating tables if missing."""
    units_view = UnitsView(database.datastore())
    units_view.create_table()
    units = CachedUnitDirectory(units_view)
    settings = settings or Settings.from_env()
    use_display_zone(settings.display_zone)
    # one connection at rest (a key lookup per submission); more on demand
    vault = PersonalDataVault(database.datastore(pool_size=1), _secret_of(settings))
    vault.create_table()
    app = LinkageApp(env=database.eventsourcing_env(pool_size), units=units, vault=vault)
    harden(app.recorder.datastore.pool)  # type: ignore[attr-defined]
    return Runtime(settings, database, app, units_view, units, vault)


def _secret_of(settings: Settings) -> Callable[[], str]:
    """The deployment secret, read when first needed (person ids are keyed with it)."""

    def secret() -> str:
        return signing_secret(settings)

    return secret


def bootstrap(settings: Settings | None = None, pool_size: int = 5) -> Runtime:
    """The runtime the environment selects (embedded PostgreSQL when nothing is set)."""
    settings = settings or Settings.from_env()
    return build_runtime(open_database(settings), settings, pool_size)
