"""SQLite through Peewee: the schema, its migrations, and the one-writer access pattern."""

from ojin_local.db.database import Database, DatabaseTooNew

__all__ = ["Database", "DatabaseTooNew"]
