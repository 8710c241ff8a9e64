"""SQLite or Postgres through Peewee: the schema, its migrations, and how writes are run."""

from ojin_local.db.database import Database, DatabaseTooNew, open_database

__all__ = ["Database", "DatabaseTooNew", "open_database"]
