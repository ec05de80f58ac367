"""Reading a submitter's name and phone (PIPL, DESIGN §10); who may is
`domain.access.may_read_personal_data`.

The staff and leaders of the unit that **currently owns** the topic read them: that
unit determines the topic, runs the consultation, replies to the public and makes the
return visit (回访), which needs the contact. Nobody else does — not the units the
topic passed through, co-organisers, handling departments (承办单位 act through the
owner), members, auditors (they replay decisions, not contacts) or intake
integrations: they see `submitter: null`. Once the person is erased, the owner sees
`{"personId", "name": null, "phone": null, "erased": true}` (the console shows 已删除).

The owner comes from the topics read model (as every other access decision of the
API); the sealed submitter from the topic's first event alone, not a replay.
"""

from __future__ import annotations

import uuid
from typing import Any

from domain.topic import SealedSubmitter
from infra.bootstrap import Runtime


def sealed_submitter(runtime: Runtime, topic_id: str) -> SealedSubmitter | None:
    """The sealed submitter recorded by the topic's TopicSubmitted (version 1)."""
    try:
        tid = uuid.UUID(topic_id)
    except ValueError:
        return None
    for event in runtime.app.events.get(tid, lte=1):
        sealed: SealedSubmitter | None = getattr(event, "submitter", None)
        return sealed
    return None


def open_submitter(runtime: Runtime, topic_id: str) -> dict[str, Any] | None:
    """The topic's submitter opened with their key (or marked erased); None if none."""
    sealed = sealed_submitter(runtime, topic_id)
    return None if sealed is None else runtime.vault.open(sealed).as_json()
