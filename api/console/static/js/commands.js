// The commands of the platform, as the console offers them. The list is the schema's
// own Mutation type (read by introspection once per sign-in): each mutation's input
// fields, their types, descriptions and whether they are required make the form. The
// table below only adds what a schema cannot say: the Chinese name, the labels of the
// fields, and when the command applies (stages, roles, which unit) so that the console
// offers only what the viewer may do now and says why not for the rest. A mutation the
// table does not know yet still appears, with a generic form; the domain decides.
import { gql } from './api.js';
import { label, STAGE } from './ui.js';

const TYPE_REF = 'kind name ofType { kind name ofType { kind name ofType { kind name } } }';
const INTROSPECTION = `query Commands {
  __schema {
    mutationType { fields { name description type { ${TYPE_REF} } args { name type { ${TYPE_REF} } } } }
    types { kind name description
      inputFields { name description defaultValue type { ${TYPE_REF} } }
      enumValues { name description } }
  }
}`;

let catalogue = null;

/** The schema's mutations: [{ name, description, input, fields: [{ name, type, required, … }] }]. */
export function commandCatalogue() {
  catalogue ||= gql(INTROSPECTION).then(({ __schema: schema }) => {
    const types = new Map(schema.types.map((t) => [t.name, t]));
    // a topic's commands (their payload is a TopicPayload); plans have commands of their own
    return schema.mutationType.fields.filter((m) => named(m.type).name === 'TopicPayload').map((m) => {
      const arg = m.args.find((a) => a.name === 'input') || m.args[0];
      const inputName = arg ? named(arg.type).name : null;
      return {
        name: m.name,
        description: m.description,
        input: inputName,
        fields: inputName ? fieldsOf(types.get(inputName), types) : [],
      };
    });
  }).catch((err) => { catalogue = null; throw err; });
  return catalogue;
}

function named(type) {
  let t = type;
  while (t.ofType) t = t.ofType;
  return t;
}

/** An input type's fields as form fields: scalar, enum, list, nested input. */
function fieldsOf(type, types) {
  return (type?.inputFields || []).map((f) => {
    const base = named(f.type);
    const list = /LIST/.test(JSON.stringify(f.type).split(base.name)[0]);
    const kind = types.get(base.name)?.kind || base.kind;
    return {
      name: f.name,
      description: f.description,
      type: base.name,
      kind, // SCALAR, ENUM, INPUT_OBJECT
      list,
      required: f.type.kind === 'NON_NULL' && f.defaultValue === null,
      values: kind === 'ENUM' ? types.get(base.name).enumValues.map((v) => v.name) : null,
      fields: kind === 'INPUT_OBJECT' ? fieldsOf(types.get(base.name), types) : null,
    };
  });
}

// -- when a command applies -------------------------------------------------------

const MANAGING = ['STAFF', 'LEADER'];
const LEADING = ['LEADER'];
const HANDLING = ['STAFF', 'LEADER', 'HANDLER'];
const COMMENTING = ['STAFF', 'LEADER', 'HANDLER', 'MEMBER'];
export const SUBMITTING = ['STAFF', 'LEADER', 'MEMBER', 'INTAKE'];
const MOVABLE = ['COLLECTED', 'DETERMINED', 'RESEARCH', 'DELIBERATION', 'HANDLING'];
const MERGEABLE = ['COLLECTED', 'DETERMINED', 'RESEARCH'];

// Domain limits (domain/topic.py): MAX_TITLE, MAX_SHORT, MAX_TEXT, MAX_ITEMS.
export const LIMITS = { title: 200, short: 500, text: 20000, items: 100 };

const openTasks = (t) => t.tasks.filter((x) => x.status !== 'COMPLETED');
const myTasks = (t, c, status) => t.tasks.filter((x) => x.handlerUnit.code === c.mine && x.status === status);
const unheld = (t) => (t.meetings || []).filter((m) => !m.heldAt);
const held = (t) => (t.meetings || []).filter((m) => m.heldAt);

