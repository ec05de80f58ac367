"""The schema's descriptions for county developers, in Chinese and English (issue 21).

Kept as tables rather than on each strawberry field so that a feature folder adds its
fields without touching every line: `describe(schema)` (called once by
`api.graphql.schema.build_schema`) writes them onto the built schema, where
introspection, GraphiQL and schema.graphql show them. `TYPES` describes a type,
`FIELDS` a field of one type, `COMMON` a field name that means the same wherever it
appears; enum values take their Chinese names from `domain.labels`.
`tests/unit/test_graphql_descriptions.py` fails for any type, field or enum value
left undescribed — a new one is described here in the same change.
"""

from __future__ import annotations

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
)

from domain import labels

ZhEn = tuple[str, str]

BUILT_IN = frozenset({"String", "Int", "Float", "Boolean", "ID"})


def _codes(table: dict[str, str]) -> str:
    return "；".join(f"{code} {name}" for code, name in table.items())


TYPES: dict[str, ZhEn] = {
    # the contract's types
    "Query": (
        "查询入口。所有读取都按令牌所属单位的可见范围过滤。",
        "Reads, always within the token's unit's sight.",
    ),
    "Mutation": (
        "命令入口：每个变更对应六步闭环中的一个步骤，被拒绝时返回带 code 与 rule 的错误。",
        "Commands: each is one step of the loop; a refusal is an error with code and rule.",
    ),
    "Node": (
        "可按全局 id 取回的对象（议题或单位）。",
        "An object fetched by its global id (topic or unit).",
    ),
    "PageInfo": ("分页信息（游标分页）。", "Cursor pagination state."),
    "Viewer": ("当前令牌代表的用户。", "Who the token acts for."),
    "Unit": (
        "五级体系中的一个单位：省、市（州）、县（区）、乡镇（街道）、村（社区）。",
        "A unit of the five-level hierarchy.",
    ),
    "UnitEdge": ("单位列表中的一项。", "One unit of a list."),
    "UnitConnection": ("单位列表（分页）。", "A page of units."),
    "Transfer": (
        "待处理的转交：上交、下放或提级。",
        "A pending transfer: escalation, delegation or take-over.",
    ),
    "Hop": (
        "议题流转经过的一个单位及其停留时间。",
        "A unit on the topic's route and how long it held it.",
    ),
    "Task": ("交办给承办单位的任务。", "A task assigned to a handling unit."),
    "Participant": ("协商会议的参加人（4+X）。", "A participant of a deliberation (4+X)."),
    "Meeting": ("协商会议：安排与召开。", "A deliberation meeting, scheduled and held."),
    "ReturnVisit": ("对群众的回访记录。", "A return visit to the people who raised the topic."),
    "Topic": (
        "协商议题：六步闭环（收集—确定—调研—协商—办理—反馈）的对象。",
        "A consultation topic through the six-step loop.",
    ),
    "TopicEdge": ("议题列表中的一项。", "One topic of a list."),
    "TopicConnection": ("议题列表（分页）。", "A page of topics."),
    "Actor": ("做出决定的人：用户、单位与角色。", "Who took a decision: user, unit and role."),
    "Event": (
        "决策记录中的一条事件（不可更改）。",
        "One event of the decision history (immutable).",
    ),
    "EventEdge": ("事件列表中的一项。", "One event of a list."),
    "EventConnection": (
        "决策记录（分页，按版本顺序）。",
        "A page of the decision history, in version order.",
    ),
    "InboxItem": (
        "待办事项：某单位需要处理的议题及原因。",
        "A topic the unit must act on, and why.",
    ),
    "InboxEdge": ("待办列表中的一项。", "One inbox item of a list."),
    "InboxConnection": ("待办列表（分页，逾期的在前）。", "A page of the inbox, overdue first."),
    "Count": ("按某个键的计数。", "A count by one key."),
    "MonthStats": ("某月（中国时间）的统计。", "The figures of one month (China time)."),
    "Stats": ("某单位及其下级的统计指标。", "The figures of a unit's subtree."),
    "TopicFilter": ("议题列表的筛选条件。", "What a topic list holds."),
    "TopicPayload": (
        "命令执行后的议题与事件存储位置。",
        "The topic after a command and the store position reached.",
    ),
    "DateTime": (
        "带时区偏移的 ISO 8601 时间，如 2026-03-02T09:30:00+08:00。",
        "ISO 8601 date and time with an offset.",
    ),
    "JSON": ("任意 JSON 值。", "Any JSON value."),
    # inputs of the commands
    "ParticipantInput": ("协商会议参加人。", "A participant of a deliberation."),
    "SubmitTopicInput": ("提交议题。", "Submit a topic."),
    "TopicNoteInput": ("带可选说明的议题命令。", "A topic command with an optional note."),
    "TopicReasonInput": ("必须说明理由的议题命令。", "A topic command that needs a reason."),
    "MergeTopicInput": ("把议题合并到另一议题。", "Merge a topic into another."),
    "EscalateTopicInput": ("申请上交到上级单位。", "Escalate to an ancestor unit."),
    "DelegateTopicInput": ("指定下放到下级单位。", "Delegate to a descendant unit."),
    "InviteCoOrganizerInput": ("邀请其他单位联动协商。", "Invite a co-organizing unit."),
    "ResearchInput": ("议前调研的内容。", "The research's text."),
    "ScheduleDeliberationInput": ("安排协商会议。", "Schedule a deliberation."),
    "RecordDeliberationInput": ("记录召开的协商会议。", "Record a held deliberation."),
    "AssignTaskInput": ("交办任务。", "Assign a task."),
    "TaskInput": ("指明议题中的一项任务。", "A task of a topic."),
    "TaskNoteInput": ("对任务的说明（进展、督办）。", "A note on a task (progress, supervision)."),
    "ExtendTaskDeadlineInput": ("延长任务期限。", "Extend a task's deadline."),
    "CompleteTaskInput": ("办结任务。", "Complete a task."),
    "LeaderInstructionInput": ("领导批示。", "A leader's instruction."),
    "AdoptionInput": ("协商成果被采纳。", "An adoption of the outcome."),
    "FeedbackInput": ("向群众反馈结果。", "Feedback to the people."),
    "ReturnVisitInput": ("回访结果。", "A return visit's result."),
    "CloseTopicInput": ("办结议题。", "Close a topic."),
    "CommentInput": ("评论。", "A comment."),
    # the annual consultation plan (plans section)
    "ConsultationPlan": (
        "年度协商计划（三办联合印发）。",
        "A committee's annual consultation plan.",
    ),
    "PlanItem": ("年度协商计划中的一项。", "An item of the annual plan."),
    "PlanAdjustment": (
        "批准后对计划事项的调整及理由。",
        "A change to an item after approval, with its reason.",
    ),
    "PlanProgress": ("按类别的计划数与完成数。", "Planned against done, by kind."),
    "PlanRollup": (
        "某单位计划的完成情况（含下级汇总）。",
        "A unit's plan progress (rolled up for children).",
    ),
    "PlanPayload": ("计划命令执行后的计划。", "The plan after a command."),
    "DraftPlanInput": ("草拟年度协商计划。", "Draft a year's plan."),
    "PlanItemInput": ("增加计划事项。", "Add an item to a plan."),
    "PlanRefInput": ("指明一个计划。", "A plan."),
    "ApprovePlanInput": ("批准并联合印发计划。", "Approve and jointly issue a plan."),
    "AdjustPlanItemInput": ("调整计划事项（须说明理由）。", "Adjust an item (with a reason)."),
    "LinkPlanItemInput": ("把计划事项关联到议题或会议。", "Link an item to a topic or meeting."),
    "PlanItemRefInput": ("指明计划中的一项。", "An item of a plan."),
    "PlanItemReasonInput": ("带理由的计划事项命令。", "An item command with a reason."),
    # enums
    "Level": ("单位层级。", "A unit's level."),
    "Stage": (
        "议题所处阶段（六步闭环及终止状态）。",
        "A topic's stage (the six steps and the ends).",
    ),
    "Source": ("议题来源。", "Where a topic came from."),
    "Scope": ("列表范围。", "Which topics a list holds."),
    "TransferKind": ("转交方式。", "How a topic moves between levels."),
    "TaskStatus": ("任务状态。", "A task's state."),
    "Satisfaction": ("群众满意度。", "The people's verdict."),
    "ParticipantKind": ("参加人类别（4+X）。", "A participant's kind (4+X)."),
    "Role": ("用户角色。", "A user's role."),
    "PlanKind": ("计划事项类别。", "A plan item's kind."),
    "PlanState": ("计划状态。", "A plan's state."),
    "PlanItemState": ("计划事项状态。", "A plan item's state."),
}

