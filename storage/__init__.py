"""Storage: the interface the bot codes against, and the factory that picks a backend.

Nothing outside this package knows which backend runs: callers use ``open_store`` and the ``Store``
interface of ``storage.base``.
"""

from __future__ import annotations

import os
from pathlib import Path

from storage.base import StorageError, Store

APP_NAME = "account-coach"


def default_data_dir() -> Path:
    """The per-user data folder: ``$XDG_DATA_HOME/account-coach``, else ``~/.local/share/account-coach``."""
    from platformdirs import user_data_path

    return user_data_path(APP_NAME, appauthor=False)


def resolve_data_dir(option: Path | str | None = None) -> Path:
    """The data directory: the ``--data-dir`` option, else ``COACH_DATA_DIR``, else ``default_data_dir()``."""
    if option:
        return Path(option).expanduser()
    env = os.environ.get("COACH_DATA_DIR")
    return Path(env).expanduser() if env else default_data_dir()


def open_store(*, data_dir: Path | str | None = None, url: str | None = None) -> Store:
    """Open the configured store: PostgreSQL when ``COACH_STORAGE_URL`` (or ``url``) is a postgresql:// URL,
    else TinyDB in the resolved data directory."""
    url = url if url is not None else os.environ.get("COACH_STORAGE_URL")
    if url:
        if not url.startswith(("postgresql://", "postgres://")):
            raise StorageError(
                f"COACH_STORAGE_URL must be a postgresql:// URL, got {url.split(':', 1)[0]}://..."
            )
        from storage.postgres_store import PostgresStore

        return PostgresStore(url)
    from storage.tinydb_store import TinyDBStore

    return TinyDBStore(resolve_data_dir(data_dir))


__all__ = ["StorageError", "Store", "default_data_dir", "open_store", "resolve_data_dir"]
