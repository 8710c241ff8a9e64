"""SQLite or Postgres through Peewee: the schema, its migrations, and how writes are run."""

from ojin_local.db.database import Database, DatabaseTooNew, DatabaseUnusable, open_database

__all__ = ["Database", "DatabaseTooNew", "DatabaseUnusable", "open_database"]