# A field name with one meaning wherever it appears (a type's own entry wins).
COMMON: dict[str, ZhEn] = {
    "id": ("全局 id（Node）。", "The global id (Node)."),
    "topicId": ("议题编号（UUID，或议题的全局 id）。", "The topic's UUID (or its global id)."),
    "taskId": ("任务编号。", "The task's id."),
    "meetingId": ("协商会议编号。", "The meeting's id."),
    "planId": ("计划编号。", "The plan's id."),
    "itemId": ("计划事项编号。", "The plan item's id."),
    "edges": ("本页各项。", "This page's items."),
    "node": ("该项。", "The item."),
    "cursor": ("该项的游标（传给 after 取下一页）。", "The item's cursor (pass as `after`)."),
    "pageInfo": ("分页信息。", "Pagination state."),
    "totalCount": ("总数（不止本页）。", "How many in all (not just this page)."),
    "hasNextPage": ("是否还有下一页。", "Whether another page follows."),
    "endCursor": ("本页最后一项的游标。", "The cursor of this page's last item."),
    "position": (
        "事件存储中的位置（传给 consistentWith 可读到自己的写入）。",
        "The store position (pass as consistentWith to read your write).",
    ),
    "createdId": ("新建的会议编号或任务编号。", "A new meetingId or taskId."),
    "reason": ("理由。", "The reason."),
    "note": ("说明（可不填）。", "A note (optional)."),
    "text": ("内容。", "The text."),
    "userId": ("用户编号。", "The user's id."),
    "unit": ("单位代码（行政区划代码）。", "The unit's code (division code)."),
    "kind": ("类别。", "The kind."),
    "title": ("标题。", "The title."),
    "due": ("期限（带时区偏移）。", "The deadline (with an offset)."),
    "overdue": ("是否已逾期（按当前时间计算）。", "Whether it is overdue (computed at read time)."),
    "name": ("姓名或名称。", "The name."),
    "memberId": ("政协委员编号（可不填）。", "The CPPCC member's id (optional)."),
    "comment": ("群众意见（可不填）。", "The people's comment (optional)."),
    "contacted": ("是否联系上。", "Whether the people were reached."),
    "solved": ("问题是否解决。", "Whether the matter is solved."),
    "satisfaction": ("满意度。", "The verdict."),
    "planned": ("计划数。", "Items planned."),
    "done": ("完成数。", "Items done."),
    "plan": ("计划。", "The plan."),
    "topic": ("议题。", "The topic."),
    "year": ("年度。", "The year."),
    "state": ("状态。", "The state."),
    "issuedBy": (
        "联合印发单位（如党委办公室、政府办公室、政协办公室）。",
        "The offices that jointly issue it.",
    ),
    "plannedFor": (
        "计划时间（年月，如 2026-05）。",
        "When it is planned (year-month, e.g. 2026-05).",
    ),
    "leadLeader": ("牵头领导。", "The leading leader."),
    "leadCommittee": ("牵头专委会或部门。", "The leading committee or office."),
    "origin": ("事项来源（如党委交办）。", "Where the item came from."),
    "participants": ("参加人（4+X）。", "The participants (4+X)."),
    "attendance": ("实到人员姓名。", "Who attended, by name."),
    "minutes": ("会议纪要。", "The minutes."),
    "recommendations": ("协商建议清单。", "The recommendations."),
    "scheduledAt": ("会议时间。", "When the meeting is."),
    "place": ("会议地点。", "Where it is."),
    "format": ("协商形式（如现场协商、网络协商）。", "The format (on site, online, …)."),
    "handlerUnit": ("承办单位。", "The handling unit."),
    "handler": ("承办人或承办部门。", "The handler (person or office)."),
    "requirement": ("办理要求。", "What must be done."),
    "result": ("办理结果。", "The result."),
    "category": ("类别（如供水、物业管理）。", "The category (e.g. water supply)."),
    "source": ("来源。", "The source."),
    "stage": ("阶段。", "The stage."),
    "month": ("月份（中国时间，如 2026-03）。", "The month (China time, e.g. 2026-03)."),
    "submitted": ("提交的议题数。", "Topics submitted."),
    "closed": ("办结的议题数。", "Topics closed."),
    "visits": (
        "有效回访次数（回访类比率的样本）。",
        "Valid return visits: the sample of the visit rates.",
    ),
    "satisfactionRate": (
        "满意率 =（满意 + 0.9 × 基本满意）/ 回访数。",
        "(satisfied + 0.9 × basically satisfied) / visits.",
    ),
    "responseRate": ("响应率 = 联系上 / 回访数。", "contacted / visits."),
    "resolutionRate": ("解决率 = 已解决 / 回访数。", "solved / visits."),
    "onTimeSignRate": ("及时签收率：按时签收的任务占比。", "Share of tasks signed in time."),
    "onTimeCompletionRate": (
        "按时办结率：按期办结的任务占比。",
        "Share of tasks completed by their due.",
    ),
    "returnRate": ("退单率 = 退回的转交 / 转交数。", "returned transfers / transfers."),
    "redoRate": ("重办率 = 重新办理 / 办结数。", "reopened / closed."),
    "actor": ("做出决定的人。", "Who took the decision."),
}

