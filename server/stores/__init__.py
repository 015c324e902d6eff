"""Durable session and profile stores: SQLite (default, one replica) or Redis (shared).

:func:`open_store` picks one from ``ServerConfig.store``; both implement
:class:`server.stores.base.Store`. The Redis client is imported only when a
Redis store is asked for.
"""

from __future__ import annotations

from server.config import ServerConfig
from server.stores.base import Store


def open_store(config: ServerConfig) -> Store:
    """The store ``config.store`` names (``sqlite`` or ``redis://HOST:PORT[/DB]``)."""
    if config.store == "sqlite":
        from server.stores.sqlite import SqliteStore

        return SqliteStore(
            config.sqlite_path, sync_commits=config.sync_commits, turn_log=config.turn_log
        )
    from server.stores.redis import RedisStore

    return RedisStore(config.store)
