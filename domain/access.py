"""Who may do what: the one access policy, asked by every protocol (DESIGN §5, §6, §10).

Five questions, each answered here from domain facts alone (units, roles, a topic's
involvement), so GraphQL, REST (its batch and audit routes included) and the
application the CLI's demo and simulation drive ask the same functions instead of
keeping their own copies (the CLI's audit and privacy commands are the operator's, who
holds the database rather than a token):

* **May this unit read this topic?** `may_read_topic`: when the unit is involved,
  now or before (`Topic.involvement`: the location or the owner or an ancestor of
  either, a co-organiser, a task handler, a pending transfer's target — CURRENT; a
  former holder, a unit that returned a transfer, the location and owner of a topic
  merged into it — ENDED). Any other unit, a sibling at any level included, sees
  nothing: a hidden topic reads exactly as a missing one. `may_take_part` is the
  CURRENT half: an ENDED unit reads, it no longer contributes. The read models
  hold the same rule as rows (`projections.topics.view`: `topic_visibility`, kinds
  S/I/E), so the SQL of every list and lookup applies it; tests check the two agree.
* **May this token read the topic's personal data?** `may_read_personal_data`: only
  STAFF and LEADER of the unit that currently owns the topic (it determines,
  replies and makes the return visit). Not the units it passed through,
  co-organisers, handlers, members, auditors or intake systems.
* **May this token audit this unit?** `may_audit_unit`: an AUDITOR or a LEADER, for a
  unit within the token's own subtree (an export is also limited to the topics the
  token's unit sees); `require_audit_role` is the refusal, `AUDIT_ROLE_REQUIRED`.
* **May this token operate the service?** `may_operate`: /metrics and the readiness
  details, for an AUDITOR of a province-level unit.
* **In which role does a command act?** `acting_role`: with several roles, a command
  acts in the first role the domain permits for it (`COMMAND_ROLES`, the role sets
  `Topic`'s guards check); when none does, the domain refuses the last one with
  `ROLE_NOT_PERMITTED` in its own words, as it refuses a one-role token.

Unit rules of the commands themselves (owner, transfer target, task handler,
ancestor) stay in `Topic`'s guards: they are the commands' rules, not sight.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from domain.errors import ForbiddenError
from domain.plan import APPROVING_ROLES as PLAN_APPROVING_ROLES
from domain.plan import EDITING_ROLES as PLAN_EDITING_ROLES
from domain.topic import (
    COMMENTING_ROLES,
    HANDLING_ROLES,
    LEADING_ROLES,
    MANAGING_ROLES,
    SUBMITTING_ROLES,
    Involvement,
    Role,
    Topic,
)
from domain.units import Level, UnitDirectory, level_of_code

# -- topics ------------------------------------------------------------------------


def may_read_topic(unit: str, topic: Topic, units: UnitDirectory) -> bool:
    """The unit reads the topic and its whole history: it is involved, now or before."""
    return topic.involvement(unit, units) is not None


def may_take_part(unit: str, topic: Topic, units: UnitDirectory) -> bool:
    """The unit reads the topic and still takes part (its involvement is CURRENT)."""
    return topic.involvement(unit, units) == Involvement.CURRENT


# -- personal data -----------------------------------------------------------------

PERSONAL_DATA_ROLES = frozenset({Role.STAFF, Role.LEADER})


def reads_personal_data(roles: Iterable[Role]) -> bool:
    """The token holds a role that reads submitters at all (of the topics its unit owns)."""
    return any(role in PERSONAL_DATA_ROLES for role in roles)


def may_read_personal_data(roles: Iterable[Role], unit: str, owner: str) -> bool:
    """The submitter's name and phone of a topic owned by `owner`: only the staff and
    leaders of the owning unit itself (not its ancestors, not anyone else involved)."""
    return unit == owner and reads_personal_data(roles)


# -- audit -------------------------------------------------------------------------

AUDIT_ROLES = (Role.AUDITOR, Role.LEADER)


def may_audit(roles: Iterable[Role]) -> bool:
    """The token holds a role that reads histories and exports (AUDITOR or LEADER)."""
    return any(role in AUDIT_ROLES for role in roles)


def require_audit_role(roles: Sequence[Role]) -> None:
    """FORBIDDEN / AUDIT_ROLE_REQUIRED unless `may_audit(roles)`."""
    if not may_audit(roles):
        held = ", ".join(r.value for r in roles)
        raise ForbiddenError(
            "AUDIT_ROLE_REQUIRED",
            f"audit reads need the AUDITOR or LEADER role; this token has {held}",
        )


def may_audit_unit(roles: Iterable[Role], unit: str, path: Sequence[str] | None) -> bool:
    """A token of `unit` with an audit role audits the unit whose `path` (its code and
    its ancestors' codes; None for an unknown unit) runs through `unit`: its own unit
    and its subtree, nothing beside or above it."""
    return may_audit(roles) and path is not None and unit in path


# -- operations -------------------------------------------------------------------

OPERATOR_ROLE = Role.AUDITOR


def may_operate(roles: Iterable[Role], unit: str) -> bool:
    """/metrics and the readiness details are province-wide: an AUDITOR of a root
    (province-level) unit; the API adds that the unit is not retired."""
    return OPERATOR_ROLE in roles and level_of_code(unit) == Level.PROVINCE


# -- roles of commands -------------------------------------------------------------

# The roles each command may act in, by contract name: the sets `Topic`'s guards check
# (tests/unit/test_access_policy.py holds the two together, command by command).
COMMAND_ROLES: Mapping[str, frozenset[Role]] = {
    "submitTopic": SUBMITTING_ROLES,
    "determineTopic": MANAGING_ROLES,
    "declineTopic": MANAGING_ROLES,
    "mergeTopic": MANAGING_ROLES,
    "escalateTopic": MANAGING_ROLES,
    "delegateTopic": MANAGING_ROLES,
    "acceptTransfer": MANAGING_ROLES,
    "returnTransfer": MANAGING_ROLES,
    "cancelTransfer": MANAGING_ROLES,
    "takeOverTopic": LEADING_ROLES,
    "inviteCoOrganizer": MANAGING_ROLES,
    "startResearch": MANAGING_ROLES,
    "reportResearch": MANAGING_ROLES,
    "scheduleDeliberation": MANAGING_ROLES,
    "recordDeliberation": MANAGING_ROLES,
    "assignTask": MANAGING_ROLES,
    "signTask": HANDLING_ROLES,
    "reportTaskProgress": HANDLING_ROLES,
    "superviseTask": MANAGING_ROLES,
    "extendTaskDeadline": MANAGING_ROLES,
    "completeTask": HANDLING_ROLES,
    "recordLeaderInstruction": LEADING_ROLES,
    "recordAdoption": LEADING_ROLES,
    "giveFeedback": MANAGING_ROLES,
    "recordReturnVisit": MANAGING_ROLES,
    "reopenTopic": MANAGING_ROLES,
    "closeTopic": MANAGING_ROLES,
    "withdrawTopic": MANAGING_ROLES,
    "addComment": COMMENTING_ROLES,
}


# -- the plan commands (domain.plan_commands): staff and leaders of the committee edit
# its plan; a leader approves it, and after approval only a leader adjusts or cancels
# an item (the aggregate refuses staff then with PLAN_LEADER_REQUIRED, naming it).
PLAN_COMMAND_ROLES: Mapping[str, frozenset[Role]] = {
    "draftPlan": PLAN_EDITING_ROLES,
    "addPlanItem": PLAN_EDITING_ROLES,
    "submitPlan": PLAN_EDITING_ROLES,
    "approvePlan": PLAN_APPROVING_ROLES,
    "adjustPlanItem": PLAN_EDITING_ROLES,
    "linkPlanItem": PLAN_EDITING_ROLES,
    "completePlanItem": PLAN_EDITING_ROLES,
    "cancelPlanItem": PLAN_EDITING_ROLES,
}
# Every command of every aggregate, by contract name.
ALL_COMMAND_ROLES: Mapping[str, frozenset[Role]] = {**COMMAND_ROLES, **PLAN_COMMAND_ROLES}
# After approval an item changes only by a leader: a token holding both roles acts as
# the leader for these.
LEADER_FIRST = frozenset({"adjustPlanItem", "cancelPlanItem"})


def may_act(roles: Iterable[Role], command: str) -> bool:
    """Some role of the token may run `command` (a contract mutation name)."""
    allowed = ALL_COMMAND_ROLES[command]
    return any(role in allowed for role in roles)


def acting_role(roles: Sequence[Role], command: str) -> Role:
    """The role `command` acts in: the first of `roles` the domain permits for it; when
    none is, the last (the domain refuses it with ROLE_NOT_PERMITTED, naming it)."""
    allowed = ALL_COMMAND_ROLES[command]
    if command in LEADER_FIRST and Role.LEADER in roles:
        return Role.LEADER
    return next((role for role in roles if role in allowed), roles[-1])
