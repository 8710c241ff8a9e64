"""Test tools against a running server, with an admin key (the development key is one):
`ojin-local requests`, `reset`, `faults`, `namespaces` and `clock`.

Their options come from the served spec where it defines them (the journal's filters, a fault
rule's fields, the clock's bounds), so a field an overlay adds is an option here too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from ojin_local import spec
from ojin_local.cli_remote import connected, note, show, table

if TYPE_CHECKING:
    from ojin_local.client import OjinClient

OPTION_NAMES = {"namespace_id": "namespace", "organization_id": "org"}
"""Fields whose option is spelt shorter than the field (`--namespace ID`, as `keys create`'s
`--org`); every other field's option is its name, dashed."""
JOURNAL_LIMIT = spec.query_parameter("ojinListRequests", "limit")


def spec_option(name: str, schema: dict[str, Any], description: str | None) -> Any:
    """A click option for one field of the spec, typed and bounded as the spec says."""
    schema = spec.resolve(schema)
    flag = "--" + OPTION_NAMES.get(name, name).replace("_", "-")
    text = description or schema.get("description")
    kind = schema.get("type")
    if kind == "boolean":
        return click.option(flag, name, is_flag=True, default=None, help=text)
    ranged = {
        "min": schema.get("minimum"),
        "max": schema.get("maximum"),
        "min_open": bool(schema.get("exclusiveMinimum")),
        "max_open": bool(schema.get("exclusiveMaximum")),
    }
    if kind == "integer":
        chosen: Any = click.IntRange(**ranged)
    elif kind == "number":
        chosen = click.FloatRange(**ranged)
    elif "enum" in schema:
        chosen = click.Choice(schema["enum"])
    else:
        chosen = str
    return click.option(flag, name, type=chosen, help=text)