FIELDS: dict[tuple[str, str], ZhEn] = {
    ("Query", "me"): ("当前令牌代表的用户。", "Who the token acts for."),
    ("Query", "node"): (
        "按全局 id 取议题或单位；不在可见范围内则为 null。",
        "A Topic or Unit by its global id (null if not in sight).",
    ),
    ("Query", "unit"): (
        "按代码取单位（本单位的下级或上级）。",
        "A unit in the viewer's subtree or above it.",
    ),
    ("Query", "units"): (
        "下级单位列表；给出 level 时为该层级的全部下级。",
        "Children of `parent`, or with `level` its descendants at that level.",
    ),
    ("Query", "topic"): (
        "按全局 id 或议题编号取议题；asOf 取过去某一时刻的状态；不可见则为 null。",
        "A topic by global id or topicId; `asOf` for a past instant; null when not in sight.",
    ),
    ("Query", "topics"): ("议题列表（搜索、筛选）。", "Topics, searched and filtered."),
    ("Query", "inbox"): (
        "单位的待办（默认本单位），逾期的在前。",
        "What the unit (default the viewer's) must act on, overdue first.",
    ),
    ("Query", "crossLevelTopics"): (
        "跨层级议题：在本单位下级中改变过层级的议题。",
        "Topics in the unit's subtree that changed level.",
    ),
    ("Query", "stats"): (
        "单位及每个下级的统计指标，按中国时间的月份。",
        "Figures of the unit's subtree and each child, by month (China time).",
    ),
    ("Query", "timeline"): ("议题的决策记录（事件列表）。", "A topic's decision history."),
    ("Query", "consultationPlan"): (
        "单位某年度的协商计划；没有或不可见则为 null。",
        "The unit's plan for the year; null when none or not in sight.",
    ),
    ("Query", "planProgress"): (
        "计划完成情况：先本单位，再每个下级一行。",
        "The unit itself first, then one row per child unit.",
    ),
    # mutations: the steps of the loop
    ("Mutation", "submitTopic"): ("提交议题（收集议题）。", "Submit a topic (collection)."),
    ("Mutation", "determineTopic"): (
        "确定议题：列入协商。",
        "Determine the topic: accept it for consultation.",
    ),
    ("Mutation", "declineTopic"): (
        "不予立项（须说明理由）。",
        "Decline the topic (with a reason).",
    ),
    ("Mutation", "mergeTopic"): ("把议题合并到另一议题。", "Merge the topic into another."),
    ("Mutation", "escalateTopic"): (
        "申请上交到上级单位（默认直接上级）。",
        "Escalate to an ancestor (default the parent).",
    ),
    ("Mutation", "delegateTopic"): ("指定下放到下级单位。", "Delegate to a descendant."),
    ("Mutation", "acceptTransfer"): (
        "接收转交给本单位的议题。",
        "Accept a transfer to the viewer's unit.",
    ),
    ("Mutation", "returnTransfer"): (
        "退回转交（须说明理由）。",
        "Return a transfer (with a reason).",
    ),
    ("Mutation", "cancelTransfer"): ("撤回本单位发出的转交。", "Cancel a transfer the unit sent."),
    ("Mutation", "takeOverTopic"): (
        "提级办理：上级单位直接接手。",
        "Take the topic over from a descendant.",
    ),
    ("Mutation", "inviteCoOrganizer"): ("邀请其他单位联动协商。", "Invite a co-organizing unit."),
    ("Mutation", "startResearch"): ("开始议前调研。", "Start the research."),
    ("Mutation", "reportResearch"): ("报告调研结果。", "Report the research."),
    ("Mutation", "scheduleDeliberation"): (
        "安排协商会议（4+X）。",
        "Schedule a deliberation (4+X).",
    ),
    ("Mutation", "recordDeliberation"): (
        "记录召开的协商会议：出席、纪要、建议。",
        "Record a held deliberation.",
    ),
    ("Mutation", "assignTask"): ("交办任务。", "Assign a task."),
    ("Mutation", "signTask"): ("签收任务（承办单位）。", "Sign for a task (the handling unit)."),
    ("Mutation", "reportTaskProgress"): ("报告办理进展。", "Report a task's progress."),
    ("Mutation", "superviseTask"): ("督办任务（承办单位的上级）。", "Supervise a task."),
    ("Mutation", "extendTaskDeadline"): (
        "延长任务期限（须说明理由）。",
        "Extend a task's deadline (with a reason).",
    ),
    ("Mutation", "completeTask"): ("办结任务。", "Complete a task."),
    ("Mutation", "recordLeaderInstruction"): ("记录领导批示。", "Record a leader's instruction."),
    ("Mutation", "recordAdoption"): ("记录协商成果被采纳。", "Record an adoption of the outcome."),
    ("Mutation", "giveFeedback"): (
        "向群众反馈结果（任务办结后）。",
        "Give feedback (after the tasks are done).",
    ),
    ("Mutation", "recordReturnVisit"): ("记录回访结果。", "Record a return visit."),
    ("Mutation", "reopenTopic"): (
        "重新办理（群众不满意时）。",
        "Reopen the topic (after an unsatisfied visit).",
    ),
    ("Mutation", "closeTopic"): ("办结议题。", "Close the topic."),
    ("Mutation", "withdrawTopic"): ("撤回议题。", "Withdraw the topic."),
    ("Mutation", "addComment"): ("评论议题。", "Comment on the topic."),
    ("Mutation", "draftPlan"): ("草拟年度协商计划。", "Draft a year's plan."),
    ("Mutation", "addPlanItem"): ("增加计划事项。", "Add an item."),
    ("Mutation", "submitPlan"): ("报审计划。", "Submit the plan for approval."),
    ("Mutation", "approvePlan"): (
        "批准并联合印发计划（领导）。",
        "Approve and issue the plan (a leader).",
    ),
    ("Mutation", "adjustPlanItem"): (
        "调整计划事项（批准后须说明理由）。",
        "Adjust an item (after approval, with a reason).",
    ),
    ("Mutation", "linkPlanItem"): (
        "把计划事项关联到议题或会议。",
        "Link an item to a topic or meeting.",
    ),
    ("Mutation", "completePlanItem"): ("完成计划事项。", "Mark an item done."),
    ("Mutation", "cancelPlanItem"): (
        "取消计划事项（须说明理由）。",
        "Cancel an item (with a reason).",
    ),
    # the read types
    ("Viewer", "unit"): ("所属单位。", "The user's unit."),
    ("Viewer", "roles"): ("角色。", "The user's roles."),
    ("Unit", "code"): (
        "行政区划代码（省 2 位 … 村 12 位）。",
        "The division code (2 digits for a province … 12 for a village).",
    ),
    ("Unit", "name"): ("单位名称。", "The unit's name."),
    ("Unit", "level"): ("层级。", "The level."),
    ("Unit", "retired"): (
        "已被区划导入撤销（为历史保留）。",
        "Retired by a hierarchy import (kept for history).",
    ),
    ("Unit", "parent"): ("上级单位。", "The parent unit."),
    ("Unit", "ancestors"): ("全部上级，省在前。", "Every ancestor, province first."),
    ("Unit", "children"): ("下级单位（只含可见的）。", "The children in the viewer's sight."),
    ("Transfer", "kind"): ("转交方式。", "The kind of transfer."),
    ("Transfer", "fromUnit"): ("发出单位。", "The sending unit."),
    ("Transfer", "toUnit"): ("接收单位。", "The receiving unit."),
    ("Transfer", "requestedAt"): ("发出时间。", "When it was sent."),
    ("Transfer", "due"): (
        "接收后的办理期限（下放时）。",
        "The deadline after acceptance (delegations).",
    ),
    ("Transfer", "skipLevel"): (
        "是否越级上交（须说明理由）。",
        "An escalation past the parent (needs a reason).",
    ),
    ("Hop", "unit"): ("经过的单位。", "The unit that held the topic."),
    ("Hop", "enteredAt"): ("进入时间。", "When it arrived."),
    ("Hop", "leftAt"): (
        "离开时间；仍在该单位则为 null。",
        "When it left; null while it is still there.",
    ),
    ("Hop", "via"): ("进入方式；提交地为 null。", "How it arrived; null at submission."),
    ("Hop", "days"): (
        "在该单位停留的天数（至今）。",
        "Days this unit held the topic (so far, if it still does).",
    ),
    ("Task", "status"): ("任务状态。", "The task's state."),
    ("Task", "assignedAt"): ("交办时间。", "When it was assigned."),
    ("Task", "signedAt"): ("签收时间。", "When it was signed for."),
    ("Task", "completedAt"): ("办结时间。", "When it was completed."),
    ("Task", "supervisions"): ("督办次数。", "How many times it was supervised."),
    ("Task", "extensions"): ("延期次数。", "How many times its deadline was extended."),
    ("Participant", "kind"): ("参加人类别。", "The participant's kind."),
    ("Meeting", "heldAt"): ("召开时间；尚未召开则为 null。", "When it was held; null until then."),
    ("ReturnVisit", "visitedAt"): ("回访时间。", "When the visit was."),
    ("Topic", "description"): ("议题内容。", "What the topic is about."),
    ("Topic", "locationUnit"): ("发生地（村、社区等）。", "Where it happens."),
    ("Topic", "owner"): ("当前承办单位。", "The unit that holds it now."),
    ("Topic", "pendingTransfer"): (
        "待接收的转交；没有则为 null。",
        "The transfer awaiting acceptance, if any.",
    ),
    ("Topic", "coOrganizers"): ("联动协商单位。", "The co-organizing units."),
    ("Topic", "route"): ("流转路径：依次经过的单位。", "Every unit that held it, in order."),
    ("Topic", "crossLevel"): ("是否跨层级流转过。", "Whether it changed level on its way."),
    ("Topic", "tasks"): ("交办的任务。", "The tasks."),
    ("Topic", "meetings"): ("协商会议。", "The deliberations."),
    ("Topic", "feedback"): ("反馈给群众的答复。", "The reply given to the people."),
    ("Topic", "returnVisits"): ("回访记录。", "The return visits."),
    ("Topic", "returns"): ("被退回的转交次数。", "Returned transfers (ping-pong)."),
    ("Topic", "reopened"): ("重新办理次数。", "Times reopened after an unsatisfied visit."),
    ("Topic", "mergedInto"): ("合并到的议题编号。", "The topic it was merged into."),
    ("Topic", "version"): (
        "版本号（事件数），用于乐观并发。",
        "The version (events so far), for optimistic concurrency.",
    ),
    ("Topic", "submittedAt"): ("提交时间。", "When it was submitted."),
    ("Topic", "updatedAt"): ("最近一次变更时间。", "When it last changed."),
    ("Topic", "closedAt"): ("办结时间。", "When it was closed."),
    ("Topic", "asOf"): (
        "按过去某一时刻重建时的时刻。",
        "Set when the topic was reconstructed for a past instant.",
    ),
    ("Topic", "timeline"): ("决策记录。", "The decision history."),
    ("Actor", "unit"): ("所属单位。", "The actor's unit."),
    ("Actor", "role"): ("以何角色做出决定。", "The role the decision was taken in."),
    ("Event", "version"): ("议题的第几个事件。", "The event's number within its topic."),
    ("Event", "type"): (
        "事件类型代码：" + _codes(labels.EVENT) + "。",
        "The event type's code (the Chinese names above).",
    ),
    ("Event", "occurredAt"): ("发生时间。", "When it happened."),
    ("Event", "data"): (
        "事件内容：事件存储中的字段（snake_case 的 JSON），个人信息已隐去。",
        "The event's fields as stored (snake_case JSON), personal data withheld.",
    ),
    ("InboxItem", "reason"): (
        "待办原因：" + _codes(labels.INBOX_REASON) + "。",
        "Why: OWNED | TRANSFER_PENDING | TASK_TO_SIGN | TASK_TO_COMPLETE.",
    ),
    ("InboxItem", "taskId"): ("相关任务编号（任务类待办）。", "The task, for a task's item."),
    ("InboxItem", "since"): ("成为待办的时间。", "Since when it waits."),
    ("Count", "key"): (
        "键（如阶段、类别、来源的代码）。",
        "The key (a stage, category or source).",
    ),
    ("Count", "count"): ("数量。", "How many."),
    ("Stats", "unit"): ("统计的单位。", "The unit."),
    ("Stats", "total"): ("议题总数。", "Topics in all."),
    ("Stats", "open"): ("在办议题数。", "Open topics."),
    ("Stats", "closed"): ("办结议题数。", "Closed topics."),
    ("Stats", "overdue"): ("逾期议题数。", "Overdue topics."),
    ("Stats", "byStage"): ("按阶段计数。", "Counts by stage."),
    ("Stats", "byCategory"): ("按类别计数。", "Counts by category."),
    ("Stats", "bySource"): ("按来源计数。", "Counts by source."),
    ("Stats", "medianDaysToClose"): ("办结天数中位数。", "Median days to close."),
    ("Stats", "transfers"): ("转交次数。", "Transfers."),
    ("Stats", "returns"): ("退回的转交次数。", "Returned transfers (ping-pong)."),
    ("Stats", "ranked"): (
        "样本是否达到排名的最低要求。",
        "Whether the sample reaches the ranking minimum.",
    ),
    ("Stats", "children"): ("每个下级单位一项。", "One per child unit."),
    ("Stats", "ranking"): (
        "样本足够的下级，按满意率从高到低。",
        "Children with enough visits, best 满意率 first.",
    ),
    ("Stats", "months"): ("按月统计。", "By month."),
    ("TopicFilter", "scope"): ("范围（默认本单位及下级）。", "Which topics (default the subtree)."),
    ("TopicFilter", "unit"): (
        "单位代码，默认本单位。",
        "The unit's code; defaults to the viewer's unit.",
    ),
    ("TopicFilter", "stage"): ("只含这些阶段。", "Only these stages."),
    ("TopicFilter", "category"): ("只含该类别。", "Only this category."),
    ("TopicFilter", "source"): ("只含该来源。", "Only this source."),
    ("TopicFilter", "crossLevel"): ("只含跨层级流转过的。", "Only topics that changed level."),
    ("TopicFilter", "overdue"): ("只含逾期的。", "Only overdue topics."),
    ("TopicFilter", "text"): (
        "在标题、内容、编号和外部编号中搜索。",
        "Search in title, description, id and external ref.",
    ),
    ("TopicPayload", "duplicate"): (
        "按外部编号重复提交：未记录新事件。",
        "A re-submission with a known externalRef: nothing recorded.",
    ),
    ("TopicPayload", "topic"): (
        "命令后的议题；调用者看不到时为 null。",
        "The topic as the command left it; null when out of the caller's sight.",
    ),
    # inputs
    ("SubmitTopicInput", "description"): ("议题内容。", "What the topic is about."),
    ("SubmitTopicInput", "locationUnit"): ("发生地的单位代码。", "Where it happens (a unit code)."),
    ("SubmitTopicInput", "submitterName"): (
        "提交人姓名（加密保存，可不填）。",
        "The submitter's name (sealed; optional).",
    ),
    ("SubmitTopicInput", "submitterPhone"): (
        "提交人电话（加密保存，可不填）。",
        "The submitter's phone (sealed; optional).",
    ),
    ("SubmitTopicInput", "externalRef"): (
        "外部编号（如 12345 工单号），重复提交不会重复记录。",
        "An external ref (e.g. a 12345 ticket): re-submissions are not recorded twice.",
    ),
    ("MergeTopicInput", "intoTopicId"): ("并入的议题编号。", "The topic it is merged into."),
    ("EscalateTopicInput", "toUnit"): (
        "上交给哪个上级，默认直接上级。",
        "The ancestor; defaults to the parent.",
    ),
    ("DelegateTopicInput", "toUnit"): ("下放给哪个下级。", "The descendant."),
    ("DelegateTopicInput", "instructions"): ("办理要求。", "What the unit is asked to do."),
    ("DelegateTopicInput", "due"): ("办理期限（可不填）。", "A deadline (optional)."),
    ("InviteCoOrganizerInput", "unit"): ("受邀单位代码。", "The invited unit's code."),
    ("ExtendTaskDeadlineInput", "newDue"): (
        "新的期限（须晚于原期限）。",
        "The new deadline (later than the current one).",
    ),
    ("AdoptionInput", "body"): ("采纳单位。", "Who adopted it."),
    ("FeedbackInput", "reply"): ("答复内容。", "The reply."),
    ("FeedbackInput", "channel"): (
        "反馈方式（如电话、上门）。",
        "How it was given (phone, visit, …).",
    ),
    ("CloseTopicInput", "summary"): ("办结小结。", "A closing summary."),
    ("ParticipantInput", "kind"): ("参加人类别。", "The participant's kind."),
    ("DraftPlanInput", "unit"): ("计划所属委员会（单位代码）。", "The committee's unit code."),
    ("LinkPlanItemInput", "topicId"): (
        "关联的议题编号（可不填）。",
        "The topic to link (optional).",
    ),
    ("LinkPlanItemInput", "meetingId"): (
        "关联的会议编号（可不填）。",
        "The meeting to link (optional).",
    ),
    ("AdjustPlanItemInput", "title"): ("新标题（可不填）。", "A new title (optional)."),
    ("AdjustPlanItemInput", "plannedFor"): (
        "新的计划时间（可不填）。",
        "A new planned month (optional).",
    ),
    ("AdjustPlanItemInput", "kind"): ("新的类别（可不填）。", "A new kind (optional)."),
    # the plans' read types
    ("ConsultationPlan", "approvedAt"): ("批准印发时间。", "When it was approved."),
    ("ConsultationPlan", "items"): ("计划事项。", "The items."),
    ("ConsultationPlan", "unit"): ("所属委员会。", "The committee."),
    ("ConsultationPlan", "progress"): ("按类别的完成情况。", "Planned against done, by kind."),
    ("PlanItem", "overdue"): ("计划时间已过仍未完成。", "Past its month and not done."),
    ("PlanItem", "meetingIds"): ("关联的会议编号。", "The linked meetings."),
    ("PlanItem", "doneAt"): ("完成时间。", "When it was done."),
    ("PlanItem", "adjustments"): ("批准后的调整。", "Changes after approval."),
    ("PlanItem", "topics"): ("关联的议题（只含可见的）。", "The linked topics in sight."),
    ("PlanAdjustment", "change"): ("调整内容。", "What changed."),
    ("PlanAdjustment", "at"): ("调整时间。", "When."),
    ("PlanRollup", "unit"): ("单位。", "The unit."),
    ("PlanRollup", "plan"): (
        "该单位本年度的计划；没有则为 null。",
        "The unit's plan; null when none.",
    ),
    ("PlanRollup", "overdue"): ("逾期事项数。", "Overdue items."),
}

