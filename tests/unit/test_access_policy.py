"""The access policy (domain.access), case by case: who reads a topic, its personal
data, who audits a unit, and the role a command acts in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from domain.access import (
    COMMAND_ROLES,
    acting_role,
    may_act,
    may_audit,
    may_audit_unit,
    may_operate,
    may_read_personal_data,
    may_read_topic,
    may_take_part,
    reads_personal_data,
    require_audit_role,
)
from domain.errors import ForbiddenError, LinkageError
from domain.topic import Actor, Role, Topic
from domain.topic_commands import COMMAND_TYPES
from domain.units import InMemoryUnitDirectory
from tests.utils.factories import (
    CITY,
    COUNTY,
    COUSIN_VILLAGE,
    FAR_TOWNSHIP,
    FAR_VILLAGE,
    FULL_PANEL,
    OTHER_CITY,
    PROVINCE,
    SIBLING_COUNTY,
    SIBLING_TOWNSHIP,
    SIBLING_VILLAGE,
    START,
    TOWNSHIP,
    VILLAGE,
    actor,
    later,
    small_directory,
    staff,
    submission,
)

UNITS = small_directory()


def submitted(units: InMemoryUnitDirectory = UNITS, location: str = VILLAGE) -> Topic:
    return Topic.submit(actor=staff(location), units=units, at=START, **submission(location))


def delegated_to_sibling() -> Topic:
    """At VILLAGE, escalated to TOWNSHIP (accepted), delegated on to SIBLING_VILLAGE."""
    topic = submitted()
    topic.escalate(staff(VILLAGE), UNITS, reason="需街道协调", at=later(1))
    topic.accept_transfer(staff(TOWNSHIP), at=later(2))
    topic.delegate(staff(TOWNSHIP), UNITS, SIBLING_VILLAGE, "请协助", at=later(3))
    return topic


# -- reading a topic -------------------------------------------------------------------

SIGHT = [
    # (unit, reads, takes part): a topic at VILLAGE, owned by it
    (VILLAGE, True, True),  # location and owner
    (TOWNSHIP, True, True),  # ancestors, every level up
    (COUNTY, True, True),
    (CITY, True, True),
    (PROVINCE, True, True),
    (SIBLING_VILLAGE, False, False),  # siblings at every level see nothing
    (SIBLING_TOWNSHIP, False, False),
    (SIBLING_COUNTY, False, False),
    (OTHER_CITY, False, False),
    (COUSIN_VILLAGE, False, False),  # nor their subtrees
    (FAR_TOWNSHIP, False, False),
    (FAR_VILLAGE, False, False),
]


@pytest.mark.parametrize(("unit", "reads", "takes_part"), SIGHT)
def test_the_location_and_its_ancestors_see_a_topic_and_no_sibling_does(
    unit: str, reads: bool, takes_part: bool
) -> None:
    topic = submitted()
    assert may_read_topic(unit, topic, UNITS) is reads
    assert may_take_part(unit, topic, UNITS) is takes_part


def test_a_pending_transfer_target_takes_part_and_after_returning_it_only_reads() -> None:
    topic = delegated_to_sibling()
    assert may_read_topic(SIBLING_VILLAGE, topic, UNITS)
    assert may_take_part(SIBLING_VILLAGE, topic, UNITS)  # involvement current
    topic.return_transfer(staff(SIBLING_VILLAGE), "不属本社区", at=later(4))
    assert may_read_topic(SIBLING_VILLAGE, topic, UNITS)  # involvement ended: reads
    assert not may_take_part(SIBLING_VILLAGE, topic, UNITS)
    assert not may_read_topic(COUSIN_VILLAGE, topic, UNITS)  # never involved


def test_a_former_holder_outside_the_new_owners_line_reads_but_takes_no_part() -> None:
    topic = delegated_to_sibling()
    topic.accept_transfer(staff(SIBLING_VILLAGE), at=later(4))
    # VILLAGE stays the location (current); the route's holders keep their sight
    assert may_take_part(SIBLING_VILLAGE, topic, UNITS)
    assert may_take_part(TOWNSHIP, topic, UNITS)  # an ancestor of the owner
    assert not may_read_topic(SIBLING_TOWNSHIP, topic, UNITS)


# -- personal data ---------------------------------------------------------------------

PERSONAL_DATA = [
    # (role, unit, reads the submitter of a topic owned by VILLAGE)
    (Role.STAFF, VILLAGE, True),
    (Role.LEADER, VILLAGE, True),
    (Role.HANDLER, VILLAGE, False),
    (Role.MEMBER, VILLAGE, False),
    (Role.AUDITOR, VILLAGE, False),  # auditors replay decisions, not contacts
    (Role.INTAKE, VILLAGE, False),
    (Role.STAFF, TOWNSHIP, False),  # not the owner's ancestors
    (Role.LEADER, PROVINCE, False),
    (Role.AUDITOR, COUNTY, False),
    (Role.STAFF, SIBLING_VILLAGE, False),
]


@pytest.mark.parametrize(("role", "unit", "reads"), PERSONAL_DATA)
def test_only_the_owners_staff_and_leaders_read_personal_data(
    role: Role, unit: str, reads: bool
) -> None:
    assert may_read_personal_data([role], unit, VILLAGE) is reads
    assert reads_personal_data([role]) is (role in (Role.STAFF, Role.LEADER))


def test_any_reading_role_of_a_token_with_several_reads_personal_data() -> None:
    assert may_read_personal_data([Role.AUDITOR, Role.STAFF], VILLAGE, VILLAGE)
    assert not may_read_personal_data([Role.AUDITOR, Role.HANDLER], VILLAGE, VILLAGE)


# -- audit -----------------------------------------------------------------------------

VILLAGE_PATH = ("62", "6201", "620102", "620102001", "620102001001")

AUDIT = [
    # (role, the token's unit, audits VILLAGE)
    (Role.AUDITOR, VILLAGE, True),
    (Role.LEADER, VILLAGE, True),
    (Role.AUDITOR, PROVINCE, True),  # from any ancestor
    (Role.LEADER, TOWNSHIP, True),
    (Role.STAFF, VILLAGE, False),  # staff and the others hold no audit role
    (Role.HANDLER, VILLAGE, False),
    (Role.MEMBER, VILLAGE, False),
    (Role.INTAKE, VILLAGE, False),
    (Role.AUDITOR, SIBLING_VILLAGE, False),  # a sibling at any level: out of reach
    (Role.AUDITOR, SIBLING_TOWNSHIP, False),
    (Role.LEADER, SIBLING_COUNTY, False),
    (Role.AUDITOR, OTHER_CITY, False),
]


@pytest.mark.parametrize(("role", "unit", "audits"), AUDIT)
def test_auditors_and_leaders_audit_their_subtree(role: Role, unit: str, audits: bool) -> None:
    assert may_audit_unit([role], unit, VILLAGE_PATH) is audits
    assert may_audit([role]) is (role in (Role.AUDITOR, Role.LEADER))


def test_an_unknown_unit_is_audited_by_nobody() -> None:
    assert not may_audit_unit([Role.AUDITOR], PROVINCE, None)


def test_the_audit_refusal_names_the_roles_held() -> None:
    require_audit_role([Role.STAFF, Role.LEADER])
    with pytest.raises(ForbiddenError) as err:
        require_audit_role([Role.STAFF, Role.HANDLER])
    assert err.value.rule == "AUDIT_ROLE_REQUIRED"
    assert "STAFF, HANDLER" in err.value.message


# -- operations ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("roles", "unit", "operates"),
    [
        ((Role.AUDITOR,), PROVINCE, True),
        ((Role.STAFF, Role.AUDITOR), PROVINCE, True),
        ((Role.LEADER,), PROVINCE, False),  # leaders audit, they do not operate
        ((Role.STAFF,), PROVINCE, False),
        ((Role.AUDITOR,), CITY, False),  # only the root level sees province-wide figures
        ((Role.AUDITOR,), VILLAGE, False),
    ],
)
def test_only_a_province_auditor_operates(
    roles: tuple[Role, ...], unit: str, operates: bool
) -> None:
    assert may_operate(roles, unit) is operates


# -- the role a command acts in --------------------------------------------------------

ACTING = [
    # (the token's roles, command, the role it acts in)
    ((Role.STAFF,), "determineTopic", Role.STAFF),
    ((Role.HANDLER, Role.STAFF), "determineTopic", Role.STAFF),  # the first permitted
    ((Role.STAFF, Role.HANDLER), "signTask", Role.STAFF),
    ((Role.HANDLER, Role.STAFF), "signTask", Role.HANDLER),
    ((Role.MEMBER, Role.LEADER), "takeOverTopic", Role.LEADER),
    ((Role.AUDITOR, Role.INTAKE), "submitTopic", Role.INTAKE),
    ((Role.AUDITOR, Role.HANDLER), "determineTopic", Role.HANDLER),  # none: the last
]


@pytest.mark.parametrize(("roles", "command", "role"), ACTING)
def test_a_command_acts_in_the_first_role_the_domain_permits(
    roles: tuple[Role, ...], command: str, role: Role
) -> None:
    assert acting_role(roles, command) is role
    assert may_act(roles, command) is (role in COMMAND_ROLES[command])


def test_with_no_permitted_role_the_domain_refuses_the_last_in_its_own_words() -> None:
    topic = submitted()
    role = acting_role((Role.AUDITOR, Role.HANDLER), "determineTopic")
    with pytest.raises(ForbiddenError) as err:
        topic.determine(Actor("u", VILLAGE, role), at=later(1))
    assert err.value.rule == "ROLE_NOT_PERMITTED"
    assert err.value.message.startswith("role HANDLER may not determine the topic")


def _working_topic() -> Topic:
    """A topic at VILLAGE with a held deliberation (M1) and a task T1 for VILLAGE:
    every command reaches its role check (the role is checked before the state)."""
    topic = submitted()
    owner = staff(VILLAGE)
    topic.determine(owner, at=later(1))
    meeting = topic.schedule_deliberation(
        owner, later(3), "议事厅", "OFFLINE", FULL_PANEL, at=later(2)
    )
    topic.record_deliberation(owner, meeting, ["王委员"], "纪要", ["加装加压泵"], at=later(3))
    topic.assign_task(owner, UNITS, VILLAGE, "城建办", "办理", later(30), at=later(4))
    return topic


CALLS: dict[str, Callable[[Topic, Actor], object]] = {
    "submitTopic": lambda t, a: Topic.submit(actor=a, units=UNITS, **submission(a.unit)),
    "determineTopic": lambda t, a: t.determine(a),
    "declineTopic": lambda t, a: t.decline(a, "不予立项"),
    "mergeTopic": lambda t, a: t.merge_into(submitted(), a, UNITS, "重复"),
    "escalateTopic": lambda t, a: t.escalate(a, UNITS, reason="上报"),
    "delegateTopic": lambda t, a: t.delegate(a, UNITS, SIBLING_VILLAGE, "改派"),
    "acceptTransfer": lambda t, a: t.accept_transfer(a),
    "returnTransfer": lambda t, a: t.return_transfer(a, "退回"),
    "cancelTransfer": lambda t, a: t.cancel_transfer(a),
    "takeOverTopic": lambda t, a: t.take_over(a, UNITS, "提级"),
    "inviteCoOrganizer": lambda t, a: t.invite_co_organizer(a, UNITS, SIBLING_VILLAGE),
    "startResearch": lambda t, a: t.start_research(a, "调研"),
    "reportResearch": lambda t, a: t.report_research(a, "报告"),
    "scheduleDeliberation": lambda t, a: t.schedule_deliberation(
        a, START + timedelta(days=40), "议事厅", "OFFLINE", FULL_PANEL
    ),
    "recordDeliberation": lambda t, a: t.record_deliberation(a, "M1", [], "纪要", []),
    "assignTask": lambda t, a: t.assign_task(a, UNITS, VILLAGE, "城建办", "办理", later(60)),
    "signTask": lambda t, a: t.sign_task(a, "T1"),
    "reportTaskProgress": lambda t, a: t.report_task_progress(a, "T1", "进展"),
    "superviseTask": lambda t, a: t.supervise_task(a, UNITS, "T1", "督办"),
    "extendTaskDeadline": lambda t, a: t.extend_task_deadline(a, "T1", later(90), "延期"),
    "completeTask": lambda t, a: t.complete_task(a, "T1", "完成"),
    "recordLeaderInstruction": lambda t, a: t.record_leader_instruction(a, UNITS, "批示"),
    "recordAdoption": lambda t, a: t.record_adoption(a, UNITS, "区政府", "采纳"),
    "giveFeedback": lambda t, a: t.give_feedback(a, "答复"),
    "recordReturnVisit": lambda t, a: t.record_return_visit(a, True, True, "SATISFIED"),
    "reopenTopic": lambda t, a: t.reopen(a, "重办"),
    "closeTopic": lambda t, a: t.close(a, "办结"),
    "withdrawTopic": lambda t, a: t.withdraw(a, "撤回"),
    "addComment": lambda t, a: t.add_comment(a, UNITS, "留言"),
}


def test_every_command_has_its_roles_and_a_probe() -> None:
    assert set(COMMAND_ROLES) == set(CALLS) == {c.name for c in COMMAND_TYPES}


@pytest.mark.parametrize("command", sorted(COMMAND_ROLES))
@pytest.mark.parametrize("role", list(Role))
def test_the_roles_of_each_command_are_the_ones_its_guards_check(command: str, role: Role) -> None:
    topic = _working_topic()
    try:
        CALLS[command](topic, actor(VILLAGE, role))
        refused = False
    except LinkageError as err:
        refused = err.rule == "ROLE_NOT_PERMITTED"
    assert refused is (role not in COMMAND_ROLES[command]), (command, role)
