// A refusal in the user's words: the platform's message (English, with unit and stage
// codes) is read by its rule and said again in Chinese, with unit names from the API's
// own lookup (a township's county beside it: twenty townships are called 城关镇), stage
// and role names in Chinese, and the input field it concerns, so the form can mark it.
// The server's message is never changed: it stays behind the "技术详情" toggle.
import { gql } from './api.js';
import { label, ROLE, STAGE } from './ui.js';

const UNIT = 'query UnitName($code: String!) { unit(code: $code) { code name level parent { name } } }';
const names = new Map(); // code → Promise of its display name

/** A unit's name for a sentence: 酒泉路街道（城关区）; the code itself when out of sight. */
export function unitLabel(code) {
  if (!names.has(code)) {
    names.set(code, gql(UNIT, { code }).then(({ unit }) => {
      if (!unit) return `单位 ${code}（不在您的管辖范围内）`;
      const parent = unit.parent && !['PROVINCE', 'CITY'].includes(unit.level) ? `（${unit.parent.name}）` : '';
      return `${unit.name}${parent}`;
    }).catch(() => `单位 ${code}`));
  }
  return names.get(code);
}

const stages = (list) => list.split(/,\s*/).map((s) => `「${label(STAGE, s)}」`).join('');
const roles = (list) => list.split(/,\s*/).map((r) => label(ROLE, r)).join('、');
const KIND = { MEMBER: '政协委员', CADRE: '村（社区）干部', DEPARTMENT: '部门负责人', PUBLIC: '群众代表', STAKEHOLDER: '利益相关方' };
const kinds = (list) => list.split(/,\s*/).map((k) => KIND[k] || k).join('、');

// The server names a field by its domain name (snake case, sometimes words): the input field.
const FIELD_ALIASES = {
  'handler unit': 'handlerUnit', 'escalation target': 'toUnit', 'delegation target': 'toUnit',
  'co-organiser': 'unit', 'location unit': 'locationUnit', 'attendance name': 'attendance',
  recommendation: 'recommendations', 'participant name': 'participants', participant: 'participants',
  attachment: 'attachments', time: null,
};
export function inputField(name) {
  if (!name) return null;
  const bare = name.replace(/^input\./, '').replace(/\[\d+\].*$/, '').replace(/\..*$/, '');
  if (bare in FIELD_ALIASES) return FIELD_ALIASES[bare];
  return bare.replace(/[_ ]([a-z])/g, (_, c) => c.toUpperCase());
}

