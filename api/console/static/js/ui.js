// DOM building without innerHTML (every text from the platform goes in as text),
// formatting in China time, and the console's Chinese labels.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const CHINA = 'Asia/Shanghai';
const DATE_TIME = new Intl.DateTimeFormat('zh-CN', {
  timeZone: CHINA, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
  hour12: false,
});
const DATE = new Intl.DateTimeFormat('zh-CN', {
  timeZone: CHINA, year: 'numeric', month: '2-digit', day: '2-digit',
});

export const fmt = {
  time: (iso) => (iso ? DATE_TIME.format(new Date(iso)) : '—'),
  date: (iso) => (iso ? DATE.format(new Date(iso)) : '—'),
  pct: (rate) => (rate === null || rate === undefined ? '—' : `${(rate * 100).toFixed(1)}%`),
  days: (d) => (d === null || d === undefined ? '—' : `${d < 10 ? d.toFixed(1) : Math.round(d)} 天`),
  num: (n) => (n === null || n === undefined ? '—' : n.toLocaleString('zh-CN')),
};

/** The end of a chosen day in China time, as the API's DateTime (with offset). */
export function endOfChinaDay(dateValue) {
  return `${dateValue}T23:59:59+08:00`;
}

export const LEVELS = ['PROVINCE', 'CITY', 'COUNTY', 'TOWNSHIP', 'VILLAGE'];
export const LEVEL = {
  PROVINCE: '省', CITY: '市（州）', COUNTY: '县（区）', TOWNSHIP: '乡镇（街道）', VILLAGE: '村（社区）',
};
export const STEPS = ['COLLECTED', 'DETERMINED', 'RESEARCH', 'DELIBERATION', 'HANDLING', 'FEEDBACK'];
export const STAGE = {
  COLLECTED: '收集议题', DETERMINED: '确定议题', RESEARCH: '议前调研', DELIBERATION: '协商议事',
  HANDLING: '办理实施', FEEDBACK: '结果反馈', CLOSED: '已办结', DECLINED: '不予立项',
  WITHDRAWN: '已撤回', MERGED: '已合并',
};
export const SOURCE = {
  HOTLINE_12345: '12345 热线', MEMBER_PROPOSAL: '委员提案', SOCIAL_INFO: '社情民意', VISIT: '走访',
  ONLINE: '网络征集', GRID: '网格', OTHER: '其他',
};
export const ROLE = {
  STAFF: '工作人员', LEADER: '领导', HANDLER: '承办人', MEMBER: '政协委员', AUDITOR: '督查审计',
  INTAKE: '接入系统',
};
export const TRANSFER = { ESCALATION: '上交', DELEGATION: '下放', TAKEOVER: '提级' };
export const INBOX_REASON = {
  OWNED: '本单位承办', TRANSFER_PENDING: '待接收转交', TASK_TO_SIGN: '待签收任务',
  TASK_TO_COMPLETE: '待办结任务',
};
export const PARTICIPANT = {
  MEMBER: '政协委员', CADRE: '村（社区）干部', DEPARTMENT: '部门负责人', PUBLIC: '群众代表',
  STAKEHOLDER: '利益相关方',
};
export const SATISFACTION = { SATISFIED: '满意', BASICALLY_SATISFIED: '基本满意', UNSATISFIED: '不满意' };
export const TASK_STATUS = { ASSIGNED: '待签收', SIGNED: '办理中', COMPLETED: '已办结' };
export const EVENT = {
  TopicSubmitted: '提交议题', TopicDetermined: '确定议题', TopicDeclined: '不予立项',
  TopicMerged: '合并到其他议题', TopicAbsorbed: '并入议题', EscalationRequested: '申请上交',
  DelegationRequested: '指定下放', TransferAccepted: '接收转交', TransferReturned: '退回转交',
  TransferCancelled: '撤回转交', TopicTakenOver: '提级办理', CoOrganizerInvited: '邀请联动协商',
  ResearchStarted: '开始议前调研', ResearchReported: '报告调研结果', DeliberationScheduled: '安排协商会议',
  DeliberationHeld: '召开协商会议', TaskAssigned: '交办任务', TaskSigned: '签收任务',
  TaskProgressReported: '报告办理进展', TaskSupervised: '督办', TaskDeadlineExtended: '延长期限',
  TaskCompleted: '办结任务', LeaderInstructionRecorded: '领导批示', OutcomeAdopted: '成果采纳',
  FeedbackGiven: '结果反馈', ReturnVisitRecorded: '回访', TopicReopened: '重新办理',
  TopicClosed: '议题办结', TopicWithdrawn: '撤回议题', CommentAdded: '评论',
};

export const label = (table, key) => table[key] || key || '—';

export function unitName(unit) {
  return unit ? `${unit.name}` : '—';
}

let flashed = null;
/** A notice for the next page (after a command that opens another page). */
export function flash(message) { flashed = message; }
export function takeFlash() { const m = flashed; flashed = null; return m; }

/** A short notice (role=status, aria-live) at the top of the page, brought into view. */
export function announce(message, kind = '') {
  const status = document.getElementById('status');
  clear(status, message ? h('p', { class: kind }, message) : null);
  if (message) status.scrollIntoView({ block: 'nearest' });
}

/** A refusal: the plain Chinese first; the platform's code, rule and message behind a toggle. */
export function errorBox(explained) {
  const technical = [explained.code, explained.rule].filter(Boolean).join(' · ');
  return h('div', { class: 'error', role: 'alert' },
    h('p', { class: 'plain' }, explained.plain),
    explained.detail || technical ? h('details', { class: 'detail' },
      h('summary', {}, '技术详情'),
      technical ? h('p', {}, h('code', {}, technical)) : null,
      explained.detail ? h('p', { lang: 'en' }, explained.detail) : null) : null);
}

export function badge(text, kind = '') {
  return h('span', { class: `badge ${kind}` }, text);
}

/** The route of a topic as an ordered list: unit, how it came there, days held. */
export function routeList(route) {
  return h('ol', { class: 'route', 'aria-label': '流转路线' },
    route.map((hop) => h('li', {},
      hop.via ? h('span', { class: 'via' }, label(TRANSFER, hop.via)) : null,
      h('span', { class: 'hop-unit' }, hop.unit.name),
      h('span', { class: 'hop-days' }, fmt.days(hop.days)))));
}
