"""The `ojin-local` command. With no sub-command it serves, as Datasette's does."""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ojin_local import __version__, version_text
from ojin_local.cli_admin import ADMIN_COMMANDS
from ojin_local.cli_remote import REMOTE_GROUPS, is_loopback
from ojin_local.config import (
    DEV_KEY,
    DEV_ORGANIZATION,
    DEV_USER,
    LOG_LEVELS,
    Config,
    ConfigError,
    as_masked_dict,
    load_config,
    mask_url,
    with_public_url,
)
from ojin_local.db import DatabaseUnusable, open_database
from ojin_local.domain import auth
from ojin_local.domain.gc import ORPHAN_GRACE, collect_garbage
from ojin_local.errors import ApiError
from ojin_local.logs import setup_logging
from ojin_local.proxy.cli import proxy, replay

if TYPE_CHECKING:
    from ojin_local.services import Services


class DefaultToServe(click.Group):
    """`ojin-local --port 9000` means `ojin-local serve --port 9000`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        first = args[0] if args else None
        if first not in self.commands and first not in ("--help", "-h", "--version"):
            args = ["serve", *args]
        return super().parse_args(ctx, args)


def fail(message: str, code: int) -> None:
    click.echo(f"ojin-local: error: {message}", err=True)
    sys.exit(code)


def config_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Where the database and objects live (default: the platform's user data dir).",
    )(fn)
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        help="A TOML config file (see config.example.toml).",
    )(fn)


def read_config(config_path: Path | None, **flags: Any) -> Config:
    """The effective config, or exit 2 with one line naming the bad key and its source."""
    try:
        return load_config(config_path, overrides=flags)
    except ConfigError as exc:
        fail(str(exc), 2)
        raise AssertionError("unreachable") from exc


@click.group(cls=DefaultToServe, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version_text(), prog_name="ojin-local", message="%(prog)s %(version)s")
def cli() -> None:
    """A self-hosted, offline stand-in for the Ojin REST API."""


@cli.command()
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port (default 8080; 0 picks one).")
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS),
    help="Log verbosity (default info).",
)
@click.option(
    "--no-jobs",
    is_flag=True,
    help="Do not run jobs here; `ojin-local worker` runs them against the same queue.",
)
@click.option(
    "--processes",
    type=click.IntRange(1),
    help="API processes on the port (default 1; more need Postgres and Redis).",
)
@click.option("--listen-fd", type=int, hidden=True)  # an API process of `--processes`
@click.option("--supervised", type=click.Path(path_type=Path), hidden=True)  # its status file
@click.option(
    "--ephemeral",
    is_flag=True,
    help="Keep data in a new temporary directory, removed on exit (instead of --data-dir).",
)
@click.option(
    "--ready-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Once serving, write the API's base URL (…/v1) to this file; removed on exit.",
)
@click.option(
    "--import",
    "import_from",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Start from this snapshot (from `state export` or --export-on-exit).",
)
@click.option(
    "--export-on-exit",
    type=click.Path(dir_okay=False, path_type=Path),
    help="On SIGINT/SIGTERM, save the whole state to this snapshot before stopping.",
)
@config_options
def serve(
    config_path: Path | None,
    data_dir: Path | None,
    host: str | None,
    port: int | None,
    log_level: str | None,
    no_jobs: bool,
    processes: int | None,
    listen_fd: int | None,
    supervised: Path | None,
    ephemeral: bool,
    ready_file: Path | None,
    import_from: Path | None,
    export_on_exit: Path | None,
) -> None:
    """Serve the API, and run jobs in the same process (the default command).

    For test runners in any language: `ojin-local serve --ephemeral --port 0 --ready-file F`
    starts on a free port with throw-away data, and F appears (atomically) once it answers.
    """
    if ephemeral and data_dir is not None:
        fail("--ephemeral and --data-dir cannot be used together", 2)
    scratch = Path(tempfile.mkdtemp(prefix="ojin-local-")) if ephemeral else None
    try:
        options = ServeOptions(
            no_jobs, ready_file, import_from, export_on_exit, config_path, listen_fd, supervised
        )
        _serve(scratch or data_dir, host, port, log_level, processes, options)
    finally:
        if ready_file is not None:
            ready_file.unlink(missing_ok=True)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


@dataclass(frozen=True)
class ServeOptions:
    no_jobs: bool
    ready_file: Path | None
    import_from: Path | None
    export_on_exit: Path | None
    config_path: Path | None
    listen_fd: int | None  # set: an API process of a supervisor (see supervisor.py)
    supervised: Path | None  # and its status file


def _serve(
    data_dir: Path | None,
    host: str | None,
    port: int | None,
    log_level: str | None,
    processes: int | None,
    options: ServeOptions,
) -> None:
    config = read_config(
        options.config_path,
        **{
            "server.host": host,
            "server.port": port,
            "server.data_dir": str(data_dir) if data_dir else None,
            "server.log_level": log_level,
            "server.processes": processes,
        },
    )
    setup_logging(config.server.log_level)
    if options.listen_fd is not None:
        listener = socket.socket(fileno=options.listen_fd)
    else:
        listener = bind(config.server.host, config.server.port)
    config = with_public_url(config, config.server.host, listener.getsockname()[1])
    if config.server.processes > 1 and options.listen_fd is None:
        _supervise(config, listener, options)
        return
    services = open_or_exit(config, fresh_start=options.listen_fd is None)
    if options.import_from is not None:
        import_or_exit(services, options.import_from)
    from ojin_local.server import run

    def ready(config: Config, dev_key_active: bool) -> None:
        if options.listen_fd is None:
            announce(config, dev_key_active)
        else:
            click.echo(f"API process {os.getpid()} serving")
        if options.ready_file is not None:
            write_atomically(options.ready_file, f"{config.server.public_url}/v1\n")

    if options.supervised is not None:
        from ojin_local.supervisor import watch_supervisor

        services.supervisor_status = options.supervised
        watch_supervisor()
    export = options.export_on_exit
    run(
        services,
        listener,
        ready,
        with_jobs=not options.no_jobs and config.server.processes == 1,
        before_close=(lambda services: export_to(services, export)) if export else None,
    )


def _supervise(config: Config, listener: socket.socket, options: ServeOptions) -> None:
    """Open the database once (migrations, the seed, an import), then run the API processes."""
    from ojin_local.supervisor import Supervisor, own_command

    services = open_or_exit(config, fresh_start=True)
    try:
        if options.import_from is not None:
            import_or_exit(services, options.import_from)
        dev_key_active = services.keys.dev_key_active()
    finally:
        services.close()
    server = config.server
    argv = [
        *own_command(),
        "serve",
        *(["--config", str(options.config_path)] if options.config_path else []),
        "--data-dir", server.data_dir,
        "--host", server.host,
        "--port", str(listener.getsockname()[1]),
        "--log-level", server.log_level,
        "--processes", str(server.processes),
        "--no-jobs",
    ]  # fmt: skip

    def ready() -> None:
        announce(config, dev_key_active)
        if options.ready_file is not None:
            write_atomically(options.ready_file, f"{server.public_url}/v1\n")

    Supervisor(argv, listener, server.processes).run(ready)
    if options.export_on_exit is not None:
        services = open_or_exit(config)
        try:
            export_to(services, options.export_on_exit)
        finally:
            services.close()


def import_or_exit(services: Services, archive: Path) -> None:
    try:
        manifest = services.import_state(archive)
    except ApiError as exc:
        services.close()
        fail(f"cannot import {archive}: {exc.message}", 1)
    click.echo(f"imported {archive} (made {manifest.get('created_at')})")


def export_to(services: Services, target: Path) -> None:
    temp = target.with_name(f".{target.name}.tmp")
    services.export_state(temp)
    os.replace(temp, target)
    click.echo(f"saved the state to {target}")


def write_atomically(path: Path, text: str) -> None:
    """A reader polling for the file never sees it half-written."""
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text)
    os.replace(temp, path)


def bind(host: str, port: int) -> socket.socket:
    """Bind before anything else, so port 0 resolves and the URL can be printed exactly."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}", 1)
    sock.set_inheritable(True)
    return sock