def with_options(options: list[Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def apply(fn: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return apply


def given(values: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


# The request journal

JOURNAL_FILTERS = [
    spec_option(
        p["name"], p["schema"], p.get("description") or f"Only requests of this {p['name']}."
    )
    for p in spec.operations()["ojinListRequests"].parameters
    if p["in"] == "query" and p["name"] != "limit"
]


@click.command("requests")
@click.argument("request_id", required=False)
@with_options(JOURNAL_FILTERS)
@click.option(
    "--limit",
    type=click.IntRange(JOURNAL_LIMIT["minimum"], JOURNAL_LIMIT["maximum"]),
    default=20,
    show_default=True,
    help="How many of the latest entries to print first.",
)
@click.option("-f", "--follow", is_flag=True, help="Then print new entries as they come, until "
              "Ctrl-C.")  # fmt: skip
@click.option(
    "--interval", type=click.FloatRange(0.05), default=0.5, show_default=True,
    help="Seconds between polls, with --follow.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Each entry as one line of JSON.")
@connected
def requests_command(
    client: OjinClient,
    request_id: str | None,
    limit: int,
    follow: bool,
    interval: float,
    as_json: bool,
    **filters: Any,
) -> None:
    """The request journal, one line per request, oldest first (the latest --limit of them);
    with REQUEST_ID, that one entry whole (headers and bodies) as JSON.

    /v1 and storage requests are journaled, the /_ojin routes are not.
    """
    if request_id is not None:
        show(client.get_request(request_id))
        return
    query = given(filters)
    latest = client.list_requests(limit=JOURNAL_LIMIT["maximum"] if follow else limit, **query)
    print_entries(latest[:limit], as_json)
    if not follow:
        return
    try:
        while True:
            time.sleep(interval)
            seen = {entry_key(e) for e in latest}
            latest = client.list_requests(limit=JOURNAL_LIMIT["maximum"], **query)
            print_entries([e for e in latest if entry_key(e) not in seen], as_json)
    except KeyboardInterrupt:
        return  # Ctrl-C is how --follow ends


def entry_key(entry: dict[str, Any]) -> tuple[str, str]:
    """Which entry this is: a client may send the same X-Request-Id twice, not at one time."""
    return entry["request_id"], entry["time"]


def print_entries(newest_first: list[dict[str, Any]], as_json: bool) -> None:
    for entry in reversed(newest_first):
        click.echo(json.dumps(entry, ensure_ascii=False) if as_json else entry_line(entry))


def entry_line(entry: dict[str, Any]) -> str:
    query = entry.get("query")
    target = f"{entry['path']}?{query}" if query else entry["path"]
    return (
        f"{entry['time']}  {entry['method']:<6} {entry['status']}  {target}  "
        f"{entry['duration_ms']:.1f} ms  {entry.get('organization_id') or '-'}  "
        f"{entry['request_id']}"
    )


# Reset


@click.command("reset")
@click.option("-y", "--yes", is_flag=True, help="Do not ask first.")
@connected
def reset_command(client: OjinClient, yes: bool) -> None:
    """Empty the whole server, back to its seed state: records, objects, jobs, fault rules and
    the journal go; API keys stay. (`namespaces reset` empties one namespace.)"""
    if not yes:
        click.confirm(
            f"Reset {client.local}? Every record, object and job on it goes", abort=True, err=True
        )
    client.reset()
    note(f"reset {client.local}")


# Fault rules

FAULT_FIELDS = [
    spec_option(name, schema, None)
    for name, schema in spec.schema("OjinFaultRule")["properties"].items()
    if not schema.get("readOnly")
]


@click.group()
def faults() -> None:
    """Make /v1 requests fail on purpose: an error status, latency, a dropped connection."""


@faults.command("add")
@with_options(FAULT_FIELDS)
@connected
def faults_add(client: OjinClient, **fields: Any) -> None:
    """Add a fault rule: what to match (--operation-id, or --method and/or --path), then what
    to do (--status, --latency-ms or --drop-connection). Prints the rule."""
    show(client.add_fault(**given(fields)))


@faults.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
@connected
def faults_list(client: OjinClient, as_json: bool) -> None:
    """List the fault rules, oldest first."""
    rules = client.list_faults()
    if as_json:
        show({"data": rules})
        return
    rows = [
        {
            "fault_id": rule["fault_id"],
            "match": rule_match(rule),
            "fault": rule_fault(rule),
            "times": "always" if rule.get("times") is None else rule["times"],
            "hits": rule["hits"],
        }
        for rule in rules
    ]
    table(rows, ("fault_id", "match", "fault", "times", "hits"), None)


def rule_match(rule: dict[str, Any]) -> str:
    parts = [rule.get("operation_id"), rule.get("method"), rule.get("path")]
    if rule.get("namespace_id"):
        parts.append(f"(namespace {rule['namespace_id']})")
    return " ".join(p for p in parts if p)


def rule_fault(rule: dict[str, Any]) -> str:
    parts = []
    if rule.get("latency_ms"):
        parts.append(f"wait {rule['latency_ms']} ms")
    if rule.get("drop_connection"):
        parts.append("drop the connection")
    elif rule.get("status"):
        parts.append(f"{rule['status']} {rule.get('code') or ''}".rstrip())
    if rule.get("probability") not in (None, 1):
        parts.append(f"p={rule['probability']:g}")
    return ", ".join(parts)


@faults.command("clear")
@click.argument("fault_ids", nargs=-1, metavar="[FAULT_ID]...")
@connected
def faults_clear(client: OjinClient, fault_ids: tuple[str, ...]) -> None:
    """Remove the rules named, or every rule."""
    if not fault_ids:
        client.clear_faults()
    for fault_id in fault_ids:
        client.remove_fault(fault_id)
    note(f"removed {', '.join(fault_ids) if fault_ids else 'every fault rule'}")


# Namespaces and the clock

NAMESPACE_NAME = spec.schema("OjinNamespaceCreate")["properties"]["name"]
ADVANCE = spec.schema("OjinClockAdvance")["properties"]["advance_seconds"]


@click.group()
def namespaces() -> None:
    """Worlds of their own on one server, one per test: two fresh organizations with a key each
    (to check isolation between them), a clock, and fault rules and journal entries scoped to
    them (`faults add --namespace ID`, `requests --namespace ID`)."""


@namespaces.command("create")
@spec_option("name", NAMESPACE_NAME, None)
@connected
def namespaces_create(client: OjinClient, name: str | None) -> None:
    """Make a namespace; prints it with its two keys, shown this once."""
    show(client.create_namespace(name))


@namespaces.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
@connected
def namespaces_list(client: OjinClient, as_json: bool) -> None:
    """List the namespaces, as created (without their keys)."""
    found = client.list_namespaces()
    if as_json:
        show({"data": found})
    else:
        table(found, spec.fields("OjinNamespace"), None)


@namespaces.command("reset")
@click.argument("namespace_id")
@connected
def namespaces_reset(client: OjinClient, namespace_id: str) -> None:
    """Empty a namespace's organizations (records, objects, uploads, jobs, its fault rules and
    journal entries); its keys stay, nothing outside it changes."""
    client.reset_namespace(namespace_id)
    note(f"reset namespace {namespace_id}")


@namespaces.command("delete")
@click.argument("namespace_id")
@connected
def namespaces_delete(client: OjinClient, namespace_id: str) -> None:
    """Remove a namespace and all it holds; its keys stop working."""
    client.delete_namespace(namespace_id)
    note(f"deleted namespace {namespace_id}; its keys no longer work")


@click.group()
def clock() -> None:
    """The server's virtual clock, or one namespace's: move it forward to test expiry, garbage
    collection and delayed jobs without waiting."""


namespace_clock = click.option(
    "--namespace", "namespace_id", help="One namespace's clock (default: the server's)."
)
clock_json = click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")


@clock.command("show")
@namespace_clock
@clock_json
@connected
def clock_show(client: OjinClient, namespace_id: str | None, as_json: bool) -> None:
    """Print the time the clock reads and how far it is ahead of real time."""
    print_clock(client.get_clock(namespace_id), as_json)


@clock.command("advance")
@click.argument("seconds", type=click.FloatRange(ADVANCE["minimum"], ADVANCE["maximum"]))
@namespace_clock
@clock_json
@connected
def clock_advance(
    client: OjinClient, seconds: float, namespace_id: str | None, as_json: bool
) -> None:
    """Move the clock SECONDS forward (it never goes back, but `clock reset` returns it to real
    time)."""
    print_clock(client.advance_clock(seconds, namespace_id), as_json)


@clock.command("reset")
@namespace_clock
@clock_json
@connected
def clock_reset(client: OjinClient, namespace_id: str | None, as_json: bool) -> None:
    """Back to real time."""
    print_clock(client.reset_clock(namespace_id), as_json)


def print_clock(answer: dict[str, Any], as_json: bool) -> None:
    if as_json:
        show(answer)
    elif answer["offset_seconds"]:
        click.echo(f"{answer['now']}  ({answer['offset_seconds']:g} s ahead of real time)")
    else:
        click.echo(f"{answer['now']}  (real time)")


ADMIN_COMMANDS = (requests_command, reset_command, faults, namespaces, clock)