/**
 * Chinese names and fields of the commands, and when each applies:
 *  who — owner | ownerOrCo | ownerOrAncestor | ancestor | target | requester | handler | anyone
 *  stages — the stages it may run in (absent: any open stage); noPending — not while a transfer waits;
 *  check(topic, c) — the reason it cannot run now, or null.
 * Field settings: label, and `as` (text, textarea, lines, unit, task, meeting, date, datetime…).
 */
export const COMMANDS = {
  submitTopic: {
    label: '新建议题', done: '已提交议题', roles: SUBMITTING,
    fields: {
      title: { label: '标题', max: LIMITS.title }, description: { label: '议题内容', as: 'textarea' },
      category: { label: '类别（如：市政设施、环境卫生）', max: LIMITS.short }, source: { label: '来源' },
      locationUnit: { label: '发生地', as: 'unit' }, submitterName: { label: '提交人姓名（可不填）', max: 100 },
      submitterPhone: { label: '提交人电话（可不填）', max: 100 }, externalRef: { label: '外部编号（如 12345 工单号，可不填）', max: LIMITS.short },
    },
  },
  determineTopic: {
    label: '确定议题', done: '已确定议题', who: 'owner', roles: MANAGING, stages: ['COLLECTED'],
    fields: { note: { label: '说明', as: 'textarea' } },
  },
  declineTopic: {
    label: '不予立项', done: '已不予立项', who: 'owner', roles: MANAGING, stages: ['COLLECTED'], noPending: true,
    fields: { reason: { label: '不予立项的理由', as: 'textarea' } },
  },
  mergeTopic: {
    label: '合并议题', done: '已合并议题', who: 'owner', roles: MANAGING, stages: MERGEABLE, noPending: true,
    fields: { intoTopicId: { label: '并入的议题（议题编号）' }, reason: { label: '合并理由', as: 'textarea' } },
  },
  escalateTopic: {
    label: '上交', done: '已申请上交', who: 'owner', roles: MANAGING, stages: MOVABLE, noPending: true,
    check: (t) => (t.owner.ancestors.length ? null : `${t.owner.name}已是最高一级，没有可以上交的上级单位。`),
    fields: { toUnit: { label: '上交给', as: 'ancestor' }, reason: { label: '上交理由', as: 'textarea', required: true } },
  },
  delegateTopic: {
    label: '下放', done: '已指定下放', who: 'owner', roles: MANAGING, stages: MOVABLE, noPending: true,
    check: (t) => (t.owner.level === 'VILLAGE' ? `${t.owner.name}是村（社区）一级，没有可以下放的下级单位。` : null),
    fields: {
      toUnit: { label: '下放给（下级单位）', as: 'descendant' }, instructions: { label: '办理要求', as: 'textarea' },
      due: { label: '办理期限（可不填）', as: 'date' },
    },
  },
  acceptTransfer: {
    label: '接收', done: '已接收转交', who: 'target', roles: MANAGING,
    fields: { note: { label: '说明', as: 'textarea' } },
  },
  returnTransfer: {
    label: '退回', done: '已退回转交', who: 'target', roles: MANAGING,
    fields: { reason: { label: '退回理由', as: 'textarea' } },
  },
  cancelTransfer: {
    label: '撤回转交', done: '已撤回转交', who: 'requester', roles: MANAGING,
    fields: { reason: { label: '撤回理由', as: 'textarea' } },
  },
  takeOverTopic: {
    label: '提级办理', done: '已提级办理', who: 'ancestor', roles: LEADING,
    fields: { reason: { label: '提级理由', as: 'textarea' } },
  },
  inviteCoOrganizer: {
    label: '邀请联动', done: '已邀请联办单位', who: 'owner', roles: MANAGING,
    fields: { unit: { label: '联办单位', as: 'unit' }, note: { label: '说明', as: 'textarea' } },
  },
  startResearch: {
    label: '开始调研', done: '已开始议前调研', who: 'owner', roles: MANAGING, stages: ['DETERMINED'],
    fields: { text: { label: '调研安排', as: 'textarea' } },
  },
  reportResearch: {
    label: '报告调研', done: '已报告调研结果', who: 'owner', roles: MANAGING, stages: ['RESEARCH'],
    fields: { text: { label: '调研结果', as: 'textarea' } },
  },
  scheduleDeliberation: {
    label: '安排协商会议', done: '已安排协商会议', who: 'ownerOrCo', roles: MANAGING,
    stages: ['DETERMINED', 'RESEARCH', 'DELIBERATION'],
    check: (t, c) => (t.stage === 'RESEARCH' && c.researchReported === false ? '议前调研还没有报告结果：请先报告调研。' : null),
    fields: {
      scheduledAt: { label: '会议时间', as: 'datetime' }, place: { label: '地点', max: LIMITS.short },
      format: { label: '形式（如：现场协商、视频协商）', max: 100 },
      participants: { label: '参会人员（4+X：政协委员、村（社区）干部、部门负责人、群众代表，另可加利益相关方）' },
    },
  },
  recordDeliberation: {
    label: '召开协商会议', done: '已记录协商会议', who: 'ownerOrCo', roles: MANAGING, stages: ['DELIBERATION'],
    check: (t) => (unheld(t).length ? null : '没有已安排、尚未召开的协商会议：请先安排协商会议。'),
    fields: {
      meetingId: { label: '会议', as: 'meeting' }, attendance: { label: '出席人员（每行一人）', max: 100 },
      minutes: { label: '会议纪要', as: 'textarea' }, recommendations: { label: '协商建议（每行一条）', max: LIMITS.text },
    },
  },
  assignTask: {
    label: '交办任务', done: '已交办任务', who: 'owner', roles: MANAGING, stages: ['DELIBERATION', 'HANDLING'],
    check: (t) => (held(t).length ? null : '召开协商会议之后才能交办任务：该议题还没有召开过协商会议。'),
    fields: {
      handlerUnit: { label: '承办单位', as: 'unit' }, handler: { label: '承办部门或责任人', max: 200 },
      requirement: { label: '办理要求', as: 'textarea' }, due: { label: '办理期限', as: 'date' },
    },
  },
  signTask: {
    label: '签收任务', done: '已签收任务', who: 'handler', task: 'ASSIGNED', roles: HANDLING,
    fields: { taskId: { label: '任务', as: 'task' } },
  },
  reportTaskProgress: {
    label: '报告进展', done: '已报告进展', who: 'handler', task: 'SIGNED', roles: HANDLING,
    fields: { taskId: { label: '任务', as: 'task' }, note: { label: '办理进展', as: 'textarea' } },
  },
  superviseTask: {
    label: '督办', done: '已督办', who: 'ownerOrAncestor', roles: MANAGING,
    check: (t) => (openTasks(t).length ? null : '没有未办结的任务可以督办。'),
    fields: { taskId: { label: '督办的任务', as: 'openTask' }, note: { label: '督办意见', as: 'textarea' } },
  },
  extendTaskDeadline: {
    label: '延期', done: '已延长期限', who: 'owner', roles: MANAGING,
    check: (t) => (openTasks(t).length ? null : '没有未办结的任务可以延期。'),
    fields: {
      taskId: { label: '延期的任务', as: 'openTask' }, newDue: { label: '新的办理期限', as: 'date' },
      reason: { label: '延期理由', as: 'textarea' },
    },
  },
  completeTask: {
    label: '办结任务', done: '已办结任务', who: 'handler', task: 'SIGNED', roles: HANDLING,
    fields: { taskId: { label: '任务', as: 'task' }, result: { label: '办理结果', as: 'textarea' } },
  },
  recordLeaderInstruction: {
    label: '领导批示', done: '已记录领导批示', who: 'ownerOrAncestor', roles: LEADING,
    fields: { text: { label: '批示内容', as: 'textarea' } },
  },
  recordAdoption: {
    label: '成果采纳', done: '已记录成果采纳', who: 'ownerOrAncestor', roles: LEADING,
    fields: { body: { label: '采纳单位', max: LIMITS.short }, text: { label: '采纳情况', as: 'textarea' } },
  },
  giveFeedback: {
    label: '反馈结果', done: '已反馈结果', who: 'owner', roles: MANAGING, stages: ['HANDLING'],
    check: (t) => {
      const open = openTasks(t);
      return open.length ? `还有 ${open.length} 项任务没有办结（${open.map((x) => x.requirement).join('、')}），全部办结之后才能反馈结果。` : null;
    },
    fields: { reply: { label: '答复群众', as: 'textarea' }, channel: { label: '反馈渠道（如：电话、上门）', max: 100 } },
  },
  recordReturnVisit: {
    label: '回访', done: '已记录回访', who: 'owner', roles: MANAGING, stages: ['FEEDBACK'],
    fields: {
      contacted: { label: '已联系上群众' }, solved: { label: '问题已解决' }, satisfaction: { label: '群众评价' },
      comment: { label: '群众意见（可不填）', as: 'textarea' },
    },
  },
  reopenTopic: {
    label: '重新办理', done: '已重新办理', who: 'owner', roles: MANAGING, stages: ['FEEDBACK'],
    check: (t, c) => (c.visitedSinceFeedback && lastVisit(t)?.satisfaction === 'UNSATISFIED' ? null : '只有回访结果为“不满意”时才能重新办理。'),
    fields: { reason: { label: '重新办理的理由', as: 'textarea' } },
  },
  closeTopic: {
    label: '办结', done: '议题已办结', who: 'owner', roles: MANAGING, stages: ['FEEDBACK'], noPending: true,
    check: (t, c) => (c.visitedSinceFeedback ? null : '办结议题须有群众的评价：请先记录回访。'),
    fields: { summary: { label: '办结总结', as: 'textarea' } },
  },
  withdrawTopic: {
    label: '撤回议题', done: '已撤回议题', who: 'owner', roles: MANAGING, noPending: true,
    fields: { reason: { label: '撤回理由', as: 'textarea' } },
  },
  addComment: {
    label: '评论', done: '已添加评论', who: 'anyone', roles: COMMENTING, comment: true,
    fields: { text: { label: '评论内容', as: 'textarea' } },
  },
};