// rule → [pattern over the server's message, (groups, ctx) → Chinese, field (or a function)].
// `ctx.label` is the command's Chinese name; `u(code)` is awaited into a unit's name.
const TEMPLATES = {
  NOT_OWNER: [/owning unit (\d+) may .*; (\d+) is not/, (m, c) => `只有当前承办单位${m.u1}才能${c.label}；${m.u2}不是承办单位。`],
  NOT_OWNER_OR_CO_ORGANIZER: [/owner (\d+) or .*; (\d+) is neither/, (m, c) => `只有承办单位${m.u1}或联办单位才能${c.label}；${m.u2}两者都不是。`],
  NOT_OWNER_OR_ANCESTOR: [/owner (\d+) or .*; (\d+) is neither/, (m, c) => `只有承办单位${m.u1}或其上级单位才能${c.label}；${m.u2}两者都不是。`],
  NOT_TASK_HANDLER: [/handling unit (\d+) may .* task (\S+); (\d+) is not/, (m, c) => `只有任务 ${m[2]} 的承办单位${m.u1}才能${c.label}；${m.u3}不是承办单位。`, 'taskId'],
  STAGE_ORDER: [/in stage (\w+); allowed in: (.+)$/, (m, c) => `议题当前处于「${label(STAGE, m[1])}」阶段，${c.label}只能在${stages(m[2])}阶段进行。`],
  ROLE_NOT_PERMITTED: [/role (\w+) may not .*; allowed roles: (.+)$/, (m, c) => `您的角色（${label(ROLE, m[1])}）不能${c.label}；可以${c.label}的角色：${roles(m[2])}。`],
  TOPIC_TERMINAL: [/is (\w+); it cannot/, (m, c) => `议题${label(STAGE, m[1])}，不能再${c.label}。`],
  TRANSFER_PENDING: [/from (\d+) to (\d+) awaits/, (m, c) => `${m.u1}转交给${m.u2}的请求尚待处理：需先由${m.u2}接收或退回（或由${m.u1}撤回），才能${c.label}。`],
  INVOLVEMENT_ENDED: [/^(\d+) may read/, (m, c) => `${m.u1}对该议题的参与已经结束，只能查看，不能再${c.label}。`],
  ESCALATION_NO_PARENT: [/^(\d+) \(/, (m) => `${m.u1}已是最高一级，没有可以上交的上级单位。`, 'toUnit'],
  ESCALATION_TARGET_NOT_ANCESTOR: [/upward only: (\d+) is not an ancestor of (\d+)/, (m) => `只能上交给本单位的上级单位。${m.u1}不是${m.u2}的上级单位。`, 'toUnit'],
  ESCALATION_SKIP_NEEDS_REASON: [/from (\d+) straight to (\d+)/, (m) => `从${m.u1}直接上交到${m.u2}属于越级上交，必须写明理由。`, 'reason'],
  DELEGATION_TARGET_NOT_DESCENDANT: [/downward only: (\d+) is not a descendant of (\d+)/, (m) => `只能下放给本单位的下级单位。${m.u1}不是${m.u2}的下级单位。`, 'toUnit'],
  NO_PENDING_TRANSFER: [/./, () => '该议题没有待处理的转交。'],
  NOT_TRANSFER_TARGET: [/target unit (\d+) may .*; (\d+) is not/, (m, c) => `只有转交的接收单位${m.u1}才能${c.label}；${m.u2}不是接收单位。`],
  NOT_TRANSFER_REQUESTER: [/requesting unit (\d+) .*; (\d+) is not/, (m) => `只有发起转交的${m.u1}才能撤回转交；${m.u2}不是发起单位。`],
  TAKEOVER_NOT_ANCESTOR: [/ancestor of (\d+) may .*; (\d+) is not/, (m) => `只有${m.u1}的上级单位的领导才能提级办理；${m.u2}不是它的上级单位。`],
  ALREADY_CO_ORGANIZER: [/^(\d+) already/, (m) => `${m.u1}已经参与办理该议题。`, 'unit'],
  RESEARCH_NOT_REPORTED: [/./, () => '议前调研已经开始，但还没有报告调研结果：请先报告调研结果，再安排协商会议。'],
  DELIBERATION_NEEDS_4_PLUS_X: [/missing: (.+)$/, (m) => `协商会议须有政协委员、村（社区）干部、部门负责人和群众代表参加（4+X），还缺少：${kinds(m[1])}。`, 'participants'],
  MEETING_NOT_FOUND: [/meeting '(.+)'/, (m) => `找不到协商会议 ${m[1]}。`, 'meetingId'],
  MEETING_ALREADY_HELD: [/meeting (\S+) was/, (m) => `协商会议 ${m[1]} 已经召开并记录过了。`, 'meetingId'],
  TASK_BEFORE_DELIBERATION: [/./, () => '召开协商会议之后才能交办任务：该议题还没有召开过协商会议。'],
  TASK_ALREADY_SIGNED: [/task (\S+) is/, (m) => `任务 ${m[1]} 已经签收过了。`, 'taskId'],
  TASK_NOT_SIGNED: [/task (\S+): it is (\w+)/, (m, c) => `任务 ${m[1]} 还没有签收，签收之后才能${c.label}。`, 'taskId'],
  TASK_COMPLETED: [/task (\S+):/, (m, c) => `任务 ${m[1]} 已经办结，不能再${c.label}。`, 'taskId'],
  TASK_NOT_FOUND: [/task '(.+)'/, (m) => `找不到任务 ${m[1]}。`, 'taskId'],
  EXTENSION_NOT_LATER: [/./, () => '新的办理期限必须晚于原来的期限。', 'newDue'],
  FEEDBACK_BEFORE_TASKS_COMPLETED: [/still open: (.+)$/, (m) => `全部任务办结之后才能反馈结果；还没有办结的任务：${m[1].split(/,\s*/).join('、')}。`],
  REOPEN_NEEDS_UNSATISFIED_VISIT: [/./, () => '只有回访结果为“不满意”时才能重新办理。'],
  CLOSE_NEEDS_RETURN_VISIT: [/./, () => '办结议题须有群众的评价：请先记录回访。'],
  DUE_NOT_IN_FUTURE: [/^(\w+) (\S+) is not after now/, (m, c) => `${c.fieldLabel(m[1])}必须晚于当前时间。`, (m) => m[1]],
  FIELD_REQUIRED: [/^(.+?) must (?:not be blank|list at least)/, (m, c) => `请填写${c.fieldLabel(m[1])}。`, (m) => m[1]],
  FIELD_TOO_LONG: [/^(.+?) has (\d+) characters; at most (\d+)/, (m, c) => `${c.fieldLabel(m[1])}有 ${m[2]} 个字，最多只能填写 ${m[3]} 个字。`, (m) => m[1]],
  TEXT_TOO_LONG: [/^(.+?) has (\d+) characters; at most (\d+)/, (m, c) => `${c.fieldLabel(m[1])}有 ${m[2]} 个字，最多只能填写 ${m[3]} 个字。`, (m) => m[1]],
  TOO_MANY_ITEMS: [/^(.+?) has ([\d,]+) entries; at most (\d+)/, (m, c) => `${c.fieldLabel(m[1])}有 ${m[2]} 项，最多只能填写 ${m[3]} 项。`, (m) => m[1]],
  FIELD_UNSTORABLE_CHARACTER: [/^(.+?) contains (U\+\w+)/, (m, c) => `${c.fieldLabel(m[1])}含有无法保存的字符（${m[2]}），请删除后重试。`, (m) => m[1]],
  UNIT_NOT_FOUND: [/^(?:(.+?) )?'(.*)' (?:is not a known unit|does not exist)/, (m) => `找不到单位代码“${m[2]}”，请从列表中选择单位。`, (m) => m[1] || 'unit'],
  UNIT_RETIRED: [/^(.+?) (\d+) \(.*\) is retired/, (m) => `${m.u2}已经撤销，请选择其他单位。`, (m) => m[1]],
  SUBMIT_OUTSIDE_SUBTREE: [/^(\d+) may .*; location (\d+) \(/, (m) => `${m.u1}只能提交本辖区内的议题；${m.u2}不在辖区内。`, 'locationUnit'],
  MERGE_INTO_ITSELF: [/./, () => '议题不能合并到它自己。', 'intoTopicId'],
  MERGE_TARGET_CLOSED: [/is (\w+)$/, (m) => `目标议题${label(STAGE, m[1])}，不能再并入。`, 'intoTopicId'],
  MERGE_TARGET_OUT_OF_REACH: [/owned by (\d+) or .*is owned by (\d+)/, (m) => `只能合并到${m.u1}或其上级单位承办的议题；目标议题由${m.u2}承办。`, 'intoTopicId'],
  INVALID_TOPIC_ID: [/^(\w+) /, () => '议题编号格式不正确（应为议题的 UUID）。', (m) => m[1]],
  TOPIC_NOT_FOUND: [/./, () => '找不到该议题，或您无权查看。', null],
  VERSION_CONFLICT: [/./, () => '议题刚被他人更新，请刷新后重试。'],
  CONCURRENT_UPDATE: [/./, () => '议题刚被他人同时更新，请稍后重试。'],
  TIME_BEFORE_LAST_EVENT: [/./, () => '时间早于议题的上一个事件。'],
  TIME_OUT_OF_RANGE: [/^(\w+) /, (m, c) => `${c.fieldLabel(m[1])}超出了可以表示的时间范围。`, (m) => m[1]],
};

const UNIT_GROUP = /^\d{2,12}$/;

/** GraphQL's own validation (a required field missing, a value of the wrong type). */
function graphqlInvalid(message, ctx) {
  const missing = message.match(/Field '(\w+)' of required type '([^']+)' was not provided/)
    || message.match(/to include required field '(\w+)'/);
  if (missing) return { plain: `请填写${ctx.fieldLabel(missing[1])}。`, field: missing[1] };
  const nulled = message.match(/Expected non-nullable type '[^']+' not to be null at value\.(\w+)/);
  if (nulled) return { plain: `请填写${ctx.fieldLabel(nulled[1])}。`, field: nulled[1] };
  const at = message.match(/at value\.(\w+)/) || message.match(/In field '(\w+)'/)
    || message.match(/at '(?:input\.)?(\w+)/) || message.match(/Field '(\w+)' is not defined/);
  if (at) return { plain: `${ctx.fieldLabel(at[1])}的格式不正确，请按提示填写。`, field: at[1] };
  return null;
}

/**
 * The refusal `error` (an ApiError) in Chinese: { plain, field, code, rule, detail }.
 * `ctx.label`: the command's Chinese name; `ctx.fields`: input field name → its label.
 */
export async function describeRefusal(error, ctx = {}) {
  const fields = ctx.fields || {};
  const full = {
    label: ctx.label || '进行此操作',
    fieldLabel: (name) => fields[inputField(name)] || '填写的内容',
  };
  const base = { code: error.code, rule: error.rule, detail: error.message, field: null };
  if (error.rule === 'GRAPHQL_INVALID') {
    const found = graphqlInvalid(error.message, full);
    if (found) return { ...base, ...found, field: inputField(found.field) };
  }
  const template = TEMPLATES[error.rule];
  if (template) {
    const [pattern, say, field] = template;
    const m = error.message.match(pattern);
    if (m) {
      const groups = { ...m };
      await Promise.all(m.slice(1).map(async (value, i) => {
        if (value && UNIT_GROUP.test(value)) groups[`u${i + 1}`] = await unitLabel(value);
      }));
      const named = typeof field === 'function' ? field(m) : field;
      return { ...base, plain: say(groups, full), field: named ? inputField(named) : null };
    }
  }
  return { ...base, plain: GENERIC[error.rule] || GENERIC[error.code] || '操作未成功。' };
}

// Rules and codes without values to name (and the fallback for a message of another shape).
export const GENERIC = {
  TOKEN_INVALID: '令牌无效或已过期，请重新登录。',
  TOKEN_EXPIRED: '令牌已过期，请重新登录。',
  TOKEN_MISSING: '请先登录。',
  READ_MODEL_BEHIND: '数据仍在更新，请稍后刷新。',
  GRAPHQL_INVALID: '填写的内容格式不正确。',
  UNAUTHENTICATED: '令牌无效或已过期，请重新登录。',
  FORBIDDEN: '您无权进行此操作。',
  NOT_FOUND: '找不到，或您无权查看。',
  RULE_VIOLATION: '操作不符合办理规则。',
  CONFLICT: '议题刚被他人更新，请刷新后重试。',
  BAD_INPUT: '填写的内容有误。',
  UNAVAILABLE: '服务暂时不可用，请稍后重试。',
};
