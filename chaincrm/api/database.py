"""The integration database: API keys, idempotency records (and the webhooks' tables), apart from
the index, which the indexer may rebuild at any time.

A SQLAlchemy URL or a SQLite file path; None is ``<home>/integration.sqlite``. It is opened like
the index (:func:`chaincrm.index.database.open_database`: SQLite in WAL mode, our own BEGIN), and
each module that keeps rows in it declares its tables in its own MetaData and creates them on open.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, MetaData
from sqlalchemy.engine import URL

from chaincrm.index.database import database_errors, database_url, open_database

INTEGRATION_DATABASE_ENV = "CHAINCRM_INTEGRATION_DATABASE"
INTEGRATION_FILE_NAME = "integration.sqlite"


def integration_url(database: str | Path | None, home: Path) -> URL:
    if database is None:
        return URL.create("sqlite", database=str(home / INTEGRATION_FILE_NAME))
    return database_url(database, home)


def open_integration(database: str | Path | None, home: Path, *tables: MetaData) -> Engine:
    """An Engine on the integration database, with the tables of each MetaData in `tables` created
    when missing (a SQLite file is created with its folder)."""
    url = integration_url(database, home)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(str(url.database)).parent.mkdir(parents=True, exist_ok=True)
    engine = open_database(url)
    with database_errors(engine), engine.begin() as conn:
        for metadata in tables:
            metadata.create_all(conn)
    return engine


__all__ = ["INTEGRATION_DATABASE_ENV", "INTEGRATION_FILE_NAME", "integration_url", "open_integration"]
