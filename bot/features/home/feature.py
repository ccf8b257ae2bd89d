"""The home feature on the registry: the `app_home_opened` event, its Roll back… button and the refresh job."""

from __future__ import annotations

from bot.core.runtime import Job, Registry
from bot.features.home.handlers import SCHEMA as home_tables
from bot.features.home.handlers import home_opened, home_rollback, refresh


def register(registry: Registry) -> None:
    registry.add_schema(home_tables)
    registry.add_event("app_home_opened", home_opened)
    registry.add_action("home.", home_rollback)  # the tab's own buttons: Roll back…
    # Re-renders every opened Home tab; publishes only those whose view changed.
    registry.add_job(Job(name="home-refresh", body=lambda runtime, at: refresh(runtime, at=at),
                         interval=lambda config: config.home.refresh_seconds,
                         enabled=lambda config: config.home.enabled))