def open_or_exit(config: Config, fresh_start: bool = False) -> Services:
    """`fresh_start`: this command starts the server, not one of its API processes."""
    # Imported here so that `--version`, `config show` and `keys` need not import Sanic.
    from ojin_local.services import open_services

    try:
        return open_services(config, fresh_start)
    except DatabaseUnusable as exc:
        fail(str(exc), 1)
    except ConfigError as exc:
        fail(str(exc), 2)
    raise AssertionError("unreachable")


def announce(config: Config, dev_key_active: bool) -> None:
    lines = [
        f"ojin-local {__version__} serving the Ojin API at {config.server.public_url}/v1",
        f"  data dir:  {config.server.data_dir}",
        f"  database:  {mask_url(config.database.url) or 'SQLite, in the data dir'}",
        f"  storage:   {config.storage.backend}",
        *(
            [f"  processes: {config.server.processes} API processes; `ojin-local worker` runs jobs"]
            if config.server.processes > 1
            else []
        ),
        f"  console:   {config.server.public_url}/",
        f"  docs:      {config.server.public_url}/docs",
    ]
    if dev_key_active:
        lines.append(
            f"  dev key:   X-API-Key: {DEV_KEY}  (organization {DEV_ORGANIZATION}, "
            f"user {DEV_USER}, admin)"
        )
        if not is_loopback(config.server.host):
            lines.append(
                f"  WARNING: the development key is active and {config.server.host} is not a "
                "loopback address: anyone who can reach this port has admin access. "
                "Configure [[api_keys]] or run `ojin-local keys create`."
            )
    click.echo("\n".join(lines), err=False)


