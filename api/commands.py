"""The commands as the API offers them: one table shared by GraphQL and REST.

`CommandService.run` acts for a token: it picks the token's first role that the
domain permits for the command (`domain.access.acting_role`; a token usually has
one role), calls the
application verb and records the command's latency and outcome for /metrics.
Every refusal stays a `LinkageError`; each protocol renders it its own way.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from api.auth import Principal
from api.ids import decode_global_id
from api.metrics import COMMAND_SECONDS, COMMANDS_TOTAL
from domain.access import acting_role
from domain.application import CommandResult, LinkageApp
from domain.errors import BadInputError, LinkageError

# contract mutation name -> LinkageApp verb
COMMAND_METHODS: dict[str, str] = {
    "submitTopic": "submit_topic",
    "determineTopic": "determine_topic",
    "declineTopic": "decline_topic",
    "mergeTopic": "merge_topic",
    "escalateTopic": "escalate_topic",
    "delegateTopic": "delegate_topic",
    "acceptTransfer": "accept_transfer",
    "returnTransfer": "return_transfer",
    "cancelTransfer": "cancel_transfer",
    "takeOverTopic": "take_over_topic",
    "inviteCoOrganizer": "invite_co_organizer",
    "startResearch": "start_research",
    "reportResearch": "report_research",
    "scheduleDeliberation": "schedule_deliberation",
    "recordDeliberation": "record_deliberation",
    "assignTask": "assign_task",
    "signTask": "sign_task",
    "reportTaskProgress": "report_task_progress",
    "superviseTask": "supervise_task",
    "extendTaskDeadline": "extend_task_deadline",
    "completeTask": "complete_task",
    "recordLeaderInstruction": "record_leader_instruction",
    "recordAdoption": "record_adoption",
    "giveFeedback": "give_feedback",
    "recordReturnVisit": "record_return_visit",
    "reopenTopic": "reopen_topic",
    "closeTopic": "close_topic",
    "withdrawTopic": "withdraw_topic",
    "addComment": "add_comment",
}


class CommandService:
    def __init__(self, app: LinkageApp) -> None:
        self.app = app

    def run(
        self,
        principal: Principal,
        name: str,
        topic_id: uuid.UUID | None,
        arguments: dict[str, Any],
    ) -> CommandResult:
        """Run the command `name` (a contract mutation name) for `principal`."""
        verb = getattr(self.app, COMMAND_METHODS[name])
        started = time.perf_counter()
        outcome = "OK"
        try:
            actor = principal.actor(acting_role(principal.roles, name))
            if topic_id is None:
                result: CommandResult = verb(actor, **arguments)
            else:
                result = verb(actor, topic_id, **arguments)
            return result
        except LinkageError as err:
            outcome = err.code
            raise
        except Exception:
            outcome = "ERROR"
            raise
        finally:
            COMMANDS_TOTAL.labels(name, outcome).inc()
            COMMAND_SECONDS.labels(name).observe(time.perf_counter() - started)


def parse_topic_id(value: str, field: str = "topicId") -> uuid.UUID:
    """A topic's UUID, from the UUID itself or from its GraphQL global id."""
    text = value.strip()
    kind_id = decode_global_id(text)
    if kind_id is not None and kind_id[0] == "Topic":
        text = kind_id[1]
    try:
        return uuid.UUID(text)
    except ValueError:
        raise BadInputError(
            "INVALID_TOPIC_ID", f"{field} {value!r} is neither a topic UUID nor a Topic id"
        ) from None