# Arguments, by name (each means the same on every field that takes it).
ARGUMENTS: dict[str, ZhEn] = {
    "first": ("本页最多几项（≤ 100）。", "At most this many items (≤ 100)."),
    "after": (
        "从该游标之后开始（上一页的 endCursor）。",
        "Start after this cursor (the last page's endCursor).",
    ),
    "id": ("全局 id 或议题编号。", "A global id or a topicId."),
    "code": ("单位代码。", "The unit's code."),
    "parent": ("上级单位代码，默认本单位。", "The parent's code; defaults to the viewer's unit."),
    "level": ("只含该层级（所有下级中）。", "Only this level (among all descendants)."),
    "asOf": (
        "过去某一时刻（带偏移）：返回议题当时的状态。",
        "A past instant (with offset): the topic as it was then.",
    ),
    "consistentWith": (
        "等读模型追上该存储位置再读（命令返回的 position）。",
        "Wait until the read models reach this position (a command's `position`).",
    ),
    "filter": ("筛选条件。", "What the list holds."),
    "unit": ("单位代码，默认本单位。", "A unit's code; defaults to the viewer's unit."),
    "stuckDays": (
        "只含在办且在某单位停留超过该天数的。",
        "Only open topics held by one unit longer than this many days.",
    ),
    "from": (
        "起始时刻（带偏移）：统计从其所在月份（中国时间）起。",
        "From the month (China time) of this instant.",
    ),
    "to": (
        "截止时刻（带偏移）：统计到其所在月份（中国时间）止。",
        "To the month (China time) of this instant, inclusive.",
    ),
    "topicId": ("议题编号或全局 id。", "The topic's UUID or global id."),
    "year": ("年度。", "The year."),
    "input": ("命令的内容。", "The command's fields."),
}

