"""Who reads a submitter's name and phone (PIPL, DESIGN §10), and the reading itself.

The staff and leaders of the unit that **currently owns** the topic read them: that
unit determines the topic, runs the consultation, replies to the public and makes the
return visit (回访), which needs the contact. Nobody else does — not the units the
topic passed through, co-organisers, handling departments (承办单位 act through the
owner), members, auditors (they replay decisions, not contacts) or intake
integrations: they see `submitter: null`. Once the person is erased, the owner sees
`{"personId", "name": null, "phone": null, "erased": true}` (the console shows 已删除).
"""

from __future__ import annotations

import uuid
from typing import Any

from api.auth import Principal
from domain.errors import NotFoundError
from domain.topic import Role
from infra.bootstrap import Runtime

READING_ROLES = frozenset({Role.STAFF, Role.LEADER})


def may_read_submitter(principal: Principal, owner: str) -> bool:
    return principal.unit == owner and any(role in READING_ROLES for role in principal.roles)


def submitter_for(runtime: Runtime, principal: Principal, topic_id: str) -> dict[str, Any] | None:
    """The submitter of the topic as `principal` may see them: opened, or None."""
    if not any(role in READING_ROLES for role in principal.roles):
        return None  # no need to load the topic
    try:
        topic = runtime.app.get_topic(uuid.UUID(topic_id))
    except (NotFoundError, ValueError):
        return None
    if topic.submitter is None or not may_read_submitter(principal, topic.owner):
        return None
    return runtime.vault.open(topic.submitter).as_json()
