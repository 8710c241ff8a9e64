"""Pagination and query-parameter validation on the list routes."""

from __future__ import annotations

import threading

import pytest

from tests.conftest import BOB_KEY, PAGER_KEY, Api, Server

TOTAL = 25


@pytest.fixture(scope="module")
def pager(server: Server, contract: object) -> Api:
    """An organization with exactly TOTAL configurations, created oldest first."""
    with Api(server.url, contract, PAGER_KEY) as client:  # type: ignore[arg-type]
        for i in range(TOTAL):
            client.create_config(title=f"page-{i:02d}")
        yield client


def titles(body: dict) -> list[str]:
    return [c["title"] for c in body["data"]]


def test_default_page_is_twenty_oldest_first(pager: Api) -> None:
    body = pager.get("/v1/model-configs").json()
    assert body["pagination"] == {"limit": 20, "offset": 0, "total_items": TOTAL}
    assert titles(body) == [f"page-{i:02d}" for i in range(20)]


@pytest.mark.parametrize(
    ("limit", "offset", "expected"),
    [
        (1, 0, ["page-00"]),
        (5, 20, [f"page-{i:02d}" for i in range(20, 25)]),
        (10, 24, ["page-24"]),
        (100, 0, [f"page-{i:02d}" for i in range(25)]),
        (10, 25, []),
        (10, 1000, []),
    ],
)
def test_pages(pager: Api, limit: int, offset: int, expected: list[str]) -> None:
    body = pager.get("/v1/model-configs", params={"limit": limit, "offset": offset}).json()
    assert titles(body) == expected
    assert body["pagination"] == {"limit": limit, "offset": offset, "total_items": TOTAL}


def test_pages_do_not_overlap_or_skip(pager: Api) -> None:
    seen = []
    for offset in range(0, TOTAL, 7):
        seen += titles(pager.get("/v1/model-configs", params={"limit": 7, "offset": offset}).json())
    assert seen == [f"page-{i:02d}" for i in range(TOTAL)]


@pytest.mark.parametrize("path", ["/v1/model-configs", "/v1/model-variants"])
@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({"limit": 0}, {"limit"}),
        ({"limit": 101}, {"limit"}),
        ({"limit": "ten"}, {"limit"}),
        ({"limit": "1.5"}, {"limit"}),
        ({"offset": -1}, {"offset"}),
        ({"offset": "x", "limit": -3}, {"offset", "limit"}),
        # Found by fuzzing: past 64 bits the offset overflowed SQLite and the JSON encoder (500).
        ({"offset": 2**63}, {"offset"}),
        ({"offset": 10**30}, {"offset"}),
        # Found by fuzzing: an empty value was read as an absent one, and accepted.
        ({"offset": ""}, {"offset"}),
        ({"limit": "", "offset": ""}, {"limit", "offset"}),
    ],
)
def test_bad_paging_parameters_are_400_naming_each(
    pager: Api, path: str, params: dict, fields: set
) -> None:
    response = pager.get(path, params=params)
    assert response.status_code == 400
    error = response.json()
    assert error["code"] == "VALIDATION_ERROR"
    assert {e["field"] for e in error["details"]["errors"]} == fields


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/assets", {"source": ""}, "source"),
        ("/v1/jobs", {"status": ""}, "status"),
        ("/v1/jobs", {"type": ""}, "type"),
    ],
)
def test_an_empty_enum_value_is_400_not_ignored(
    pager: Api, path: str, params: dict, field: str
) -> None:
    response = pager.get(path, params=params)
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["details"]["errors"]] == [field]


def test_source_must_be_org_or_template(pager: Api) -> None:
    response = pager.get("/v1/model-configs", params={"source": "everyone"})
    assert response.status_code == 400
    assert response.json()["details"]["errors"][0]["field"] == "source"


def test_template_source_pages_the_template_organization(pager: Api) -> None:
    body = pager.get("/v1/model-configs", params={"source": "template", "limit": 1}).json()
    assert body["pagination"]["limit"] == 1
    assert body["pagination"]["total_items"] >= 3
    assert len(body["data"]) == 1
    assert body["data"][0]["organization_id"] == "org_template"


@pytest.mark.parametrize("path", ["/v1/model-configs", "/v1/assets"])
def test_a_page_agrees_with_its_total_while_others_write(
    server: Server, contract: object, path: str
) -> None:
    """A page and its total_items are read from one snapshot: rows written between the count
    and the page once made a page longer than the total said (found by the soak)."""
    stop = threading.Event()

    def write() -> None:
        with Api(server.url, contract, BOB_KEY) as client:  # type: ignore[arg-type]
            while not stop.is_set():
                if path == "/v1/assets":
                    client.upload(b"x", name="pagination-race.bin", category="weight")
                else:
                    client.create_config()

    writers = [threading.Thread(target=write) for _ in range(4)]
    for writer in writers:
        writer.start()
    disagreeing = []
    try:
        with Api(server.url, contract, BOB_KEY) as reader:  # type: ignore[arg-type]
            total = reader.get(path).json()["pagination"]["total_items"]
            for _ in range(300):
                offset = max(0, total - 2)
                body = reader.get(path, params={"limit": 100, "offset": offset}).json()
                total = body["pagination"]["total_items"]
                if len(body["data"]) != min(100, max(0, total - offset)):
                    disagreeing.append((offset, total, len(body["data"])))
    finally:
        stop.set()
        for writer in writers:
            writer.join()
    assert not disagreeing, f"(offset, total_items, items) that disagree: {disagreeing}"
