"""Commands against a running server: `ojin-local assets|configs|generate|jobs|state ...`, and
what every such command shares (cli_admin.py holds the test tools).

They take the server's URL (`--url` or OJIN_BASE_URL, with or without `/v1`; default the local
server) and a key (`--api-key` or OJIN_API_KEY; with neither, a loopback URL gets the
development key), so the same commands work against ojin-local and `https://api.ojin.ai/v1`.
Lists print a table (`--json` for the answer itself); answers and tables go to stdout, progress
and status to stderr. Errors print one message (the server's code and message, then its
`details`) and exit 1, never a traceback.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import click

from ojin_local import spec
from ojin_local.config import DEV_KEY, ServerConfig
from ojin_local.domain.common import CATEGORIES, JOB_STATUSES

if TYPE_CHECKING:  # imported when a command runs: `serve` need not load httpx
    from ojin_local.client import OjinApiError, OjinClient

DEFAULT_URL = f"http://{ServerConfig.host}:{ServerConfig.port}"
"""Where `ojin-local serve` listens when nothing says otherwise."""
TEMPLATE = spec.schema("IdleVideoGenerationRequest")["properties"]["reference_template"]
"""The generator's motion templates and the one used when none is named, as the spec says."""
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".ckpt", ".onnx", ".gguf")
"""Model weight formats; their MIME types tell nothing, so they are known by name."""
KEY_HELP = "with --api-key or OJIN_API_KEY"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def remote_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option(
        "--api-key",
        envvar="OJIN_API_KEY",
        help="X-API-Key to send [env OJIN_API_KEY; default: the development key, for a "
        "loopback --url].",
    )(fn)
    return click.option(
        "--url",
        envvar="OJIN_BASE_URL",
        default=DEFAULT_URL,
        show_default=True,
        help="The server's URL, with or without /v1 [env OJIN_BASE_URL].",
    )(fn)


@dataclass(frozen=True)
class Remote:
    """Where a command talks, and where its key came from (for the hint a 401 gives)."""

    url: str
    api_key: str | None
    dev_key_assumed: bool

    @classmethod
    def of(cls, url: str, api_key: str | None) -> Remote:
        from ojin_local.client import api_base_url

        base = api_base_url(url)
        if api_key:
            return cls(base, api_key, False)
        try:
            host = urlsplit(base).hostname or ""
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--url") from exc
        assumed = is_loopback(host)
        return cls(base, DEV_KEY if assumed else None, assumed)

    def refused(self) -> str:
        if self.dev_key_assumed:
            return (
                "no key was given, so the development key was sent, and this server does not "
                f"take it (it has keys of its own): pass one {KEY_HELP}"
            )
        if self.api_key is None:
            return f"no key was given: pass one {KEY_HELP}"
        return f"the server does not take the key given: pass another {KEY_HELP}"


def connected(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn --url/--api-key into an `OjinClient` argument, and failures into one message."""

    @remote_options
    @functools.wraps(fn)
    def command(url: str, api_key: str | None, **kwargs: Any) -> None:
        from ojin_local.client import OjinClient

        remote = Remote.of(url, api_key)
        with talking_to(remote), OjinClient(remote.url, remote.api_key, timeout=300) as client:
            fn(client, **kwargs)

    return command


@contextmanager
def talking_to(remote: Remote) -> Iterator[None]:
    import httpx

    from ojin_local.client import OjinApiError

    try:
        yield
    except OjinApiError as exc:
        raise click.ClickException(error_text(exc, remote)) from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        reason = str(exc) or type(exc).__name__
        raise click.ClickException(f"cannot talk to {remote.url}: {reason}") from exc
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and let nothing more reach the pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise click.exceptions.Exit(1) from None
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        raise click.ClickException(f"{where}{exc.strerror or exc}") from exc


def error_text(exc: OjinApiError, remote: Remote) -> str:
    lines = [f"{exc.status} {exc.code}: {exc.message}", *detail_lines(exc.details)]
    if exc.status == 401:
        lines.append(remote.refused())
    return "\n".join(lines)


def detail_lines(details: Any) -> list[str]:
    """An ErrorResponse's `details`, one line each: every field `errors` names, then the rest."""
    if not isinstance(details, dict):
        return []
    lines = []
    for key, value in details.items():
        if key == "errors" and isinstance(value, list):
            for error in value:
                if isinstance(error, dict) and "field" in error:
                    lines.append(f"  {error['field']}: {error.get('message', '')}")
                else:
                    lines.append(f"  {error}")
        else:
            shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            lines.append(f"  {key}: {shown}")
    return lines


def note(message: str) -> None:
    """On stderr, so stdout stays the answer alone (for `| jq`)."""
    click.echo(message, err=True)


def progress(length: int, label: str) -> Any:
    """On stderr, as `note`."""
    return click.progressbar(length=length, label=label, file=click.get_text_stream("stderr"))


def show(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def table(rows: list[dict[str, Any]], columns: tuple[str, ...], total: int | None) -> None:
    widths = {c: max([len(c), *(len(str(r.get(c, ""))) for r in rows)]) for c in columns}
    click.echo("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        click.echo("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns).rstrip())
    if total is not None and total > len(rows):
        click.echo(f"({len(rows)} of {total}; use --limit and --offset for more)")


def listing(answer: dict[str, Any], columns: tuple[str, ...], as_json: bool) -> None:
    if as_json:
        show(answer)
    else:
        table(answer["data"], columns, answer["pagination"]["total_items"])


page_options = [
    click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True),
    click.option("--offset", type=click.IntRange(0), default=0, show_default=True),
    click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON."),
]