@cli.group(name="config")
def config_group() -> None:
    """Inspect the configuration."""


@config_group.command("show")
@config_options
def config_show(config_path: Path | None, data_dir: Path | None) -> None:
    """Print the effective configuration (file, environment and flags applied; secrets masked,
    API keys shown by a prefix of their SHA-256, which `printf %s KEY | sha256sum` gives)."""
    import tomli_w

    config = read_config(config_path, **{"server.data_dir": str(data_dir) if data_dir else None})
    shown = as_masked_dict(config, lambda key: f"sha256:{auth.hash_key(key)[:12]}…")
    click.echo(tomli_w.dumps(shown), nl=False)


@cli.group()
def keys() -> None:
    """Manage API keys stored in the data dir (only their hashes are kept)."""


def with_database(config_path: Path | None, data_dir: Path | None, fn: Callable[..., Any]) -> Any:
    config = read_config(config_path, **{"server.data_dir": str(data_dir) if data_dir else None})
    try:
        db = open_database(config)
    except DatabaseUnusable as exc:
        fail(str(exc), 1)
    try:
        return db.write_sync(fn)
    except ApiError as exc:
        fail(exc.message, 1)
    finally:
        db.close()


@keys.command("create")
@click.option("--org", "organization_id", required=True, help="Organization the key acts for.")
@click.option("--user", "user_id", required=True, help="User id recorded as creator.")
@click.option("--admin", is_flag=True, help="Allow the admin routes under /_ojin/.")
@config_options
def keys_create(
    config_path: Path | None, data_dir: Path | None, organization_id: str, user_id: str, admin: bool
) -> None:
    """Create a key and print it once."""
    record, key = with_database(
        config_path, data_dir, lambda: auth.create_key(organization_id, user_id, admin)
    )
    click.echo(key)
    click.echo(
        f"key id {record['key_id']} for {organization_id}/{user_id}"
        f"{' (admin)' if admin else ''}; store the key now, it is not shown again.",
        err=True,
    )


