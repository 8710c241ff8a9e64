"""The console at `/`: static files (ojin_local/console/) making a page that is a client of this
API like any other, with an API key, through /v1 and the documented /_ojin/ routes.

The page holds no key of its own. While the development key is active and the request comes
over loopback, the served page carries that key (in a meta tag the script reads), so a laptop
needs no login; anywhere else it asks for one. Its Content-Security-Policy allows this origin
only, plus the origin of the storage's pre-signed URLs where those lead elsewhere (S3).
"""

from __future__ import annotations

import ipaddress
from importlib import resources
from urllib.parse import urlsplit

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, html, json

from ojin_local.config import DEV_KEY
from ojin_local.errors import NotFound
from ojin_local.http.context import principal, services
from ojin_local.http.edge import Input
from ojin_local.http.endpoint import endpoint
from ojin_local.spec import fields

bp = Blueprint("console")

CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
_FOLDER = resources.files("ojin_local").joinpath("console")
# The whole console is ~100 KB: read once, served from memory.
FILES = {
    entry.name: (entry.read_bytes(), CONTENT_TYPES[suffix])
    for entry in _FOLDER.iterdir()
    if (suffix := "." + entry.name.rpartition(".")[2]) in CONTENT_TYPES
}
INDEX = _FOLDER.joinpath("index.html").read_text("utf-8")
DEV_KEY_SLOT = '<meta name="ojin-dev-key" content="">'
if INDEX.count(DEV_KEY_SLOT) != 1:
    raise RuntimeError("console/index.html must hold the development key's meta tag once")
PROBE_KEY = "console/csp-origin-probe"


@endpoint(bp, "ojinIndex")
async def index(request: Request, given: Input) -> HTTPResponse:
    page = INDEX
    if services(request).keys.dev_key_active() and _over_loopback(request):
        page = page.replace(DEV_KEY_SLOT, f'<meta name="ojin-dev-key" content="{DEV_KEY}">')
    # no-store: the page may carry the development key, which stops working once a key exists.
    return html(page, headers={**_policy(request), "Cache-Control": "no-store"})


@endpoint(bp, "ojinConsoleFile")
async def console_file(request: Request, given: Input) -> HTTPResponse:
    name = given.path["name"]
    if name not in FILES:
        raise NotFound(f"The console has no file named {name!r}.")
    body, content_type = FILES[name]
    headers = {**_policy(request), "Cache-Control": "no-cache"}
    return HTTPResponse(body, content_type=content_type, headers=headers)


WHOAMI_FIELDS = fields("OjinWhoAmI")


@endpoint(bp, "ojinWhoAmI")
async def whoami(request: Request, given: Input) -> HTTPResponse:
    caller = principal(request)
    return json({name: getattr(caller, name) for name in WHOAMI_FIELDS})


def _over_loopback(request: Request) -> bool:
    """The peer's own address (no forwarding header is trusted)."""
    try:
        address = ipaddress.ip_address(request.ip)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def _policy(request: Request) -> dict[str, str]:
    storage = _storage_origin(request)
    own = f"{request.scheme}://{request.host}"
    extra = f" {storage}" if storage != own else ""
    return {
        "Content-Security-Policy": (
            "default-src 'self'; script-src 'self'; style-src 'self'; "
            f"img-src 'self'{extra}; media-src 'self'{extra}; connect-src 'self'{extra}; "
            "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        )
    }


def _storage_origin(request: Request) -> str:
    """Where the storage's pre-signed URLs lead, read from one the storage signs (S3 or this
    server's public URL), so no rule of the backends is repeated here. Signing sends nothing."""
    ctx = request.app.ctx
    if not hasattr(ctx, "storage_origin"):
        url = urlsplit(
            services(request).storage.presign_get_object(
                PROBE_KEY, "probe", "application/octet-stream", 60
            )
        )
        ctx.storage_origin = f"{url.scheme}://{url.netloc}"
    return ctx.storage_origin