def paged(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(page_options):
        fn = option(fn)
    return fn


# Assets


@click.group()
def assets() -> None:
    """Upload, list, download and delete assets."""


@assets.command("upload")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--category",
    type=click.Choice(CATEGORIES),
    help="Default: from the file's type (images, videos, audio; weights by their suffix: "
    f"{', '.join(WEIGHT_SUFFIXES)}).",
)
@click.option("--name", help="Default: the file's name.")
@click.option("--part-size-mib", type=click.IntRange(5, 5120), default=8, show_default=True)
@click.option("--concurrency", type=click.IntRange(1, 32), default=4, show_default=True)
@connected
def assets_upload(
    client: OjinClient,
    file: Path,
    category: str | None,
    name: str | None,
    part_size_mib: int,
    concurrency: int,
) -> None:
    """Upload FILE in parts through pre-signed URLs, as the real service's clients do."""
    category = category or category_of(file)
    if category is None:
        raise click.UsageError(
            f"cannot tell what {file.name} is: pass --category ({', '.join(CATEGORIES)})"
        )
    with progress(file.stat().st_size, f"uploading {file.name}") as bar:
        asset = client.upload_file(
            file,
            category,
            name=name,
            part_size=part_size_mib * 1024 * 1024,
            concurrency=concurrency,
            progress=bar.update,
        )
    show(asset)


def category_of(file: Path) -> str | None:
    import mimetypes

    if file.suffix.lower() in WEIGHT_SUFFIXES:
        return "weight"
    kind = (mimetypes.guess_type(file.name)[0] or "").split("/")[0]
    return kind if kind in CATEGORIES else None


@assets.command("list")
@click.option("--source", type=click.Choice(["org", "template"]), default="org")
@click.option("--category", type=click.Choice(CATEGORIES))
@click.option("--name", help="Case-insensitive substring of the name.")
@paged
@connected
def assets_list(client: OjinClient, as_json: bool, **query: Any) -> None:
    """List the organization's assets (or the templates), newest first."""
    answer = client.list_assets(**query)
    listing(answer, ("asset_id", "name", "category", "size_bytes", "created_at"), as_json)


@assets.command("download")
@click.argument("asset_id")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Default: its name."
)
@click.option("--force", is_flag=True, help="Overwrite the file if it exists.")
@connected
def assets_download(client: OjinClient, asset_id: str, output: Path | None, force: bool) -> None:
    """Download an asset's bytes through its pre-signed URL (to a new file unless --force)."""
    if output is not None:
        check_target(output, force)
    asset = client.get_asset(asset_id)
    target = output or Path(Path(asset["name"]).name)
    check_target(target, force)
    with progress(asset["size_bytes"], f"downloading {target}") as bar:
        client.download_asset(asset_id, target, progress=bar.update)
    click.echo(f"saved {asset['size_bytes']} bytes to {target}")


def check_target(target: Path, force: bool) -> None:
    if not target.parent.is_dir():
        raise click.ClickException(f"{target.parent} is not a directory")
    if target.exists() and not force:
        raise click.ClickException(f"{target} exists (--force overwrites it)")


@assets.command("delete")
@click.argument("asset_id")
@connected
def assets_delete(client: OjinClient, asset_id: str) -> None:
    """Delete an asset of your organization."""
    client.delete_asset(asset_id)
    click.echo(f"deleted {asset_id}")


# Model configurations


@click.group()
def configs() -> None:
    """List and create model configurations."""


