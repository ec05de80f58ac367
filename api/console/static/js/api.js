// The console's only way to the platform: POST /graphql with the signed-in token.

const TOKEN_KEY = 'linkage.token';

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  signIn(token) {
    sessionStorage.setItem(TOKEN_KEY, token.trim());
    session.viewer = null;
  },
  signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
    session.viewer = null;
  },
  viewer: null, // the `me` answer for the current token
};

/** A refusal or failure, with the platform's code, rule and message. */
export class ApiError extends Error {
  constructor(code, rule, message) {
    super(message);
    this.code = code;
    this.rule = rule;
  }
}

export async function gql(query, variables = {}) {
  const headers = { 'Content-Type': 'application/json' };
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  let response;
  try {
    response = await fetch('/graphql', {
      method: 'POST',
      headers,
      body: JSON.stringify({ query, variables }),
    });
  } catch (err) {
    throw new ApiError('UNAVAILABLE', 'NETWORK', `无法连接服务器（${err.message}）`);
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError('UNAVAILABLE', `HTTP_${response.status}`, `服务器返回 HTTP ${response.status}`);
  }
  if (body.errors && body.errors.length) {
    const first = body.errors[0];
    const ext = first.extensions || {};
    throw new ApiError(ext.code || 'ERROR', ext.rule || '', first.message);
  }
  return body.data;
}

export const ME = `query Me {
  me { userId roles unit { code name level ancestors { code name level } } }
}`;

/** The viewer of the current token (cached per sign-in); null without a token. */
export async function viewer() {
  if (!session.token) return null;
  if (!session.viewer) session.viewer = (await gql(ME)).me;
  return session.viewer;
}

// Plain words for the rules a console user meets most; any other refusal shows the
// platform's own message, which always names the rule and the values.
const RULES = {
  ESCALATION_TARGET_NOT_ANCESTOR: '只能上交给本单位的上级单位。',
  ESCALATION_NO_PARENT: '本单位已是最高一级，无法继续上交。',
  ESCALATION_SKIP_NEEDS_REASON: '越级上交必须写明理由。',
  DELEGATION_TARGET_NOT_DESCENDANT: '只能下放给本单位的下级单位。',
  TRANSFER_PENDING: '该议题有待处理的转交，需先由接收单位接收或退回。',
  NO_PENDING_TRANSFER: '该议题没有待处理的转交。',
  NOT_TRANSFER_TARGET: '只有转交的接收单位才能接收或退回。',
  NOT_TRANSFER_REQUESTER: '只有发起转交的单位才能撤回转交。',
  NOT_OWNER: '只有当前承办单位才能进行此操作。',
  NOT_OWNER_OR_ANCESTOR: '只有承办单位或其上级单位才能进行此操作。',
  NOT_OWNER_OR_CO_ORGANIZER: '只有承办单位或联办单位才能进行此操作。',
  NOT_TASK_HANDLER: '只有任务的承办单位才能办理此任务。',
  ROLE_NOT_PERMITTED: '您的角色无权进行此操作。',
  STAGE_ORDER: '议题当前所处的阶段不允许此操作。',
  TASK_BEFORE_DELIBERATION: '召开协商会议之后才能交办任务。',
  TASK_NOT_SIGNED: '任务签收之后才能报告进展或办结。',
  TASK_ALREADY_SIGNED: '该任务已经签收。',
  TASK_COMPLETED: '该任务已经办结。',
  TASK_NOT_FOUND: '找不到该任务。',
  FEEDBACK_BEFORE_TASKS_COMPLETED: '全部任务办结之后才能反馈结果。',
  CLOSE_NEEDS_RETURN_VISIT: '回访之后才能办结议题。',
  DUE_NOT_IN_FUTURE: '办理期限必须晚于当前时间。',
  EXTENSION_NOT_LATER: '新的期限必须晚于原期限。',
  FIELD_REQUIRED: '有必填项没有填写。',
  FIELD_TOO_LONG: '填写的内容过长。',
  TOPIC_TERMINAL: '议题已结束，不能再操作。',
  TOPIC_NOT_FOUND: '找不到该议题，或您无权查看。',
  UNIT_NOT_FOUND: '找不到该单位，或不在您的管辖范围内。',
  UNIT_RETIRED: '该单位已撤销。',
  CONFLICT: '议题刚被他人更新，请刷新后重试。',
  READ_MODEL_BEHIND: '数据仍在更新，请稍后刷新。',
  TOKEN_INVALID: '令牌无效或已过期，请重新登录。',
  TOKEN_EXPIRED: '令牌已过期，请重新登录。',
};

const CODES = {
  UNAUTHENTICATED: '令牌无效或已过期，请重新登录。',
  FORBIDDEN: '您无权进行此操作。',
  NOT_FOUND: '找不到，或您无权查看。',
  RULE_VIOLATION: '操作不符合办理规则。',
  CONFLICT: '议题刚被他人更新，请刷新后重试。',
  BAD_INPUT: '填写的内容有误。',
  UNAVAILABLE: '服务暂时不可用，请稍后重试。',
};

/** The error in plain words (Chinese), and the platform's own message beside it. */
export function explain(error) {
  const plain = RULES[error.rule] || CODES[error.code] || '操作未成功。';
  return { plain, detail: error.message, rule: error.rule || error.code };
}