@keys.command("list")
@config_options
def keys_list(config_path: Path | None, data_dir: Path | None) -> None:
    """List keys made with `keys create` (configured keys live in the config file)."""
    rows = with_database(config_path, data_dir, auth.list_keys)
    click.echo(f"{'KEY ID':<17} {'PREFIX':<14} {'ORGANIZATION':<20} {'USER':<20} ADMIN  STATUS")
    for row in rows:
        status = f"revoked {row['revoked_at']}" if row["revoked_at"] else "active"
        click.echo(
            f"{row['key_id']:<17} {row['prefix'] + '…':<14} {row['organization_id']:<20} "
            f"{row['user_id']:<20} {'yes' if row['admin'] else 'no':<6} {status}"
        )


@keys.command("revoke")
@click.argument("key_id")
@config_options
def keys_revoke(config_path: Path | None, data_dir: Path | None, key_id: str) -> None:
    """Revoke a key by its id; requests with it answer 401 from then on."""
    row = with_database(config_path, data_dir, lambda: auth.revoke_key(key_id))
    click.echo(f"revoked {row['key_id']} ({row['organization_id']}/{row['user_id']})")


@cli.command()
@click.option(
    "--ttl-seconds",
    type=click.IntRange(0),
    help="Abort uploads older than this (default: [storage] upload_session_ttl_seconds).",
)
@click.option(
    "--grace-seconds",
    type=click.IntRange(0),
    default=int(ORPHAN_GRACE.total_seconds()),
    show_default=True,
    help="Leave orphaned objects and temp files younger than this (they may be in use).",
)
@config_options
def gc(
    config_path: Path | None, data_dir: Path | None, ttl_seconds: int | None, grace_seconds: int
) -> None:
    """Abort upload sessions nobody finalized in time, and remove storage nobody owns."""
    from ojin_local.domain.clock import Clock
    from ojin_local.storage import open_storage

    config = read_config(config_path, **{"server.data_dir": str(data_dir) if data_dir else None})
    try:
        db = open_database(config)
    except DatabaseUnusable as exc:
        fail(str(exc), 1)
    try:
        ttl = config.storage.upload_session_ttl_seconds if ttl_seconds is None else ttl_seconds
        grace = timedelta(seconds=grace_seconds)
        click.echo(str(collect_garbage(db, open_storage(config), Clock(), ttl, grace)))
    finally:
        db.close()


@cli.command()
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS),
    help="Log verbosity (default info).",
)
@config_options
def worker(config_path: Path | None, data_dir: Path | None, log_level: str | None) -> None:
    """Run jobs only, for a `serve --no-jobs` on the same data dir (or Redis queue).

    [jobs] workers and worker_type ("thread" or "process") apply. SIGINT or SIGTERM stops it
    after the jobs in flight finish.
    """
    from ojin_local.jobs.consumer import run_standalone
    from ojin_local.jobs.queue import HueyQueue, open_huey
    from ojin_local.jobs.runtime import JobRuntime

    config = read_config(
        config_path,
        **{
            "server.data_dir": str(data_dir) if data_dir else None,
            "server.log_level": log_level,
        },
    )
    setup_logging(config.server.log_level)
    try:
        db = open_database(config)
    except DatabaseUnusable as exc:
        fail(str(exc), 1)
    try:
        try:
            queue = HueyQueue(open_huey(config))
        except ConfigError as exc:
            fail(str(exc), 2)
        runtime = JobRuntime(config, queue, db)
        runtime.recover()
        click.echo(
            f"ojin-local {__version__} running jobs from {config.data_path} "
            f"({config.jobs.workers} {config.jobs.worker_type} worker(s)); Ctrl-C stops"
        )
        run_standalone(queue.huey, config.jobs)
    finally:
        db.close()


for remote_command in (*REMOTE_GROUPS, *ADMIN_COMMANDS):
    cli.add_command(remote_command)
cli.add_command(proxy)
cli.add_command(replay)


def main() -> None:
    cli()