@configs.command("list")
@click.option("--source", type=click.Choice(["org", "template"]), default="org")
@click.option("--variant", "model_variant_id", help="Only this model variant's.")
@paged
@connected
def configs_list(client: OjinClient, as_json: bool, **query: Any) -> None:
    """List model configurations."""
    answer = client.list_model_configs(**query)
    listing(answer, ("model_config_id", "title", "model_variant_id", "created_at"), as_json)


@configs.command("create")
@click.option("--title", required=True)
@click.option("--variant", "model_variant_id", required=True, help="e.g. ojin/oris-1.0/standard")
@click.option(
    "--configurations", default="{}", show_default=True, help="model_configurations as JSON."
)
@connected
def configs_create(
    client: OjinClient, title: str, model_variant_id: str, configurations: str
) -> None:
    """Create a model configuration."""
    try:
        values = json.loads(configurations)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--configurations") from exc
    show(client.create_model_config(title, model_variant_id, values))


# Jobs


@click.group()
def generate() -> None:
    """Start generation jobs."""


@generate.command("idle-video")
@click.argument("asset_id")
@click.option(
    "--template",
    type=click.Choice(TEMPLATE["enum"]),
    default=TEMPLATE["default"],
    show_default=True,
)
@click.option(
    "--wait", is_flag=True, help="Poll until the job ends (status on stderr); exit 1 if it failed."
)
@click.option("--timeout", type=float, default=300, show_default=True, help="Seconds, with --wait.")
@connected
def generate_idle_video(
    client: OjinClient, asset_id: str, template: str, wait: bool, timeout: float
) -> None:
    """Make an idle video from an image asset; prints the job (its id alone unless --wait)."""
    job = client.generate_idle_video(asset_id, template)
    if wait:
        wait_for(client, job["job_id"], timeout)
    else:
        show(job)


def wait_for(client: OjinClient, job_id: str, timeout: float) -> None:
    """Show the job's id, then each status it reaches, on stderr; the ended job on stdout."""
    note(f"job {job_id}")
    seen: list[str] = []

    def on_poll(job: dict[str, Any]) -> None:
        if not seen or seen[-1] != job["status"]:
            seen.append(job["status"])
            note(f"  {job['status']}")

    try:
        job = client.wait_for_job(job_id, timeout=timeout, on_poll=on_poll)
    except TimeoutError:
        raise click.ClickException(
            f"job {job_id} is still {seen[-1]} after {timeout:g} s; it goes on "
            f"(`ojin-local jobs wait {job_id}` waits again)"
        ) from None
    except KeyboardInterrupt:
        note(f"stopped waiting; job {job_id} goes on (`ojin-local jobs show {job_id}`)")
        raise click.exceptions.Exit(130) from None
    show(job)
    if job["status"] == "failed":
        error = job["error"] or {}
        raise click.ClickException(
            f"job {job_id} failed: {error.get('code')}: {error.get('message')}"
        )


@click.group()
def jobs() -> None:
    """Look at jobs."""


@jobs.command("show")
@click.argument("job_id")
@connected
def jobs_show(client: OjinClient, job_id: str) -> None:
    """Show a job."""
    show(client.get_job(job_id))


@jobs.command("wait")
@click.argument("job_id")
@click.option("--timeout", type=float, default=300, show_default=True, help="Seconds.")
@connected
def jobs_wait(client: OjinClient, job_id: str, timeout: float) -> None:
    """Poll a job until it ends (status on stderr); exit 1 if it failed."""
    wait_for(client, job_id, timeout)


@jobs.command("list")
@click.option("--status", type=click.Choice(JOB_STATUSES))
@paged
@connected
def jobs_list(client: OjinClient, as_json: bool, status: str | None, **page: Any) -> None:
    """List the organization's jobs, newest first."""
    answer = client.list_jobs(status=status, **page)
    listing(answer, ("job_id", "status", "type", "created_at"), as_json)


# State (an admin key)


@click.group()
def state() -> None:
    """Save or replace a server's whole state (an admin key)."""


@state.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@connected
def state_export(client: OjinClient, file: Path) -> None:
    """Save the whole state (database and objects) to FILE, a gzipped tar archive."""
    check_target(file, force=True)
    with progress(0, f"exporting to {file}") as bar:
        client.export_state(file, progress=bar.update)
    click.echo(f"saved {file.stat().st_size} bytes to {file}")


@state.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@connected
def state_import(client: OjinClient, file: Path) -> None:
    """Replace the server's whole state with FILE (from `state export`)."""
    with progress(file.stat().st_size, f"importing {file}") as bar:
        answer = client.import_state(file, progress=bar.update)
    show(answer)


REMOTE_GROUPS = (assets, configs, generate, jobs, state)