// The six-step loop: what comes next in each stage (the first of these the viewer may do).
const NEXT = {
  COLLECTED: ['determineTopic'],
  DETERMINED: ['startResearch', 'scheduleDeliberation'],
  // after a report, the meeting (a report may be added to, but that is not the next step)
  RESEARCH: (c) => (c.researchReported ? ['scheduleDeliberation', 'reportResearch'] : ['reportResearch', 'scheduleDeliberation']),
  DELIBERATION: ['recordDeliberation', 'assignTask', 'scheduleDeliberation'],
  HANDLING: ['signTask', 'completeTask', 'giveFeedback', 'superviseTask'],
  FEEDBACK: (c) => (c.visitedSinceFeedback ? ['closeTopic', 'reopenTopic'] : ['recordReturnVisit']),
};

const lastVisit = (t) => (t.returnVisits || []).at(-1);

const ROLE_NAMES = { STAFF: '工作人员', LEADER: '领导', HANDLER: '承办人', MEMBER: '政协委员', INTAKE: '接入系统' };
const TERMINAL = ['CLOSED', 'DECLINED', 'WITHDRAWN', 'MERGED'];

/** Facts of a topic for the viewer: whose it is, from events what a topic read lacks. */
export function situation(topic, me, events = null) {
  const mine = me.unit.code;
  const types = events ? events.map((e) => e.type) : null;
  const lastOf = (type) => (types ? types.lastIndexOf(type) : -1);
  return {
    mine,
    roles: me.roles,
    owner: topic.owner.code === mine,
    ancestor: topic.owner.ancestors.some((a) => a.code === mine),
    co: (topic.coOrganizers || []).some((u) => u.code === mine),
    // unknown without the timeline (an inbox row): null, the domain decides
    researchReported: types ? lastOf('ResearchReported') > lastOf('ResearchStarted') : null,
    visitedSinceFeedback: types
      ? lastOf('ReturnVisitRecorded') > lastOf('FeedbackGiven')
      : (topic.returnVisits || []).length > 0,
  };
}

