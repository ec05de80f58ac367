"""The key store on real PostgreSQL: one live key per person, erasure by shredding."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from api.entry.demo import run_scenario
from infra.bootstrap import Runtime
from infra.privacy import submitted_events_of
from tests.utils.factories import VILLAGE, staff, submission

ZHAO = {"name": "赵秀兰", "phone": "13800138000"}


def test_one_person_shares_one_key_across_topics_and_another_person_has_their_own(
    small_runtime: Runtime,
) -> None:
    app, vault = small_runtime.app, small_runtime.vault
    first = app.submit_topic(staff(VILLAGE), **submission(), submitter=ZHAO).topic_id
    second = app.submit_topic(
        staff(VILLAGE), **submission(), submitter={"name": "赵大妈", "phone": "+86 13800138000"}
    ).topic_id
    other = app.submit_topic(staff(VILLAGE), **submission(), submitter={"name": "钱多多"}).topic_id

    sealed = [app.get_topic(t).submitter for t in (first, second, other)]
    assert all(s is not None for s in sealed)
    a, b, c = (s for s in sealed if s is not None)
    assert (a["person_id"], a["key_id"]) == (b["person_id"], b["key_id"])
    assert c["person_id"] != a["person_id"]
    assert c["key_id"] != a["key_id"]
    assert [s.name for s in vault.open_many([a, b, c])] == ["赵秀兰", "赵大妈", "钱多多"]
    assert [s.phone for s in vault.open_many([a, c])] == ["13800138000", None]


def test_erasing_destroys_the_key_keeps_the_row_and_a_new_submission_gets_a_fresh_key(
    small_runtime: Runtime,
) -> None:
    app, vault = small_runtime.app, small_runtime.vault
    topic = app.submit_topic(staff(VILLAGE), **submission(), submitter=ZHAO).topic_id
    sealed = app.get_topic(topic).submitter
    assert sealed is not None
    person = sealed["person_id"]

    assert vault.erase(person) == [sealed["key_id"]]
    assert vault.erase(person) == []  # nothing live is left
    assert vault.open(sealed).erased
    keys = vault.keys_of(person)
    assert [(k.key_id, k.erased_at is not None) for k in keys] == [(sealed["key_id"], True)]
    assert app.get_topic(topic).submitter == sealed  # the event is untouched

    again = app.submit_topic(staff(VILLAGE), **submission(), submitter=ZHAO).topic_id
    fresh = app.get_topic(again).submitter
    assert fresh is not None
    assert fresh["person_id"] == person
    assert fresh["key_id"] != sealed["key_id"]
    assert vault.open(fresh).name == "赵秀兰"
    assert vault.open(sealed).erased
    assert {e.originator_id for e in submitted_events_of(app, person)} == {topic, again}


def test_racing_first_submissions_of_one_person_share_one_key(small_runtime: Runtime) -> None:
    vault = small_runtime.vault
    with ThreadPoolExecutor(8) as pool:
        sealed = list(pool.map(lambda _: vault.seal(ZHAO), range(16)))
    assert len({s["key_id"] for s in sealed}) == 1
    assert len(vault.keys_of(sealed[0]["person_id"])) == 1


def test_the_demo_scenario_seals_its_submitter(small_runtime: Runtime) -> None:
    topic = small_runtime.app.get_topic(run_scenario(small_runtime.app))
    assert topic.submitter is not None
    assert small_runtime.vault.open(topic.submitter).name == "赵大妈"
    assert uuid.UUID(topic.submitter["key_id"])