ENUM_VALUES: dict[str, dict[str, str]] = labels.ENUM_LABELS


def description_of(type_name: str, field: str | None = None) -> ZhEn | None:
    if field is None:
        return TYPES.get(type_name)
    return FIELDS.get((type_name, field)) or COMMON.get(field)


def _text(zh_en: ZhEn) -> str:
    zh, en = zh_en
    return f"{zh}\n{en}"


def describe(schema: GraphQLSchema) -> None:
    """Write the descriptions onto a built schema (types, fields, enum values)."""
    for name, gtype in schema.type_map.items():
        if name.startswith("__") or name in BUILT_IN:
            continue
        _describe_type(name, gtype)


def _describe_type(name: str, gtype: GraphQLNamedType) -> None:
    own = description_of(name)
    if own:
        gtype.description = _text(own)
    if isinstance(gtype, GraphQLEnumType):
        for value_name, value in gtype.values.items():
            zh = ENUM_VALUES.get(name, {}).get(value_name)
            if zh:
                value.description = zh
    elif isinstance(gtype, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
        for field_name, field in gtype.fields.items():
            found = description_of(name, field_name)
            if found:
                field.description = _text(found)
            for arg_name, arg in getattr(field, "args", {}).items():
                if arg_name in ARGUMENTS:
                    arg.description = _text(ARGUMENTS[arg_name])
