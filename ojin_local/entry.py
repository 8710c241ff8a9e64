"""The `ojin-local` command's entry point: the installed script, `python -m ojin_local` and the
single binary all start here."""

import sys


def main() -> None:
    # peewee imports a Postgres driver whenever one is installed (the postgres extra): ~150 ms,
    # half of a start, for SQLite too. Kept out until a database URL asks for Postgres, which
    # then hands it to peewee (db/postgres.py). Only in this process: a program that imports
    # ojin_local for its client or pytest plugin keeps its own imports.
    for driver in ("psycopg", "psycopg2"):
        sys.modules.setdefault(driver, None)
    from ojin_local.cli import main as cli_main

    cli_main()
