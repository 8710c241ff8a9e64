"""`ojin-local proxy` and `ojin-local replay`: how far is an API from the seed spec, and from a
recording of another."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ojin_local import __version__
from ojin_local.config import LOG_LEVELS

DEFAULT_PORT = 8090
DEFAULT_TIMEOUT = 30.0
DEFAULT_BODY_CAP = 256 * 1024


@click.command()
@click.option(
    "--upstream",
    required=True,
    help="The API base to forward /v1 to, e.g. https://api.ojin.ai/v1.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port (0 picks a free one).",
)
@click.option(
    "--record",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write every exchange to this HAR 1.2 file (keys and URL signatures removed).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(0.1),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="Seconds to wait for the upstream (connect, each read and write); then 504.",
)
@click.option(
    "--body-cap",
    type=click.IntRange(0),
    default=DEFAULT_BODY_CAP,
    show_default=True,
    help="Bodies larger than this are recorded by size and MD5 only.",
)
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS),
    default="info",
    show_default=True,
)
def proxy(
    upstream: str,
    host: str,
    port: int,
    record: Path | None,
    timeout: float,
    body_cap: int,
    log_level: str,
) -> None:
    """Forward /v1 to UPSTREAM and check every exchange against the seed spec.

    Violations go to the log, to GET /_ojin/drift on the proxy and to a summary printed at
    exit. Pre-signed URLs in the answers still lead to the upstream's storage.
    """
    from ojin_local.cli import bind
    from ojin_local.logs import setup_logging
    from ojin_local.proxy.app import ProxySettings, run_proxy

    if not upstream.startswith(("http://", "https://")):
        raise click.BadParameter("must be an http:// or https:// URL", param_hint="--upstream")
    setup_logging(log_level)
    listener = bind(host, port)
    bound = listener.getsockname()[1]
    settings = ProxySettings(upstream.rstrip("/"), timeout, record, body_cap)

    def announce() -> None:
        click.echo(
            f"ojin-local {__version__} proxy at http://{host}:{bound}/v1 forwarding to "
            f"{settings.upstream}"
        )
        click.echo(f"  drift:     http://{host}:{bound}/_ojin/drift")
        if record is not None:
            click.echo(f"  recording: {record}")

    run_proxy(settings, listener, announce, click.echo)


@click.command()
@click.argument("recording", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--against",
    required=True,
    help="The API base to replay to, e.g. http://127.0.0.1:8080/v1.",
)
@click.option(
    "--api-key",
    envvar="OJIN_API_KEY",
    help="Sent where the recording had its key removed (default: $OJIN_API_KEY).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (for CI).")
@click.option(
    "--poll-timeout",
    type=click.FloatRange(0),
    default=60.0,
    show_default=True,
    help="How long a recorded poll may be repeated until the target catches up.",
)
def replay(
    recording: Path, against: str, api_key: str | None, as_json: bool, poll_timeout: float
) -> None:
    """Send RECORDING's requests to another API in order and report where its answers differ.

    Exit status 1 when any exchange differs, 0 when none does.
    """
    from ojin_local.proxy.replay import RecordingError, replay_file

    try:
        report = replay_file(recording, against.rstrip("/"), api_key, poll_timeout)
    except RecordingError as exc:
        click.echo(f"ojin-local: error: {exc}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2))
    else:
        click.echo(report.as_text())
    sys.exit(1 if report.differences else 0)