/** Whether `name` may run now: null, or the reason it cannot (Chinese). */
export function whyNot(name, topic, c) {
  const cmd = COMMANDS[name];
  if (!cmd) return TERMINAL.includes(topic.stage) ? `议题${label(STAGE, topic.stage)}，不能再操作。` : null;
  if (TERMINAL.includes(topic.stage)) return `议题${label(STAGE, topic.stage)}，不能再${cmd.label}。`;
  if (cmd.roles && !cmd.roles.some((r) => c.roles.includes(r))) {
    return `您的角色（${c.roles.map((r) => ROLE_NAMES[r] || r).join('、')}）不能${cmd.label}；可以${cmd.label}的角色：${cmd.roles.map((r) => ROLE_NAMES[r]).join('、')}。`;
  }
  const pending = topic.pendingTransfer;
  const owner = topic.owner.name;
  switch (cmd.who) {
    case 'owner':
      if (!c.owner) return `只有当前承办单位${owner}才能${cmd.label}。`;
      break;
    case 'ownerOrCo':
      if (!c.owner && !c.co) return `只有承办单位${owner}或联办单位才能${cmd.label}。`;
      break;
    case 'ownerOrAncestor':
      if (!c.owner && !c.ancestor) return `只有承办单位${owner}或其上级单位才能${cmd.label}。`;
      break;
    case 'ancestor':
      if (!c.ancestor) return `只有${owner}的上级单位才能${cmd.label}。`;
      break;
    case 'target':
      if (!pending) return '该议题没有待接收的转交。';
      if (pending.toUnit.code !== c.mine) return `只有转交的接收单位${pending.toUnit.name}才能${cmd.label}。`;
      break;
    case 'requester':
      if (!pending) return '该议题没有待处理的转交可以撤回。';
      if (pending.fromUnit.code !== c.mine) return `只有发起转交的${pending.fromUnit.name}才能撤回转交。`;
      break;
    case 'handler':
      if (!myTasks(topic, c, cmd.task).length) {
        return cmd.task === 'ASSIGNED' ? '本单位没有待签收的任务。' : '本单位没有已签收、正在办理的任务。';
      }
      break;
    default:
      break;
  }
  if (cmd.stages && !cmd.stages.includes(topic.stage)) {
    return `议题当前处于「${label(STAGE, topic.stage)}」阶段，${cmd.label}只能在${cmd.stages.map((s) => `「${label(STAGE, s)}」`).join('')}阶段进行。`;
  }
  if (cmd.noPending && pending) {
    return `${pending.fromUnit.name}转交给${pending.toUnit.name}的请求尚待处理，处理之后才能${cmd.label}。`;
  }
  return cmd.check ? cmd.check(topic, c) : null;
}

