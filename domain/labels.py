"""The Chinese names of the platform's codes: stages, roles, events, transfers, …

One table for every Python surface (the command line, the demo, the GraphQL enum
descriptions); the console keeps the same words in `api/console/static/js/ui.js`.
`tests/unit/test_labels.py` checks that every value and every event has its name.
"""

from __future__ import annotations

from enum import Enum

from domain.plan import PLAN_KIND_LABELS, PlanItemState, PlanState
from domain.topic import (
    ParticipantKind,
    Role,
    Satisfaction,
    Source,
    Stage,
    TaskStatus,
    TransferKind,
)
from domain.units import Level

LEVEL = {
    Level.PROVINCE: "省",
    Level.CITY: "市（州）",
    Level.COUNTY: "县（区）",
    Level.TOWNSHIP: "乡镇（街道）",
    Level.VILLAGE: "村（社区）",
}
STAGE = {
    Stage.COLLECTED: "收集议题",
    Stage.DETERMINED: "确定议题",
    Stage.RESEARCH: "议前调研",
    Stage.DELIBERATION: "协商议事",
    Stage.HANDLING: "办理实施",
    Stage.FEEDBACK: "结果反馈",
    Stage.CLOSED: "已办结",
    Stage.DECLINED: "不予立项",
    Stage.WITHDRAWN: "已撤回",
    Stage.MERGED: "已合并",
}
SOURCE = {
    Source.HOTLINE_12345: "12345 热线",
    Source.MEMBER_PROPOSAL: "委员提案",
    Source.SOCIAL_INFO: "社情民意",
    Source.VISIT: "走访",
    Source.ONLINE: "网络征集",
    Source.GRID: "网格",
    Source.OTHER: "其他",
}
ROLE = {
    Role.STAFF: "工作人员",
    Role.LEADER: "领导",
    Role.HANDLER: "承办人",
    Role.MEMBER: "政协委员",
    Role.AUDITOR: "督查审计",
    Role.INTAKE: "接入系统",
}
TRANSFER = {
    TransferKind.ESCALATION: "上交",
    TransferKind.DELEGATION: "下放",
    TransferKind.TAKEOVER: "提级",
}
TASK_STATUS = {
    TaskStatus.ASSIGNED: "待签收",
    TaskStatus.SIGNED: "办理中",
    TaskStatus.COMPLETED: "已办结",
}
SATISFACTION = {
    Satisfaction.SATISFIED: "满意",
    Satisfaction.BASICALLY_SATISFIED: "基本满意",
    Satisfaction.UNSATISFIED: "不满意",
}
PARTICIPANT = {
    ParticipantKind.MEMBER: "政协委员",
    ParticipantKind.CADRE: "村（社区）干部",
    ParticipantKind.DEPARTMENT: "部门负责人",
    ParticipantKind.PUBLIC: "群众代表",
    ParticipantKind.STAKEHOLDER: "利益相关方",
}
PLAN_STATE = {
    PlanState.DRAFT: "草拟",
    PlanState.SUBMITTED: "已报审",
    PlanState.APPROVED: "已印发",
}
PLAN_ITEM_STATE = {
    PlanItemState.PLANNED: "计划中",
    PlanItemState.DONE: "已完成",
    PlanItemState.CANCELLED: "已取消",
}
# why a topic is in an inbox (InboxItem.reason, a String in the contract)
INBOX_REASON = {
    "OWNED": "本单位承办",
    "TRANSFER_PENDING": "待接收转交",
    "TASK_TO_SIGN": "待签收任务",
    "TASK_TO_COMPLETE": "待办结任务",
}
# which topics a list holds (TopicFilter.scope)
SCOPE = {"OWNED": "本单位承办的", "SUBTREE": "本单位及下级的", "INVOLVED": "本单位参与的"}

EVENT = {
    "TopicSubmitted": "提交议题",
    "TopicDetermined": "确定议题",
    "TopicDeclined": "不予立项",
    "TopicMerged": "合并到其他议题",
    "TopicAbsorbed": "并入议题",
    "EscalationRequested": "申请上交",
    "DelegationRequested": "指定下放",
    "TransferAccepted": "接收转交",
    "TransferReturned": "退回转交",
    "TransferCancelled": "撤回转交",
    "TopicTakenOver": "提级办理",
    "CoOrganizerInvited": "邀请联动协商",
    "ResearchStarted": "开始议前调研",
    "ResearchReported": "报告调研结果",
    "DeliberationScheduled": "安排协商会议",
    "DeliberationHeld": "召开协商会议",
    "TaskAssigned": "交办任务",
    "TaskSigned": "签收任务",
    "TaskProgressReported": "报告办理进展",
    "TaskSupervised": "督办",
    "TaskDeadlineExtended": "延长期限",
    "TaskCompleted": "办结任务",
    "LeaderInstructionRecorded": "领导批示",
    "OutcomeAdopted": "成果采纳",
    "FeedbackGiven": "结果反馈",
    "ReturnVisitRecorded": "回访",
    "TopicReopened": "重新办理",
    "TopicClosed": "议题办结",
    "TopicWithdrawn": "撤回议题",
    "CommentAdded": "评论",
    # the annual consultation plan (年度协商计划)
    "PlanDrafted": "草拟年度协商计划",
    "PlanItemAdded": "增加计划事项",
    "PlanSubmitted": "报审计划",
    "PlanApproved": "批准印发计划",
    "PlanItemAdjusted": "调整计划事项",
    "PlanItemCancelled": "取消计划事项",
    "PlanItemLinked": "关联议题或会议",
    "PlanItemCompleted": "完成计划事项",
}

# every enum with its table, by the enum's name (the GraphQL enum of the same name)
ENUM_LABELS: dict[str, dict[str, str]] = {
    "Level": {level.name: name for level, name in LEVEL.items()},
    "Stage": {k.value: v for k, v in STAGE.items()},
    "Source": {k.value: v for k, v in SOURCE.items()},
    "Role": {k.value: v for k, v in ROLE.items()},
    "TransferKind": {k.value: v for k, v in TRANSFER.items()},
    "TaskStatus": {k.value: v for k, v in TASK_STATUS.items()},
    "Satisfaction": {k.value: v for k, v in SATISFACTION.items()},
    "ParticipantKind": {k.value: v for k, v in PARTICIPANT.items()},
    "PlanKind": {k.value: v for k, v in PLAN_KIND_LABELS.items()},
    "PlanState": {k.value: v for k, v in PLAN_STATE.items()},
    "PlanItemState": {k.value: v for k, v in PLAN_ITEM_STATE.items()},
    "Scope": SCOPE,
}


def label(value: Enum | str | None) -> str:
    """The Chinese name of a code (the code itself when it has none)."""
    if value is None:
        return "—"
    for table in (STAGE, ROLE, SOURCE, TRANSFER, TASK_STATUS, SATISFACTION, PARTICIPANT):
        if value in table:
            return table[value]  # type: ignore[index]
    return EVENT.get(str(value), str(value))


def event_name(event_type: str) -> str:
    """`申请上交(EscalationRequested)`: the Chinese name, the code in parentheses."""
    name = EVENT.get(event_type)
    return f"{name}({event_type})" if name else event_type
