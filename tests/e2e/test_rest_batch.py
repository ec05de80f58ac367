"""`POST /api/v1/topics:batch` as a 12345 intake system calls it: real HTTP, real PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.rest.batch import MAX_BATCH_ITEMS
from domain.topic import Role
from tests.e2e.conftest import Live
from tests.e2e.test_rest import head, refused, submit_body
from tests.utils.factories import COUNTY, FAR_VILLAGE, SIBLING_VILLAGE, TOWNSHIP, VILLAGE


@pytest.fixture
def api(live: Live) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{live.url}/api/v1", timeout=60) as client:
        yield client


def appeals(count: int, prefix: str, location: str = VILLAGE) -> list[dict[str, Any]]:
    return [
        submit_body(
            title=f"12345工单：小区二次供水水压不足（{i}号楼）",
            locationUnit=location,
            externalRef=f"{prefix}-{i:05d}",
        )
        for i in range(count)
    ]


def post(api: httpx.Client, live: Live, items: list[Any], *roles: Role) -> httpx.Response:
    headers = live.headers(COUNTY, *roles or [Role.INTAKE])
    return api.post("/topics:batch", json={"items": items}, headers=headers)


def test_a_batch_creates_every_valid_item_and_answers_each_on_its_own(
    live: Live, api: httpx.Client
) -> None:
    items: list[Any] = appeals(3, "hotline-a")
    items.insert(1, submit_body(title="  "))  # blank title: a domain rule
    items.insert(2, {"title": "缺少其他字段"})  # not a submission at all
    items.append(submit_body(locationUnit="620102001999"))  # no such village
    before = head(live)

    response = post(api, live, items)

    assert response.status_code == 200, response.text
    answer = response.json()
    statuses = [r["status"] for r in answer["results"]]
    assert statuses == ["CREATED", "ERROR", "ERROR", "CREATED", "CREATED", "ERROR"]
    assert [r["index"] for r in answer["results"]] == list(range(6))
    assert (answer["created"], answer["duplicates"], answer["errors"]) == (3, 0, 3)
    blank, shapeless, nowhere = (answer["results"][i] for i in (1, 2, 5))
    assert (blank["code"], blank["rule"]) == ("BAD_INPUT", "FIELD_REQUIRED")
    assert "title" in blank["message"]
    assert (shapeless["code"], shapeless["rule"]) == ("BAD_INPUT", "INVALID_REQUEST")
    assert "description" in shapeless["message"]
    assert "locationUnit" in shapeless["message"]
    assert (nowhere["code"], nowhere["rule"]) == ("NOT_FOUND", "UNIT_NOT_FOUND")
    assert "620102001999" in nowhere["message"]
    assert head(live) == before + 3 == answer["position"]

    created = answer["results"][0]["topicId"]
    app = live.server.state.runtime.app
    topic = app.get_topic(uuid.UUID(created))
    assert topic.title == "12345工单：小区二次供水水压不足（0号楼）"
    assert topic.external_ref == "hotline-a-00000"
    assert app.history(topic.id)[0].actor["role"] == "INTAKE"


def test_a_re_post_returns_the_same_ids_and_writes_nothing(live: Live, api: httpx.Client) -> None:
    items = appeals(250, "hotline-b")
    first = post(api, live, items).json()
    before = head(live)

    again = post(api, live, [*items, items[0]]).json()

    assert head(live) == before
    assert again["duplicates"] == 251
    assert again["created"] == 0
    ids = [r["topicId"] for r in first["results"]]
    assert [r["topicId"] for r in again["results"]] == [*ids, ids[0]]
    assert {r["status"] for r in again["results"]} == {"DUPLICATE"}


def test_the_same_external_ref_twice_in_one_batch_is_one_topic(
    live: Live, api: httpx.Client
) -> None:
    [item] = appeals(1, "hotline-c")
    before = head(live)

    answer = post(api, live, [item, item]).json()

    assert [r["status"] for r in answer["results"]] == ["CREATED", "DUPLICATE"]
    assert answer["results"][0]["topicId"] == answer["results"][1]["topicId"]
    assert head(live) == before + 1


def test_concurrent_posts_of_the_same_batch_record_each_topic_once(live: Live) -> None:
    items = appeals(300, "hotline-d")
    before = head(live)
    answers: list[dict[str, Any]] = []
    start = threading.Barrier(4)

    def send() -> None:
        with httpx.Client(base_url=f"{live.url}/api/v1", timeout=60) as client:
            start.wait()
            response = post(client, live, items)
            assert response.status_code == 200, response.text
            answers.append(response.json())

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(answers) == 4
    assert head(live) == before + 300
    assert sum(a["created"] for a in answers) == 300  # each topic created by exactly one post
    assert sum(a["duplicates"] for a in answers) == 3 * 300
    ids = {tuple(r["topicId"] for r in a["results"]) for a in answers}
    assert len(ids) == 1


def test_items_follow_the_permissions_of_a_single_submission(live: Live, api: httpx.Client) -> None:
    inside, outside = appeals(1, "hotline-e"), appeals(1, "hotline-f", location=FAR_VILLAGE)
    township = api.post(
        "/topics:batch",
        json={"items": inside + outside},
        headers=live.headers(TOWNSHIP, Role.INTAKE),
    ).json()
    handler = post(api, live, inside, Role.HANDLER)
    village = api.post(
        "/topics:batch",
        json={"items": appeals(1, "hotline-g", location=SIBLING_VILLAGE)},
        headers=live.headers(VILLAGE, Role.STAFF),
    ).json()

    assert [r["status"] for r in township["results"]] == ["CREATED", "ERROR"]
    assert (township["results"][1]["code"], township["results"][1]["rule"]) == (
        "NOT_FOUND",
        "UNIT_NOT_FOUND",
    )
    refused(handler, 403, "FORBIDDEN", "ROLE_NOT_PERMITTED")
    assert Counter(r["status"] for r in village["results"]) == {"ERROR": 1}


def test_a_batch_beyond_the_limits_or_without_a_token_is_refused_whole(
    live: Live, api: httpx.Client
) -> None:
    before = head(live)
    too_many = post(api, live, appeals(MAX_BATCH_ITEMS + 1, "hotline-h"))
    empty = post(api, live, [])
    not_objects = post(api, live, ["标题", 3])
    no_token = api.post("/topics:batch", json={"items": appeals(1, "hotline-i")})
    huge = api.post(
        "/topics:batch",
        content=b'{"items": [' + b'{"title": "' + b"x" * 17_000_000 + b'"}]}',
        headers={**live.headers(COUNTY, Role.INTAKE), "content-type": "application/json"},
    )

    problem = refused(too_many, 400, "BAD_INPUT", "INVALID_REQUEST")
    assert f"at most {MAX_BATCH_ITEMS}" in problem["detail"]
    refused(empty, 400, "BAD_INPUT", "INVALID_REQUEST")
    refused(not_objects, 400, "BAD_INPUT", "INVALID_REQUEST")
    refused(no_token, 401, "UNAUTHENTICATED", no_token.json()["rule"])
    refused(huge, 413, "BAD_INPUT", "REQUEST_TOO_LARGE")
    assert head(live) == before


def test_a_full_batch_of_chinese_appeals_fits_and_is_saved_at_once(
    live: Live, api: httpx.Client
) -> None:
    description = "群众来电反映：" + "早晚用水高峰时段水压不足，热水器无法点火。" * 20
    items = [{**item, "description": description} for item in appeals(MAX_BATCH_ITEMS, "hotline-j")]
    before = head(live)

    answer = post(api, live, items).json()

    assert answer["created"] == MAX_BATCH_ITEMS
    assert head(live) == before + MAX_BATCH_ITEMS == answer["position"]


def test_submitters_in_a_batch_are_sealed_like_single_submissions(
    live: Live, api: httpx.Client
) -> None:
    items = [
        {**body, "submitterName": f"钱秀英{i}", "submitterPhone": f"1390000{i:04d}"}
        for i, body in enumerate(appeals(3, "hotline-sealed"))
    ]

    answer = post(api, live, items).json()

    assert answer["created"] == 3, answer
    runtime = live.server.state.runtime
    for i, result in enumerate(answer["results"]):
        sealed = runtime.app.get_topic(uuid.UUID(result["topicId"])).submitter
        assert sealed is not None
        assert set(sealed) == {"person_id", "key_id", "sealed"}
        assert f"1390000{i:04d}" not in str(sealed)
        opened = runtime.vault.open(sealed)
        assert (opened.name, opened.phone) == (f"钱秀英{i}", f"1390000{i:04d}")
    with runtime.database.connect() as conn:
        clear = conn.execute(
            "SELECT count(*) FROM linkage_events WHERE position('13900000001' in"
            " convert_from(state, 'UTF8')) > 0"
        ).fetchone()
    assert clear == (0,)


def test_a_token_with_several_roles_submits_in_the_first_that_may(
    live: Live, api: httpx.Client
) -> None:
    """domain.access.acting_role: the batch acts in the first permitted role, and a
    single submission over REST acts in that same role."""
    app = live.server.state.runtime.app
    batch = post(api, live, appeals(1, "hotline-roles"), Role.AUDITOR, Role.INTAKE).json()
    single = api.post(
        "/topics", json=submit_body(), headers=live.headers(COUNTY, Role.HANDLER, Role.MEMBER)
    )
    none = post(api, live, appeals(1, "hotline-none"), Role.AUDITOR, Role.HANDLER)

    assert batch["results"][0]["status"] == "CREATED", batch
    assert app.history(uuid.UUID(batch["results"][0]["topicId"]))[0].actor["role"] == "INTAKE"
    assert single.status_code == 201, single.text
    assert app.history(uuid.UUID(single.json()["topicId"]))[0].actor["role"] == "MEMBER"
    problem = refused(none, 403, "FORBIDDEN", "ROLE_NOT_PERMITTED")
    assert problem["detail"].startswith("role AUDITOR may not submit topics"), problem