/**
 * What the viewer may do on `topic`: { next, available, unavailable: [{ name, why }] }, over
 * the schema's mutations (every one with a `topicId` input; submitTopic has its own page).
 * `only` narrows to the commands of an inbox row's reason.
 */
export function commandsFor(topic, me, mutations, { events = null, only = null } = {}) {
  const c = situation(topic, me, events);
  const names = mutations.filter((m) => m.fields.some((f) => f.name === 'topicId')).map((m) => m.name);
  const available = [];
  const unavailable = [];
  for (const name of names) {
    if (only && !only.includes(name)) continue;
    const why = whyNot(name, topic, c);
    if (why) unavailable.push({ name, why });
    else available.push(name);
  }
  const pending = topic.pendingTransfer;
  const step = NEXT[topic.stage] || [];
  const candidates = pending && pending.toUnit.code === c.mine ? ['acceptTransfer'] : typeof step === 'function' ? step(c) : step;
  const next = candidates.find((n) => available.includes(n)) || null;
  return { next, available, unavailable, situation: c };
}

/** The commands an inbox row stands for (its reason); OWNED: everything the owner may do. */
export function commandsOfReason(reason) {
  switch (reason) {
    case 'TRANSFER_PENDING': return ['acceptTransfer', 'returnTransfer'];
    case 'TASK_TO_SIGN': return ['signTask'];
    case 'TASK_TO_COMPLETE': return ['completeTask', 'reportTaskProgress'];
    default: return null;
  }
}

/** A command's Chinese name; an unknown one by its schema name. */
export const commandLabel = (name) => COMMANDS[name]?.label || name;
