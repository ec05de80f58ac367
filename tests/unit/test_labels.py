"""Every code a person reads has its Chinese name (issue 21): the command line, the demo
and the GraphQL descriptions take them from `domain.labels`."""

from __future__ import annotations

from domain import labels
from domain.lifecycle import event_classes
from domain.plan import ConsultationPlan, PlanItemState, PlanKind, PlanState
from domain.topic import (
    ParticipantKind,
    Role,
    Satisfaction,
    Source,
    Stage,
    TaskStatus,
    Topic,
    TransferKind,
)
from domain.units import Level


def test_every_event_of_a_topic_and_a_plan_has_a_chinese_name() -> None:
    declared = {cls.__name__ for cls in event_classes(Topic) + event_classes(ConsultationPlan)}
    assert declared - set(labels.EVENT) == set()
    assert set(labels.EVENT) - declared == set()  # no name for an event that is gone


def test_every_value_of_every_enum_has_a_chinese_name() -> None:
    enums = (
        Level, Stage, Source, Role, TransferKind, TaskStatus, Satisfaction, ParticipantKind,
        PlanKind, PlanState, PlanItemState,
    )  # fmt: skip
    for enum in enums:
        table = labels.ENUM_LABELS[enum.__name__]
        assert set(table) == {v.name for v in enum}, enum.__name__
        assert all(name.strip() for name in table.values())


def test_an_event_reads_in_chinese_with_its_code() -> None:
    assert labels.event_name("EscalationRequested") == "申请上交(EscalationRequested)"
    assert labels.label(Role.STAFF) == "工作人员"
    assert labels.label(Stage.CLOSED) == "已办结"
    assert labels.event_name("SomethingNew") == "SomethingNew"  # never hidden
